// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017; MIT licence) from its IDX files, by default where Debian's
// `dataset-fashion-mnist` package puts them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor } from '../core/creation';
import { checkBoolean, checkInteger, checkOptions, show } from '../core/validate';
import { TensorDataset } from './dataset';
import { parseIdx } from './idx';
import { classCount } from './labels';
import { readRegularFile } from '../io/regular_files';

export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';
/** The subset of Fashion-MNIST in the package (2000 training, 500 test examples; see its LICENSE). */
export const EMBEDDED_ROOT = path.join(__dirname, '..', '..', 'assets', 'fashion-mnist-subset');
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
// Mean and standard deviation of the training images' pixels (in [0, 1]).
const MEAN = 0.286,
  STD = 0.353;

export interface FashionMnistOptions {
  split: 'train' | 'test';
  /** A directory of the IDX files, or 'embedded' for the subset in the package (EMBEDDED_ROOT). Default: Debian's location. */
  root?: string;
  /** Standardise pixels with the training set's mean and std (default true); else scale to [0, 1]. */
  normalize?: boolean;
  /** Keep only the first n examples. */
  limit?: number;
}

/** Images as float32 [N, 1, 28, 28] and labels as int64 [N]. */
export function fashionMnist(options: FashionMnistOptions): TensorDataset {
  const o = checkOptions('fashionMnist', options, ['split', 'root', 'normalize', 'limit']);
  if (o.split !== 'train' && o.split !== 'test') throw new TypeError(`fashionMnist: split must be 'train' or 'test', got ${show(o.split)}`);
  const given = (o.root as string | undefined) ?? FASHION_MNIST_ROOT;
  if (typeof given !== 'string') throw new TypeError(`fashionMnist: root must be a string, got ${show(given)}`);
  const root = given === 'embedded' ? EMBEDDED_ROOT : given;
  const normalize = checkBoolean('fashionMnist', 'normalize', o.normalize ?? true);
  const prefix = o.split === 'train' ? 'train' : 't10k';
  const images = load(root, `${prefix}-images-idx3-ubyte`);
  const labels = load(root, `${prefix}-labels-idx1-ubyte`);
  if (images.shape.length !== 3 || labels.shape.length !== 1 || images.shape[0] !== labels.shape[0]) {
    throw new Error(`fashionMnist: ${root} holds images ${images.shape.join('×')} and labels ${labels.shape.join('×')}, not N×28×28 and N`);
  }
  const n = o.limit === undefined ? labels.shape[0] : Math.min(checkInteger('fashionMnist', 'limit', o.limit, 1), labels.shape[0]);
  const pixels = n * images.shape[1] * images.shape[2];
  const x = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) x[i] = normalize ? (images.data[i] / 255 - MEAN) / STD : images.data[i] / 255;
  const y = labels.data.subarray(0, n);
  classCount(`fashionMnist: ${root}`, y); // float labels must be integral (not truncated), none NaN or absurd
  return new TensorDataset(
    tensor(x, { shape: [n, 1, images.shape[1], images.shape[2]] }),
    tensor(y instanceof Float32Array || y instanceof Float64Array ? Int32Array.from(y) : y, { dtype: 'int64' }),
  );
}

function load(root: string, stem: string) {
  const candidates = [`${stem}.gz`, stem].map((f) => path.join(root, f));
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) {
    throw new Error(
      `fashionMnist: ${candidates.join(' or ')} not found. On Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist, pass { root } pointing at the IDX files, or { root: 'embedded' } for the 2000/500-example subset shipped with grnewt`,
    );
  }
  return parseIdx(readRegularFile('fashionMnist', file), file);
}
