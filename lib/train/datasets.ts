// Where `grnewt train` gets its data: Fashion-MNIST (Debian's package, else the subset shipped with grnewt),
// a directory of MNIST-format IDX files, or a CSV of features and labels.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor } from '../creation';
import { EMBEDDED_ROOT, FASHION_MNIST_ROOT, fashionMnist } from '../data/fashion_mnist';
import { TensorDataset } from '../data/dataset';

export { EMBEDDED_ROOT } from '../data/fashion_mnist';

export interface LoadedData {
  train: TensorDataset;
  test: TensorDataset;
  /** Which data was used, in words. */
  description: string;
  /** Shape of one example. */
  inputShape: number[];
  classes: number;
}

export interface DataSpec {
  /** 'fashion-mnist' (full if installed, else embedded), 'embedded', an IDX directory, or a .csv file. */
  source: string;
  /** Keep the first n training (and n/5 test) examples. */
  limit?: number;
  /** For CSV: the fraction of rows (the last ones) kept for testing. */
  testFraction?: number;
  normalize?: boolean;
}

export function loadData(spec: DataSpec): LoadedData {
  const { source, limit } = spec;
  const normalize = spec.normalize ?? true;
  if (source.endsWith('.csv')) return loadCsv(source, spec.testFraction ?? 0.2, limit);
  let root: string, description: string;
  if (source === 'fashion-mnist' || source === 'embedded') {
    const full = source === 'fashion-mnist' && fs.existsSync(path.join(FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz'));
    root = full ? FASHION_MNIST_ROOT : EMBEDDED_ROOT;
    description = full ? `Fashion-MNIST, full (${FASHION_MNIST_ROOT})` : 'Fashion-MNIST, the 2000/500-example subset shipped with grnewt';
  } else {
    if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) {
      throw new RangeError(`--data: ${source} is neither 'fashion-mnist', 'embedded', a directory of IDX files nor a .csv file`);
    }
    root = source;
    description = `IDX files in ${source}`;
  }
  const train = fashionMnist({ split: 'train', root, normalize, limit });
  const test = fashionMnist({ split: 'test', root, normalize, limit: limit === undefined ? undefined : Math.max(1, Math.ceil(limit / 5)) });
  const classes = Math.max(...Array.from(train.y.toArray(), Number)) + 1;
  return { train, test, description: `${description}: ${train.length} training, ${test.length} test examples`, inputShape: train.x.shape.slice(1), classes };
}

/** Rows of numbers; the last column is the class label (an integer ≥ 0); an optional header line is skipped. */
function loadCsv(file: string, testFraction: number, limit?: number): LoadedData {
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`--test-fraction must be in (0, 1), got ${testFraction}`);
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const rows = lines.map((l) => l.split(',').map((v) => Number(v.trim())));
  if (rows.length && rows[0].some(Number.isNaN)) rows.shift(); // a header
  if (rows.length < 2) throw new RangeError(`--data: ${file} has fewer than 2 rows of numbers`);
  const width = rows[0].length;
  if (width < 2) throw new RangeError(`--data: ${file} needs at least one feature column and a label column`);
  rows.forEach((r, i) => {
    if (r.length !== width || r.some((v) => !Number.isFinite(v))) throw new RangeError(`--data: ${file} row ${i + 1} is not ${width} finite numbers`);
    if (!Number.isInteger(r[width - 1]) || r[width - 1] < 0) throw new RangeError(`--data: ${file} row ${i + 1}: the label ${r[width - 1]} is not an integer ≥ 0`);
  });
  const used = limit === undefined ? rows : rows.slice(0, limit);
  const nTest = Math.max(1, Math.round(used.length * testFraction));
  const make = (part: number[][]) =>
    new TensorDataset(
      tensor(Float32Array.from(part.flatMap((r) => r.slice(0, -1))), { shape: [part.length, width - 1] }),
      tensor(Int32Array.from(part.map((r) => r[width - 1]))),
    );
  const classes = Math.max(...used.map((r) => r[width - 1])) + 1;
  return {
    train: make(used.slice(0, used.length - nTest)),
    test: make(used.slice(used.length - nTest)),
    description: `CSV ${file}: ${used.length - nTest} training, ${nTest} test rows, ${width - 1} features, ${classes} classes`,
    inputShape: [width - 1],
    classes,
  };
}
