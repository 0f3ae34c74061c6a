import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { data, manualSeed, tensor } from '../lib';
import { EMBEDDED_ROOT } from '../lib/app/train/datasets';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-data-'));

function idx(
  type: number,
  shape: number[],
  values: number[],
  bytesPer: number,
  write: (v: DataView, o: number, x: number) => void,
): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = type;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const body = Buffer.alloc(values.length * bytesPer);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  values.forEach((x, i) => write(view, i * bytesPer, x));
  return Buffer.concat([header, body]);
}

describe('TensorDataset and DataLoader', () => {
  const ds = new data.TensorDataset(
    tensor(Int32Array.from({ length: 10 }, (_, i) => i)),
    tensor(Int32Array.from({ length: 10 }, (_, i) => 100 + i)),
  );
  const firsts = (loader: data.DataLoader) => [...loader].map(([x]) => Array.from(x.toArray(), Number));

  it('batches in order, the last one short unless dropLast', () => {
    expect(firsts(new data.DataLoader(ds, { batchSize: 4 }))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(firsts(new data.DataLoader(ds, { batchSize: 4, dropLast: true }))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    const [[x, y]] = [...new data.DataLoader(ds, { batchSize: 3 })];
    expect(Array.from(y.toArray(), Number)).toEqual(Array.from(x.toArray(), (v) => Number(v) + 100));
  });

  it('shuffles reproducibly from its seed, a new order each epoch', () => {
    const a = new data.DataLoader(ds, { batchSize: 10, shuffle: true, seed: 7 });
    const b = new data.DataLoader(ds, { batchSize: 10, shuffle: true, seed: 7 });
    const [e0, e1] = [firsts(a)[0], firsts(a)[0]];
    expect(firsts(b)[0]).toEqual(e0);
    expect(firsts(b)[0]).toEqual(e1);
    expect(e0).not.toEqual(e1);
    expect([...e0].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(firsts(new data.DataLoader(ds, { batchSize: 10, shuffle: true, seed: 8 }))[0]).not.toEqual(e0);
  });

  it('shuffles by every bit of the seed: seed and seed + 2^32 differ (they shuffled alike); seeds below 2^32 keep their orders', () => {
    const order = (seed: number) => Array.from(new data.DataLoader(ds, { batchSize: 10, shuffle: true, seed }).fullOrder(0));
    expect(order(2 ** 32 + 7)).not.toEqual(order(7));
    expect(order(2 ** 52 + 7)).not.toEqual(order(2 ** 32 + 7));
    expect(order(7)).toEqual([0, 1, 4, 2, 8, 3, 6, 5, 9, 7]); // as before, so that a checkpoint's run resumes on its order
    expect(order(2 ** 32 - 1)).toEqual([6, 5, 7, 4, 0, 1, 3, 9, 8, 2]);
  });

  it('unseeded, a shuffling loader draws its seed from the generator (manualSeed repeats it); sharded ones use 0', () => {
    manualSeed(3);
    const [a, b] = [new data.DataLoader(ds, { batchSize: 10, shuffle: true }), new data.DataLoader(ds, { batchSize: 10, shuffle: true })];
    expect(a.seed).not.toBe(b.seed);
    expect(firsts(a)[0]).not.toEqual(firsts(b)[0]);
    manualSeed(3);
    expect(new data.DataLoader(ds, { batchSize: 10, shuffle: true }).seed).toBe(a.seed);
    expect(new data.DataLoader(ds, { batchSize: 10, shuffle: true, shard: { rank: 0, worldSize: 2 } }).seed).toBe(0);
    expect(new data.DataLoader(ds, { batchSize: 10 }).seed).toBe(0);
  });

  it("shuffles two examples both ways: the last swap of Fisher–Yates is drawn too (the order over 20 epochs isn't always [0, 1])", () => {
    const two = new data.TensorDataset(tensor([0, 1]), tensor([0, 1]));
    const loader = new data.DataLoader(two, { batchSize: 2, shuffle: true, seed: 7 });
    const orders = new Set(Array.from({ length: 20 }, (_, e) => Array.from(loader.fullOrder(e)).join()));
    expect([...orders].sort()).toEqual(['0,1', '1,0']);
  });

  it('the first iteration is epoch 0, the next epoch 1; batches(epoch, start) resumes at batch start', () => {
    const loader = new data.DataLoader(ds, { batchSize: 4, shuffle: true, seed: 11 });
    const ofEpoch = (e: number, start = 0) => [...loader.batches(e, start)].map(([x]) => Array.from(x.toArray(), Number));
    expect(firsts(loader)).toEqual(ofEpoch(0));
    expect(loader.epoch).toBe(1);
    expect(firsts(loader)).toEqual(ofEpoch(1));
    expect(ofEpoch(1, 1)).toEqual(ofEpoch(1).slice(1));
    expect(ofEpoch(1, 3)).toEqual([]);
    expect(() => [...loader.batches(0, -1)]).toThrow('DataLoader.batches: start must be an integer (≥ 0), got -1');
    expect(() => [...loader.batches(0, 0.5)]).toThrow('DataLoader.batches: start must be an integer (≥ 0), got 0.5');
  });

  it('a subset larger than the dataset is the whole dataset; n must be ≥ 1', () => {
    const sub = ds.subset(100);
    expect(Array.from(sub.x.toArray(), Number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(ds.subset(3).y.toArray(), Number)).toEqual([100, 101, 102]);
    expect(() => ds.subset(0)).toThrow('TensorDataset.subset: n must be an integer (≥ 1), got 0');
  });

  it('checks its arguments', () => {
    expect(() => new data.DataLoader(ds, { batchSize: 0 })).toThrow('DataLoader: batchSize must be an integer (≥ 1), got 0');
    expect(() => new data.DataLoader({} as never, { batchSize: 1 })).toThrow(TypeError);
    expect(() => new data.TensorDataset(tensor([1, 2]), tensor([1]))).toThrow(/same first dimension/);
    // 0-dimensional tensors have no first dimension (both shapes [] looked equal)
    expect(() => new data.TensorDataset(tensor(1), tensor(2))).toThrow('TensorDataset: x [] and y [] must have the same first dimension');
  });

  it('names an epoch set to something not an integer as it was set (it said "got NaN")', () => {
    const loader = new data.DataLoader(ds, { batchSize: 10 });
    for (const epoch of ['1', undefined, 1.5]) {
      loader.epoch = epoch as never;
      expect(() => [...loader]).toThrow(
        `DataLoader: epoch must be an integer${epoch === 1.5 ? ' (≥ 0), got 1.5' : `, got ${JSON.stringify(epoch) ?? 'undefined'}`}`,
      );
    }
  });
});

describe('readIdx', () => {
  it('reads uint8, int32 and float64 files, plain and gzip', () => {
    const u8 = path.join(dir, 'a-idx3-ubyte');
    fs.writeFileSync(
      u8,
      idx(0x08, [2, 3], [0, 1, 2, 253, 254, 255], 1, (v, o, x) => v.setUint8(o, x)),
    );
    const t = data.readIdx(u8);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('int64');
    expect(Array.from(t.toArray(), Number)).toEqual([0, 1, 2, 253, 254, 255]);
    const gz = path.join(dir, 'b.idx.gz');
    fs.writeFileSync(gz, zlib.gzipSync(idx(0x0c, [3], [-5, 0, 70000], 4, (v, o, x) => v.setInt32(o, x))));
    expect(Array.from(data.readIdx(gz).toArray(), Number)).toEqual([-5, 0, 70000]);
    const f = path.join(dir, 'c.idx');
    fs.writeFileSync(
      f,
      idx(0x0e, [2], [0.5, -1e300], 8, (v, o, x) => v.setFloat64(o, x)),
    );
    const ft = data.readIdx(f);
    expect(ft.dtype).toBe('float64');
    expect(Array.from(ft.toArray() as Float64Array)).toEqual([0.5, -1e300]);
    expect(data.readIdx(u8, { dtype: 'float32' }).dtype).toBe('float32');
    // A bad dtype is named by readIdx before the file is read (tensor() named itself, after reading it all).
    for (const file of [u8, path.join(dir, 'absent')])
      expect(() => data.readIdx(file, { dtype: 'float16' as never })).toThrow(
        `readIdx: options: dtype must be 'float32', 'float64' or 'int64', got "float16"`,
      );
  });

  it('reads int8 and int16 (big-endian, signed) and float32 files', () => {
    const i8 = path.join(dir, 'd.idx');
    fs.writeFileSync(
      i8,
      idx(0x09, [3], [-128, -3, 127], 1, (v, o, x) => v.setInt8(o, x)),
    );
    expect(Array.from(data.readIdx(i8).toArray(), Number)).toEqual([-128, -3, 127]);
    const i16 = path.join(dir, 'e.idx');
    fs.writeFileSync(
      i16,
      idx(0x0b, [3], [-2, 300, -32768], 2, (v, o, x) => v.setInt16(o, x)),
    );
    expect(Array.from(data.readIdx(i16).toArray(), Number)).toEqual([-2, 300, -32768]);
    const f32 = path.join(dir, 'f.idx');
    fs.writeFileSync(
      f32,
      idx(0x0d, [2], [1.5, -0.25], 4, (v, o, x) => v.setFloat32(o, x)),
    );
    const t = data.readIdx(f32);
    expect([t.dtype, Array.from(t.toArray() as Float32Array)]).toEqual(['float32', [1.5, -0.25]]);
  });

  it('refuses truncated, padded, corrupt and missing files with the reason', () => {
    const good = idx(0x08, [4, 4], new Array(16).fill(1), 1, (v, o, x) => v.setUint8(o, x));
    const write = (name: string, bytes: Buffer) => {
      fs.writeFileSync(path.join(dir, name), bytes);
      return path.join(dir, name);
    };
    expect(() => data.readIdx(write('t', good.subarray(0, good.length - 3)))).toThrow(
      /is truncated: 4×4 uint8 values need 28 bytes, it has 25/,
    );
    expect(() => data.readIdx(write('h', good.subarray(0, 6)))).toThrow(/truncated \(its header needs 12 bytes/);
    expect(() => data.readIdx(write('p', Buffer.concat([good, Buffer.from([1])])))).toThrow(/has 1 bytes beyond/);
    expect(() => data.readIdx(write('m', Buffer.from('hello world')))).toThrow(/not an IDX file/);
    // a valid type and rank after a first or second byte that is not 0
    for (const k of [0, 1]) {
      const bad = Buffer.from(good);
      bad[k] = 1;
      expect(() => data.readIdx(write(`magic${k}`, bad))).toThrow(/not an IDX file \(bad magic number\)/);
    }
    expect(() => data.readIdx(write('z.gz', zlib.gzipSync(good).subarray(0, 20)))).toThrow(/not a valid gzip file/);
    expect(() => data.readIdx(path.join(dir, 'absent'))).toThrow(/cannot read/);
  });
});

describe('fashionMnist', () => {
  // Debian's package when installed, else the subset shipped in assets/ (the test split's first 500 examples).
  const installed = fs.existsSync(path.join(data.FASHION_MNIST_ROOT, 't10k-labels-idx1-ubyte.gz'));
  const root = installed ? data.FASHION_MNIST_ROOT : EMBEDDED_ROOT;
  it(`reads ${installed ? 'the Debian package' : "the embedded subset (Debian's package is not installed)"}: test split, images [N,1,28,28] standardised, labels 0..9`, () => {
    const ds = data.fashionMnist({ split: 'test', root, limit: 500 });
    expect(ds.length).toBe(500);
    expect(ds.x.shape).toEqual([500, 1, 28, 28]);
    const labels = Array.from(ds.y.toArray(), Number);
    expect(Math.min(...labels)).toBe(0);
    expect(Math.max(...labels)).toBe(9);
    expect(labels.slice(0, 5)).toEqual([9, 2, 1, 1, 6]); // the first test labels of Fashion-MNIST
    const raw = data.fashionMnist({ split: 'test', root, limit: 1, normalize: false });
    const pixels = Array.from(raw.x.toArray() as Float32Array);
    expect(Math.min(...pixels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);
  });
  it("reads the subset shipped in the package with root: 'embedded' (its folder is data.EMBEDDED_ROOT)", () => {
    const train = data.fashionMnist({ split: 'train', root: 'embedded' });
    const test = data.fashionMnist({ split: 'test', root: 'embedded' });
    expect([train.length, test.length]).toEqual([2000, 500]);
    expect(train.x.shape).toEqual([2000, 1, 28, 28]);
    expect(fs.existsSync(path.join(data.EMBEDDED_ROOT, 'train-images-idx3-ubyte.gz'))).toBe(true);
    const byPath = data.fashionMnist({ split: 'test', root: data.EMBEDDED_ROOT, limit: 20 });
    expect(byPath.y.tolist()).toEqual(Array.from(test.y.toArray().slice(0, 20)));
  });
  it('says where the files should be and how to install them', () => {
    expect(() => data.fashionMnist({ split: 'train', root: dir })).toThrow(/apt-get install dataset-fashion-mnist/);
    expect(() => data.fashionMnist({ split: 'train', root: dir })).toThrow(/\{ root: 'embedded' \}/);
    expect(() => data.fashionMnist({ split: 'validation' as never })).toThrow(TypeError);
  });
});
