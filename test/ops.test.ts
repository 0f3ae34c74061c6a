// Every op: its value against hand-computed numbers, its gradient against float64 central differences.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { tensor, type Tensor } from '../lib';
import { expectClose, expectGradientsMatchFiniteDifferences as gradcheck, values } from './helpers';

const f64 = (data: number[] | number[][], shape?: number[]) =>
  tensor(data.flat() as number[], { dtype: 'float64', shape: shape ?? [data.flat().length] });
const input = (shape: number[], seed: number, lo = -1, hi = 1) => ({
  data: values(
    shape.reduce((a, b) => a * b, 1),
    seed,
    lo,
    hi,
  ),
  shape,
});

describe('elementwise ops: values', () => {
  const a = f64([1, 2, 4]);
  const b = f64([2, 4, 8]);
  it('add sub mul div pow on tensors', () => {
    expectClose(a.add(b).toArray(), [3, 6, 12]);
    expectClose(a.sub(b).toArray(), [-1, -2, -4]);
    expectClose(a.mul(b).toArray(), [2, 8, 32]);
    expectClose(a.div(b).toArray(), [0.5, 0.5, 0.5]);
    expectClose(a.pow(f64([2, 0.5, 3])).toArray(), [1, Math.SQRT2, 64]);
  });
  it('mix tensors and numbers on either side without promoting float32', () => {
    expectClose(g.sub(10, a).toArray(), [9, 8, 6]);
    expectClose(g.div(8, a).toArray(), [8, 4, 2]);
    expectClose(g.pow(2, a).toArray(), [2, 4, 16]);
    expectClose(a.pow(2).toArray(), [1, 4, 16]);
    expect(tensor([1, 2]).mul(0.1).dtype).toBe('float32');
  });
  it('broadcast as torch does', () => {
    const m = f64(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [2, 3],
    );
    const r = m.add(f64([10, 20, 30]));
    expect(r.shape).toEqual([2, 3]);
    expectClose(r.toArray(), [11, 22, 33, 14, 25, 36]);
    expectClose(m.mul(f64([[2], [3]], [2, 1])).toArray(), [2, 4, 6, 12, 15, 18]);
  });
  it('an int64 tensor and a whole number stay int64, exactly, as torch does with a Python int (it became float32)', () => {
    const big = tensor([2n ** 62n + 3n], { dtype: 'int64' });
    const sum = big.add(1);
    expect([sum.dtype, sum.toArray()[0]]).toEqual(['int64', 2n ** 62n + 4n]);
    expect([g.sub(1, big).dtype, big.mul(2).dtype, big.pow(2).dtype]).toEqual(['int64', 'int64', 'int64']);
    expect([big.mul(0.5).dtype, big.div(2).dtype]).toEqual(['float32', 'float32']); // a fraction, a true division
    expect([tensor([1.5]).add(1).dtype, f64([1.5]).mul(3).dtype]).toEqual(['float32', 'float64']);
  });
  it('promote float32 with float64 to float64', () => {
    expect(tensor([1]).add(f64([1])).dtype).toBe('float64');
  });
  it('unary functions', () => {
    const x = f64([-2, -0.5, 0.5, 2]);
    expectClose(x.neg().toArray(), [2, 0.5, -0.5, -2]);
    expectClose(x.exp().toArray(), [-2, -0.5, 0.5, 2].map(Math.exp));
    expectClose(x.abs().toArray(), [2, 0.5, 0.5, 2]);
    expectClose(x.abs().log().toArray(), [2, 0.5, 0.5, 2].map(Math.log));
    expectClose(x.abs().sqrt().toArray(), [2, 0.5, 0.5, 2].map(Math.sqrt));
    expectClose(x.tanh().toArray(), [-2, -0.5, 0.5, 2].map(Math.tanh));
    expectClose(x.relu().toArray(), [0, 0, 0.5, 2]);
    expectClose(
      x.sigmoid().toArray(),
      [-2, -0.5, 0.5, 2].map((v) => 1 / (1 + Math.exp(-v))),
    );
    expectClose(x.elu().toArray(), [Math.exp(-2) - 1, Math.exp(-0.5) - 1, 0.5, 2]);
    expectClose(g.elu(x, 2).toArray(), [2 * (Math.exp(-2) - 1), 2 * (Math.exp(-0.5) - 1), 0.5, 2]);
  });
});

describe('linear algebra, reductions, shapes: values', () => {
  const m = f64(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    [2, 3],
  );
  it('matmul of matrices, matrix-vector, vector-vector and batches', () => {
    const n = f64(
      [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
      [3, 2],
    );
    const p = m.matmul(n);
    expect(p.shape).toEqual([2, 2]);
    expectClose(p.toArray(), [4, 5, 10, 11]);
    expectClose(m.matmul(f64([1, 1, 1])).toArray(), [6, 15]);
    expectClose(
      f64([1, 2, 3])
        .matmul(f64([4, 5, 6]))
        .toArray(),
      [32],
    );
    const batch = f64([1, 0, 0, 1, 2, 0, 0, 2], [2, 2, 2]);
    expectClose(batch.matmul(f64([1, 2, 3, 4], [2, 2])).toArray(), [1, 2, 3, 4, 2, 4, 6, 8]);
  });
  it('sum and mean over all, one or several dims, with keepDim', () => {
    expectClose(m.sum().toArray(), [21]);
    expectClose(m.sum(0).toArray(), [5, 7, 9]);
    expectClose(m.sum(-1).toArray(), [6, 15]);
    expect(m.sum(1, true).shape).toEqual([2, 1]);
    expectClose(m.mean().toArray(), [3.5]);
    expectClose(m.mean(1).toArray(), [2, 5]);
    expectClose(g.mean(m, [0, 1]).toArray(), [3.5]);
  });
  it('reshape (with -1) and transpose', () => {
    const r = m.reshape([3, -1]);
    expect(r.shape).toEqual([3, 2]);
    expectClose(r.toArray(), [1, 2, 3, 4, 5, 6]);
    const t = m.transpose(0, 1);
    expect(t.shape).toEqual([3, 2]);
    expectClose(t.toArray(), [1, 4, 2, 5, 3, 6]); // toArray is row-major even for a non-contiguous view
  });
  it('softmax, logSoftmax and gather', () => {
    const x = f64(
      [
        [1, 2, 3],
        [0, 0, 0],
      ],
      [2, 3],
    );
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    expectClose(x.softmax(1).toArray(), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z, 1 / 3, 1 / 3, 1 / 3]);
    expectClose(x.logSoftmax(-1).toArray(), [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z), -Math.log(3), -Math.log(3), -Math.log(3)]);
    const picked = x.gather(1, tensor([[2], [0]], { dtype: 'int64' }));
    expect(picked.shape).toEqual([2, 1]);
    expectClose(picked.toArray(), [3, 0]);
  });
  it('conv2d with stride, padding, groups and bias', () => {
    const x = f64([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = f64([1, 0, 0, -1], [1, 1, 2, 2]);
    const y = x.conv2d(w, f64([10]));
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expectClose(y.toArray(), [1 - 5 + 10, 2 - 6 + 10, 4 - 8 + 10, 5 - 9 + 10]);
    const padded = g.conv2d(x, f64([1], [1, 1, 1, 1]), null, { padding: 1, stride: 2 });
    expect(padded.shape).toEqual([1, 1, 3, 3]);
    expectClose(padded.toArray(), [0, 0, 0, 0, 5, 0, 0, 0, 0]);
    const two = f64([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
    const grouped = two.conv2d(f64([1, 1], [2, 1, 1, 1]), null, { groups: 2 });
    expectClose(grouped.toArray(), [1, 2, 3, 4, 10, 20, 30, 40]);
  });
  it('maxPool2d with default stride = kernel', () => {
    const x = f64([1, 5, 2, 0, 3, 4, 8, 1, 0, 2, 9, 7, 6, 1, 3, 4], [1, 1, 4, 4]);
    const y = x.maxPool2d(2);
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expectClose(y.toArray(), [5, 8, 6, 9]);
    expectClose(g.maxPool2d(x, 2, { stride: 1 }).toArray(), [5, 8, 8, 4, 9, 9, 6, 9, 9]);
  });
});

describe('gradients against float64 central finite differences', () => {
  const s = [3, 4];
  const positive = (seed: number) => input(s, seed, 0.5, 2);
  it.each([
    ['add', (a: Tensor, b: Tensor) => a.add(b)],
    ['sub', (a: Tensor, b: Tensor) => a.sub(b)],
    ['mul', (a: Tensor, b: Tensor) => a.mul(b)],
    ['div', (a: Tensor, b: Tensor) => a.div(b)],
    ['pow', (a: Tensor, b: Tensor) => a.pow(b)],
  ])('%s (tensor, tensor) with broadcasting', (_, f) => {
    gradcheck(f, [positive(1), { data: values(4, 2, 0.5, 2), shape: [4] }]);
  });
  it.each([
    ['add', (x: Tensor) => g.add(2, x)],
    ['sub', (x: Tensor) => g.sub(2, x)],
    ['mul', (x: Tensor) => x.mul(-3)],
    ['div', (x: Tensor) => g.div(3, x)],
    ['pow', (x: Tensor) => x.pow(2.5)],
    ['pow (scalar base)', (x: Tensor) => g.pow(1.7, x)],
  ])('%s with a number', (_, f) => gradcheck(f, [positive(3)]));
  it.each([
    ['neg', (x: Tensor) => x.neg(), input(s, 4)],
    ['exp', (x: Tensor) => x.exp(), input(s, 5)],
    ['log', (x: Tensor) => x.log(), positive(6)],
    ['sqrt', (x: Tensor) => x.sqrt(), positive(7)],
    ['abs', (x: Tensor) => x.abs(), input(s, 8, 0.1, 1)], // away from the kink at 0
    ['tanh', (x: Tensor) => x.tanh(), input(s, 9, -2, 2)],
    ['relu', (x: Tensor) => x.relu(), input(s, 10, 0.1, 1)],
    ['relu (negative side)', (x: Tensor) => x.relu(), input(s, 10, -1, -0.1)],
    ['sigmoid', (x: Tensor) => x.sigmoid(), input(s, 11, -3, 3)],
    ['elu', (x: Tensor) => x.elu(1.5), input(s, 12, -2, -0.1)],
  ])('%s', (_, f, x) => gradcheck(f, [x]));
  it('matmul (matrix, matrix and batched)', () => {
    gradcheck((a, b) => a.matmul(b), [input([3, 4], 13), input([4, 2], 14)]);
    gradcheck((a, b) => a.matmul(b), [input([2, 3, 4], 15), input([4, 2], 16)]);
  });
  it('sum and mean over dims', () => {
    gradcheck((x) => x.sum(1), [input([3, 4, 2], 17)]);
    gradcheck((x) => x.mean([0, 2], true), [input([3, 4, 2], 18)]);
    gradcheck((x) => x.mean(), [input([3, 4], 19)]);
  });
  it('reshape and transpose', () => {
    gradcheck((x) => x.reshape([4, 3]).transpose(0, 1).exp(), [input([3, 4], 20)]);
  });
  it('logSoftmax, softmax and gather', () => {
    gradcheck((x) => x.logSoftmax(1), [input([3, 5], 21, -2, 2)]);
    gradcheck((x) => x.softmax(0), [input([3, 5], 22, -2, 2)]);
    const index = tensor(
      [
        [0, 4],
        [2, 2],
        [1, 3],
      ],
      { dtype: 'int64' },
    );
    gradcheck((x) => x.gather(1, index), [input([3, 5], 23)]);
  });
  it('conv2d in input, weight and bias', () => {
    gradcheck(
      (x, w, b) => x.conv2d(w, b, { padding: 1, stride: [2, 1] }),
      [input([2, 2, 5, 4], 24), input([3, 2, 3, 2], 25), input([3], 26)],
    );
  });
  it('maxPool2d (distinct values, so no ties)', () => {
    const n = 2 * 6 * 6;
    const distinct = Float64Array.from({ length: n }, (_, i) => ((i * 37) % n) / n);
    gradcheck((x) => x.maxPool2d(2, { stride: 2 }), [{ data: distinct, shape: [1, 2, 6, 6] }], { h: 1e-7 });
  });
  it('a composite: tanh MLP layer with a log-softmax NLL loss', () => {
    const target = tensor([[1], [0], [2]], { dtype: 'int64' });
    gradcheck(
      (x, w, b) => x.matmul(w.transpose(0, 1)).add(b).tanh().logSoftmax(1).gather(1, target).mean().neg(),
      [input([3, 4], 27), input([3, 4], 28), input([3], 29)],
    );
  });
});

describe('torch-style shape ops, joins and max/min', () => {
  const m = f64(
    [
      [1, 5, 3],
      [4, 2, 6],
    ],
    [2, 3],
  );
  it('values and shapes', () => {
    expectClose(m.max().toArray(), [6]);
    expectClose(m.max(1).toArray(), [5, 6]);
    expectClose(g.min(m, 0).toArray(), [1, 2, 3]);
    expect(m.max(0, true).shape).toEqual([1, 3]);
    expect([m.unsqueeze(0).shape, m.unsqueeze(-1).shape, m.unsqueeze(1).shape]).toEqual([
      [1, 2, 3],
      [2, 3, 1],
      [2, 1, 3],
    ]);
    const ones = g.zeros([1, 3, 1]);
    expect([ones.squeeze().shape, ones.squeeze(0).shape, ones.squeeze(1).shape]).toEqual([[3], [3, 1], [1, 3, 1]]);
    const t = g.zeros([2, 3, 4]);
    expect([t.flatten().shape, t.flatten(1).shape, t.flatten(0, 1).shape]).toEqual([[24], [2, 12], [6, 4]]);
    expect(t.permute([2, 0, 1]).shape).toEqual([4, 2, 3]);
    expectClose(m.permute([1, 0]).toArray(), [1, 4, 5, 2, 3, 6]);
    const p = f64(
      Array.from({ length: 24 }, (_, i) => i),
      [2, 3, 4],
    ).permute([1, 2, 0]);
    expect(p.shape).toEqual([3, 4, 2]);
    expectClose(p.toArray().slice(0, 4), [0, 12, 1, 13]); // p[i, j, k] = x[k, i, j]
    expectClose(m.narrow(1, 1, 2).toArray(), [5, 3, 2, 6]);
    expectClose(m.narrow(1, -1, 1).toArray(), [3, 6]);
    expectClose(g.cat([m, m.mul(10)], 0).toArray(), [1, 5, 3, 4, 2, 6, 10, 50, 30, 40, 20, 60]);
    expect(g.cat([m, m], 1).shape).toEqual([2, 6]);
    expect([g.stack([m, m]).shape, g.stack([m, m], -1).shape]).toEqual([
      [2, 2, 3],
      [2, 3, 2],
    ]);
    expectClose(g.stack([m, m.neg()], 2).toArray().slice(0, 4), [1, -1, 5, -5]);
  });
  it('gradients against finite differences', () => {
    gradcheck((x) => x.max(1).mul(x.min(0).sum()), [input([3, 4], 40)]);
    gradcheck((x) => x.unsqueeze(1).permute([2, 0, 1]).flatten(1).narrow(1, 1, 2).squeeze().tanh(), [input([3, 4], 41)]);
    gradcheck((a, b) => g.cat([a, b.exp()], 1).mul(g.stack([a, a], 0).sum(0).sum(1, true)), [input([2, 3], 42), input([2, 2], 43)]);
  });
  it('refuse what does not fit, naming it', () => {
    expect(() => g.cat([m, g.zeros([3, 3], { dtype: 'float64' })], 1)).toThrow(
      'cat: tensors[1] is [3,3], tensors[0] [2,3]: sizes must match but along dim 1',
    );
    expect(() => g.cat([m, g.zeros([2, 3])])).toThrow(
      'cat: tensors[1] is float32 on cpu, tensors[0] float64 on cpu: convert it with .to()',
    );
    expect(() => g.stack([m, g.zeros([3, 2], { dtype: 'float64' })])).toThrow(/^stack: tensors\[1\] is \[3,2\], tensors\[0\] \[2,3\]/);
    expect(() => g.cat([])).toThrow(TypeError);
    expect(() => m.narrow(1, 2, 2)).toThrow('narrow: length must be an integer ≤ 1, got 2');
    expect(() => m.narrow(1, 3, 0)).toThrow(/^narrow: start must be an integer ≤ 2, got 3/);
    expect(() => m.permute([0, 0])).toThrow('permute: dims must list each dimension once, got [0, 0]');
    expect(() => m.permute([0])).toThrow(TypeError);
    expect(() => m.flatten(1, 0)).toThrow('flatten: startDim (1) comes after endDim (0)');
    expect(() => m.unsqueeze(3)).toThrow(/^unsqueeze: dim = 3 is out of range for a tensor of rank 3/);
    expect(() => g.zeros([0]).max()).toThrow('max: the tensor is empty (no maximum)');
  });
});
