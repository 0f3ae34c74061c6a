import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import { Tensor, ones, randn, tensor, zeros } from '../lib';
import { expectClose } from './helpers';

describe('creating tensors', () => {
  it('infers shape from nested arrays and defaults JS numbers to float32', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe('cpu');
    expect(t.requiresGrad).toBe(false);
    expect(t.toArray()).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6]));
  });

  it('makes a 0-d tensor from a number and reads it back with item()', () => {
    const t = tensor(2.5, { dtype: 'float64' });
    expect(t.shape).toEqual([]);
    expect(t.item()).toBe(2.5);
  });

  it('makes a lone number float32 too, as its declared type says (it was float64)', () => {
    const t = tensor(2.5);
    expect(t.dtype).toBe('float32');
    expect(t.toArray()).toEqual(Float32Array.of(2.5));
    expect(tensor(-0).dtype).toBe('float32');
  });

  it('keeps the dtype of typed arrays: Float32Array, Float64Array → same; Int32Array, BigInt64Array → int64', () => {
    expect(tensor(new Float32Array([1, 2])).dtype).toBe('float32');
    expect(tensor(new Float64Array([1, 2])).dtype).toBe('float64');
    const ints = tensor(new Int32Array([1, -2, 3]));
    expect(ints.dtype).toBe('int64');
    expect(ints.toArray()).toEqual(BigInt64Array.from([1n, -2n, 3n]));
    expect(tensor(BigInt64Array.from([2n ** 40n])).toArray()).toEqual(BigInt64Array.from([2n ** 40n]));
    expect(tensor([[1n, 2n]]).dtype).toBe('int64');
  });

  it('reshapes typed arrays with opts.shape', () => {
    const t = tensor(new Float64Array([1, 2, 3, 4, 5, 6]), { shape: [3, 2] });
    expect(t.shape).toEqual([3, 2]);
    expect(t.toArray()).toEqual(Float64Array.from([1, 2, 3, 4, 5, 6]));
  });

  it('round-trips every dtype conversion exactly where values allow', () => {
    const src = tensor([0.5, -1.25, 3], { dtype: 'float64' });
    expect(src.to({ dtype: 'float32' }).toArray()).toEqual(Float32Array.from([0.5, -1.25, 3]));
    expect(src.to({ dtype: 'float32' }).to({ dtype: 'float64' }).toArray()).toEqual(Float64Array.from([0.5, -1.25, 3]));
    expect(tensor([3, -4], { dtype: 'int64' }).to({ dtype: 'float64' }).toArray()).toEqual(Float64Array.from([3, -4]));
    expect(tensor([3.9, -4.9]).to({ dtype: 'int64' }).toArray()).toEqual(BigInt64Array.from([3n, -4n])); // truncation, as torch
    const third = tensor([1 / 3], { dtype: 'float64' });
    expect(third.toArray()[0]).toBe(1 / 3); // float64 is not squeezed through float32 anywhere
  });

  it('fills zeros, ones and seeded randn', () => {
    expect(zeros([2, 2]).toArray()).toEqual(new Float32Array(4));
    expect(ones([3], { dtype: 'float64' }).toArray()).toEqual(Float64Array.from([1, 1, 1]));
    grnewt.manualSeed(7);
    const a = randn([1000], { dtype: 'float64' }).toArray() as Float64Array;
    grnewt.manualSeed(7);
    const b = randn([1000], { dtype: 'float64' }).toArray();
    expect(a).toEqual(b);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.15); // 1000 standard normals: mean within ~5 standard errors
    expect(Math.abs(variance - 1)).toBeLessThan(0.2);
  });

  it('handles empty tensors', () => {
    const t = tensor([]);
    expect(t.shape).toEqual([0]);
    expect(t.toArray().length).toBe(0);
    expect(zeros([0, 3]).shape).toEqual([0, 3]);
  });

  it('detach shares values but leaves the graph', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    expect(y.requiresGrad).toBe(true);
    const d = y.detach();
    expect(d.requiresGrad).toBe(false);
    expectClose(d.toArray(), [2, 4]);
  });

  it('sets requiresGrad on leaves', () => {
    const x = zeros([2], { dtype: 'float64' });
    x.requiresGrad = true;
    expect(x.requiresGrad).toBe(true);
    expect(x.grad).toBeNull();
    x.sum().backward();
    expect(x.grad!.toArray()).toEqual(Float64Array.from([1, 1]));
  });

  it('accumulates gradients over two backward passes, as torch does', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expectClose(x.grad!.toArray(), [3 + 2, 3 + 4]);
  });

  it('prints itself', () => {
    expect(String(zeros([2, 3]))).toBe('tensor([[0., 0., 0.],\n        [0., 0., 0.]], dtype=float32, shape=[2, 3], device=cpu)');
  });

  it('reports CUDA availability and runs on cpu without it', () => {
    expect(typeof grnewt.cuda.isAvailable()).toBe('boolean');
    if (!grnewt.cuda.isAvailable()) {
      expect(() => zeros([1], { device: 'cuda' })).toThrow(/no CUDA/);
    }
  });

  it('sets the number of intra-op threads', () => {
    const before = grnewt.getNumThreads();
    grnewt.setNumThreads(2);
    expect(grnewt.getNumThreads()).toBe(2);
    grnewt.setNumThreads(before);
    expect(grnewt.getNumThreads()).toBe(before);
  });

  it('exports the Tensor class for instanceof checks and types', () => {
    expect(tensor(1)).toBeInstanceOf(Tensor);
    expect(grnewt.torchVersion()).toMatch(/^\d+\.\d+/);
  });
});

describe('reading values exactly', () => {
  it('item() of an int64 beyond 2^53 is refused (a number would round it); toArray() has it exactly', () => {
    expect(tensor([2n ** 53n], { dtype: 'int64' }).item()).toBe(2 ** 53);
    expect(tensor([-(2n ** 53n)], { dtype: 'int64' }).item()).toBe(-(2 ** 53));
    const big = tensor([2n ** 60n + 1n], { dtype: 'int64' });
    expect(() => big.item()).toThrow(
      new RangeError(
        'item: 1152921504606846977 is beyond 2^53, where a number is no longer exact: read it with toArray() (a BigInt64Array)',
      ),
    );
    expect(big.toArray()[0]).toBe(2n ** 60n + 1n);
  });

  it('the grad of a non-leaf is null, and reading it prints nothing', () => {
    const script =
      "const g = require('./dist'); const x = g.tensor([1, 2], { requiresGrad: true }); const y = x.mul(2); y.sum().backward(); console.log(y.grad === null, x.grad.toArray().join())";
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect([run.stdout.trim(), run.stderr]).toEqual(['true 2,2', '']);
  });
});
