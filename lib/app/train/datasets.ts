// Where `grnewt train` gets its data: Fashion-MNIST (Debian's package, else the subset shipped with grnewt),
// a directory of MNIST-format IDX files, or a CSV of features and labels.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor } from '../../core/creation';
import { EMBEDDED_ROOT, FASHION_MNIST_ROOT, fashionMnist } from '../../data/fashion_mnist';
import { TensorDataset } from '../../data/dataset';
import { MAX_CLASSES, classCount } from '../../data/labels';
import { readRegularFile } from '../../io/regular_files';
import { FLOAT32_MAX } from '../../core/validate';

export { EMBEDDED_ROOT } from '../../data/fashion_mnist';

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
  const data = loadSource(spec);
  // An empty training set trained nothing and reported success (Adam), or failed as NewtonSummary's empty hg loader.
  for (const [split, set] of [
    ['training', data.train],
    ['test', data.test],
  ] as const) {
    if (set.length === 0)
      throw new RangeError(
        `--data: ${data.description}: no ${split} example${spec.source.endsWith('.csv') ? ' (--limit and --test-fraction leave none)' : ''}`,
      );
  }
  return data;
}

function loadSource(spec: DataSpec): LoadedData {
  const source = spec.source;
  const limit = spec.limit ?? undefined; // checkpoints of older versions stored an absent limit as null
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
  // Over both splits: a test label the model has no output for would fail only after a whole epoch.
  const classes = Math.max(classCount('--data', train.y.toArray()), classCount('--data', test.y.toArray()));
  return {
    train,
    test,
    description: `${description}: ${train.length} training, ${test.length} test examples`,
    inputShape: train.x.shape.slice(1),
    classes,
  };
}

/** CSV files larger than this are not read (a JS string holds at most ~512 MiB). */
const MAX_CSV_BYTES = 256 * 2 ** 20;

/**
 * Rows of numbers; the last column is the class label (an integer ≥ 0). The first line is a header only
 * when none of its cells is a number; any other cell that is empty or not a number is an error naming its
 * line and column (an empty cell is not 0, and a typo in the first row does not make it a header).
 */
function loadCsv(file: string, testFraction: number, limit?: number): LoadedData {
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`data.testFraction must be a number in (0, 1), got ${testFraction}`);
  const lines = readRegularFile('--data', file, MAX_CSV_BYTES).toString('utf8').split(/\r?\n/);
  const cells = (line: string) => line.split(',').map((v) => v.trim());
  let first = lines.findIndex((l) => l.trim() !== '');
  if (first >= 0 && cells(lines[first]).every((v) => v !== '' && Number.isNaN(Number(v)))) first++; // a header
  const rows: number[][] = [];
  let width = 0;
  for (let i = Math.max(first, 0); i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const at = `--data: ${file} line ${i + 1}`;
    const row = cells(lines[i]).map((v, c) => {
      if (v === '') throw new RangeError(`${at}, column ${c + 1} is empty`);
      const n = Number(v);
      if (!Number.isFinite(n)) throw new RangeError(`${at}, column ${c + 1}: ${JSON.stringify(v)} is not a finite number`);
      // The features are stored as float32: beyond its range a value became Infinity, and every step was skipped.
      if (!Number.isFinite(Math.fround(n)))
        throw new RangeError(`${at}, column ${c + 1}: ${JSON.stringify(v)} is beyond float32's range (±${FLOAT32_MAX.toPrecision(5)})`);
      return n;
    });
    width ||= row.length;
    if (row.length !== width) throw new RangeError(`${at} has ${row.length} columns, the first row ${width}`);
    const label = row[width - 1];
    if (!Number.isInteger(label) || label < 0 || label >= MAX_CLASSES)
      throw new RangeError(`${at}: the label ${label} is not an integer in 0..${MAX_CLASSES - 1}`);
    rows.push(row);
  }
  if (rows.length < 2) throw new RangeError(`--data: ${file} has fewer than 2 rows of numbers`);
  if (width < 2) throw new RangeError(`--data: ${file} needs at least one feature column and a label column`);
  const used = limit === undefined ? rows : rows.slice(0, limit);
  const nTest = Math.max(1, Math.round(used.length * testFraction));
  const make = (part: number[][]) =>
    new TensorDataset(
      tensor(Float32Array.from(part.flatMap((r) => r.slice(0, -1))), { shape: [part.length, width - 1] }),
      tensor(Int32Array.from(part.map((r) => r[width - 1]))),
    );
  const classes = classCount(
    '--data',
    used.map((r) => r[width - 1]),
  );
  return {
    train: make(used.slice(0, used.length - nTest)),
    test: make(used.slice(used.length - nTest)),
    description: `CSV ${file}: ${used.length - nTest} training, ${nTest} test rows, ${width - 1} features, ${classes} classes`,
    inputShape: [width - 1],
    classes,
  };
}
