// Inputs that used to give wrong results or unclear errors: arrays with holes, Proxies lying about their
// length, bigints beyond int64, SharedArrayBuffer-backed data, and the spread of big arrays into argument
// lists (which overflows the stack beyond ~125k elements).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import { tensor } from '../lib';
import { classCount } from '../lib/data/labels';

describe('tensor(data)', () => {
  it('refuses arrays with holes instead of compacting them', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    expect(() => tensor([1, , 3] as number[])).toThrow(/data\[1\] is a hole/);
    const withHole = [3];
    withHole.length = 2; // [3, <hole>]
    expect(() => tensor([[1, 2], withHole])).toThrow(TypeError);
    expect(() => tensor(new Array(3) as number[])).toThrow(/hole/);
    expect(() => tensor([[1, 2], new Array(2)] as number[][])).toThrow(/data\[1\]\[0\] is a hole/);
  });

  it('bounds what a Proxy claims before visiting or allocating anything', () => {
    let reads = 0;
    const liar = new Proxy([1, 2, 3], {
      get: (target, key) => {
        if (key === 'length') return 1e9;
        reads++;
        return Reflect.get(target, key);
      },
    });
    const started = Date.now();
    expect(() => tensor(liar as number[])).toThrow(/more than \d+ elements .*typed array/);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(reads).toBeLessThan(10);
    const negative = new Proxy([1], { get: (t, k) => (k === 'length' ? -5 : Reflect.get(t, k)) });
    expect(() => tensor(negative as number[])).toThrow(/invalid length/);
  });

  it('refuses bigints beyond int64 instead of wrapping them', () => {
    expect(() => tensor([2n ** 64n])).toThrow(RangeError);
    expect(() => tensor(2n ** 63n)).toThrow(/does not fit int64/);
    expect(() => tensor([-(2n ** 63n) - 1n])).toThrow(RangeError);
    expect(tensor([2n ** 63n - 1n, -(2n ** 63n)]).toArray()).toEqual(BigInt64Array.from([2n ** 63n - 1n, -(2n ** 63n)]));
  });

  it('reads typed arrays backed by a SharedArrayBuffer', () => {
    const shared = new Float32Array(new SharedArrayBuffer(16));
    shared.set([1, 2, 3, 4]);
    expect(Array.from(tensor(shared, { shape: [2, 2] }).toArray())).toEqual([1, 2, 3, 4]);
    const ints = new BigInt64Array(new SharedArrayBuffer(16), 8, 1);
    ints[0] = -7n;
    expect(tensor(ints).toArray()).toEqual(BigInt64Array.from([-7n]));
  });

  it('takes narrow integer arrays (IDX data) without a widened copy, as int64', () => {
    const t = tensor(Uint8Array.from([0, 255, 7]));
    expect(t.dtype).toBe('int64');
    expect(t.toArray()).toEqual(BigInt64Array.from([0n, 255n, 7n]));
    expect(tensor(Int8Array.from([-3]), { dtype: 'float32' }).toArray()).toEqual(Float32Array.from([-3]));
  });
});

describe('numbers beyond int64', () => {
  it('are refused, not stored as -2^63', () => {
    for (const data of [[1e300], [2 ** 63], new Float64Array([1, -1e19])])
      expect(() => tensor(data, { dtype: 'int64' })).toThrow(/^tensor: element \d \(\S+\) does not fit int64$/);
    expect(tensor([-(2 ** 63)], { dtype: 'int64' }).toArray()[0]).toBe(-(2n ** 63n));
  });
});

describe('tensors too large for the machine', () => {
  it('are refused by the allocator, named by the creating call', () => {
    for (const make of [grnewt.zeros, grnewt.ones, grnewt.randn, grnewt.rand])
      expect(() => make([1e6, 1e6])).toThrow(
        new RegExp(`^${make.name}: a tensor of 4000000000000 bytes was asked for, more than the \\d+ bytes`),
      );
  });
});

describe('no spread of data-sized arrays into argument lists', () => {
  it('classCount handles 300k labels (Math.max(...labels) overflowed the stack)', () => {
    const labels = Int32Array.from({ length: 300_000 }, (_, i) => i % 10);
    expect(classCount('test', labels)).toBe(10);
    expect(() => classCount('test', Float32Array.from([1, 2.5]))).toThrow(/label 1 is 2.5/);
    expect(() => classCount('test', Float32Array.from([NaN]))).toThrow(/label 0 is NaN/);
    expect(() => classCount('test', [2e9])).toThrow(/0\.\.65535/);
  });

  it('lib/ has no Math.max(...x), Math.min(...x), push(...x) or fromCharCode(...x)', () => {
    const root = path.join(__dirname, '..', 'lib');
    const offenders: string[] = [];
    const visit = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) visit(file);
        else if (file.endsWith('.ts')) {
          fs.readFileSync(file, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (/(Math\.(max|min)|\.push|\.unshift|fromCharCode|fromCodePoint)\(\s*\.\.\./.test(line))
                offenders.push(`${path.relative(root, file)}:${i + 1}`);
            });
        }
      }
    };
    visit(root);
    expect(offenders).toEqual([]);
  });
});
