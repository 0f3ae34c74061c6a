// Data files against hostile content: gzip bombs and lying IDX headers (refused before inflating or
// allocating), non-regular files, float and NaN labels, absurd labels, and strict CSV cells.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { data } from '../lib';
import { parseIdx } from '../lib/data/idx';
import { classCount } from '../lib/data/labels';
import { loadData } from '../lib/app/train/datasets';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-data-robust-'));
let counter = 0;
const fresh = () => fs.mkdtempSync(path.join(work, `${counter++}-`));

/** IDX bytes: magic (0, 0, type, rank), big-endian sizes, then `body`. */
function idx(type: number, shape: number[], body: Buffer): Buffer {
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = type;
  head[3] = shape.length;
  shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, body]);
}

function floatLabels(values: number[]): Buffer {
  const body = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => body.writeFloatBE(v, 4 * i));
  return idx(0x0d, [values.length], body);
}

/** A directory of IDX files with n images and the given training labels. */
function idxDir(labels: Buffer, n: number): string {
  const dir = fresh();
  const images = zlib.gzipSync(idx(0x08, [n, 28, 28], Buffer.alloc(n * 784)));
  for (const split of ['train', 't10k']) {
    fs.writeFileSync(path.join(dir, `${split}-images-idx3-ubyte.gz`), images);
    fs.writeFileSync(path.join(dir, `${split}-labels-idx1-ubyte`), split === 'train' ? labels : idx(0x08, [n], Buffer.alloc(n)));
  }
  return dir;
}

describe('IDX: gzip bombs and lying headers', () => {
  it('stops inflating at the size the header announces (a bomb claiming 100 bytes)', () => {
    // 64 MiB of zeros after a header that announces 100 uint8 values.
    const bomb = zlib.gzipSync(Buffer.concat([idx(0x08, [100], Buffer.alloc(0)), Buffer.alloc(64 * 2 ** 20)]), { level: 9 });
    expect(bomb.length).toBeLessThan(200_000);
    expect(() => parseIdx(bomb, 'bomb.gz')).toThrow(/decompresses to more than the 108 bytes/);
  });

  it('refuses a header claiming more than deflate can produce from the file, before allocating', () => {
    const liar = zlib.gzipSync(idx(0x08, [60000, 100, 100], Buffer.alloc(10)));
    expect(() => parseIdx(liar, 'liar.gz')).toThrow(/more than its \d+ compressed bytes can hold/);
  });

  it('refuses a header claiming more than the machine can hold', () => {
    const huge = idx(0x0e, [2 ** 32 - 1, 2 ** 32 - 1], Buffer.alloc(0));
    expect(() => parseIdx(huge, 'huge')).toThrow(/more than the \d+ bytes this machine can read/);
    expect(() => parseIdx(zlib.gzipSync(huge), 'huge.gz')).toThrow(RangeError);
  });

  it('still reads a well-formed gzipped file whose header needs several probes', () => {
    const shape = Array.from({ length: 200 }, () => 1); // an 804-byte header
    const file = zlib.gzipSync(idx(0x08, shape, Buffer.from([42])));
    const out = parseIdx(file, 'deep.gz');
    expect(out.shape).toHaveLength(200);
    expect(Array.from(out.data)).toEqual([42]);
  });

  it('refuses non-regular files at once', () => {
    const fifo = path.join(fresh(), 'pipe.idx');
    execFileSync('mkfifo', [fifo]);
    expect(() => data.readIdx(fifo)).toThrow(/is a FIFO, not a regular file/);
    expect(() => data.readIdx('/dev/zero')).toThrow(/character device/);
  });
});

describe('labels', () => {
  it('classCount: integers in 0..65535, the count the largest + 1', () => {
    expect(classCount('t', [0, 65535])).toBe(65536);
    expect(classCount('t', [2n, 0n])).toBe(3);
    expect(() => classCount('t', [0, 65536])).toThrow('t: label 1 is 65536; labels must be integers in 0..65535');
    expect(() => classCount('t', [3, -1])).toThrow('t: label 1 is -1; labels must be integers in 0..65535');
  });

  it('IDX float labels that are not integers are refused, not truncated', () => {
    expect(() => data.fashionMnist({ split: 'train', root: idxDir(floatLabels([0, 1.5, 2]), 3) })).toThrow(/label 1 is 1.5/);
  });

  it('NaN labels are refused, not made 0', () => {
    expect(() => data.fashionMnist({ split: 'train', root: idxDir(floatLabels([0, NaN, 2]), 3) })).toThrow(/label 1 is NaN/);
  });

  it('integral float labels are read as int64 classes', () => {
    const ds = data.fashionMnist({ split: 'train', root: idxDir(floatLabels([0, 4, 2]), 3) });
    expect(ds.y.toArray()).toEqual(BigInt64Array.from([0n, 4n, 2n]));
  });

  it('a label of 2e9 is refused instead of sizing a 2e9-row output layer', () => {
    const body = Buffer.alloc(8);
    body.writeInt32BE(1, 0);
    body.writeInt32BE(2e9, 4);
    expect(() => loadData({ source: idxDir(idx(0x0c, [2], body), 2) })).toThrow(/0\.\.65535/);
  });

  it('classes span the test split too (a test label with no output would fail after an epoch)', () => {
    const dir = idxDir(idx(0x08, [2], Buffer.from([0, 1])), 2);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [2], Buffer.from([5, 0])));
    expect(loadData({ source: dir }).classes).toBe(6);
  });

  it('a split with no example is refused (Adam trained nothing and reported success; NewtonSummary named an empty hg loader)', () => {
    const dir = idxDir(idx(0x08, [0], Buffer.alloc(0)), 0);
    expect(() => loadData({ source: dir })).toThrow(/^--data: IDX files in .*: 0 training, 0 test examples: no training example$/);
  });
});

describe('CSV', () => {
  const csv = (text: string) => {
    const file = path.join(fresh(), 'd.csv');
    fs.writeFileSync(file, text);
    return file;
  };

  it('an empty cell is an error naming its line and column, not 0', () => {
    expect(() => loadData({ source: csv('1,2,0\n3,,1\n4,5,0\n') })).toThrow(/line 2, column 2 is empty/);
  });

  it('a first row with a typo is an error, not a header', () => {
    expect(() => loadData({ source: csv('1,2x,0\n3,4,1\n5,6,0\n') })).toThrow(/line 1, column 2: "2x" is not a finite number/);
  });

  it('a header (no numeric cell) is skipped', () => {
    expect(loadData({ source: csv('a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n') }).train.length).toBe(3);
  });

  it('non-finite cells, fractional labels and ragged rows are errors naming the line', () => {
    expect(() => loadData({ source: csv('1,2,0\n3,Infinity,1\n') })).toThrow(/line 2, column 2/);
    expect(() => loadData({ source: csv('1,2,0\n3,4,0.5\n') })).toThrow(/line 2: the label 0.5/);
    expect(() => loadData({ source: csv('1,2,0\n3,1\n') })).toThrow(/line 2 has 2 columns/);
  });

  it('--limit and --test-fraction that leave no training row are refused, naming them', () => {
    const file = csv('1,2,0\n3,4,1\n5,6,0\n7,8,1\n');
    expect(() => loadData({ source: file, limit: 1 })).toThrow(
      /: 0 training, 1 test rows, .*: no training example \(--limit and --test-fraction leave none\)$/,
    );
    expect(() => loadData({ source: file, testFraction: 0.9 })).toThrow(/0 training, 4 test rows/);
    expect(loadData({ source: file, limit: 2 }).train.length).toBe(1);
  });

  it("a test fraction outside (0, 1) is refused by the loader too, in the config check's words (0 would keep one test row)", () => {
    for (const testFraction of [0, 1])
      expect(() => loadData({ source: csv('1,2,0\n3,4,1\n'), testFraction })).toThrow(
        new RangeError(`data.testFraction must be a number in (0, 1), got ${testFraction}`),
      );
  });

  it("a value beyond float32's range is an error naming it (it became Infinity, and no step ever changed the model)", () => {
    expect(() => loadData({ source: csv('1,2,0\n3,-1e39,1\n5,6,0\n') })).toThrow(
      `line 2, column 2: "-1e39" is beyond float32's range (±3.4028e+38)`,
    );
    expect(loadData({ source: csv('1,3.4028234e38,0\n3,4,1\n5,6,0\n') }).train.length).toBe(2); // float32's largest is fine
  });

  it('reads 130k rows (Math.max(...labels) overflowed the stack past ~125k)', () => {
    const rows = Array.from({ length: 130_000 }, (_, i) => `${i % 7},${i % 3}`).join('\n');
    expect(loadData({ source: csv(rows) }).classes).toBe(3);
  });

  it('a FIFO named .csv is refused at once', () => {
    const fifo = path.join(fresh(), 'pipe.csv');
    execFileSync('mkfifo', [fifo]);
    expect(() => loadData({ source: fifo })).toThrow(/FIFO/);
  });
});
