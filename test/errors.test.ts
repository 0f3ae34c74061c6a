// Bad arguments give typed JS errors that name the argument; libtorch's own errors arrive as JS errors with
// the native message; nothing a caller passes reaches an abort.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { ones, tensor, zeros } from '../lib';
import { native } from '../lib/core/native';

describe('argument checks in the façade', () => {
  it.each([
    [
      'matmul of [2,3] and [4,5]',
      () => zeros([2, 3]).matmul(zeros([4, 5])),
      RangeError,
      'matmul: inner dimensions differ: [2,3] @ [4,5] (3 vs 4)',
    ],
    ['matmul of a 0-d tensor', () => tensor(1).matmul(zeros([1])), RangeError, /at least one dimension/],
    [
      'matmul of float32 and float64',
      () => zeros([2, 2]).matmul(zeros([2, 2], { dtype: 'float64' })),
      TypeError,
      /same dtype, got float32 and float64/,
    ],
    ['add of unbroadcastable shapes', () => zeros([2, 3]).add(zeros([2])), RangeError, 'add: shapes [2,3] and [2] are not broadcastable'],
    ['add of two numbers', () => g.add(1, 2), TypeError, /at least one operand must be a Tensor/],
    ['mul by a string', () => zeros([1]).mul('2' as never), TypeError, 'mul: b must be a Tensor or a number, got "2"'],
    ['exp of a non-tensor', () => g.exp([1, 2] as never), TypeError, 'exp: input must be a Tensor, got [1, 2]'],
    [
      'sum over a dim out of range',
      () => zeros([2, 3]).sum(2),
      RangeError,
      'sum: dim = 2 is out of range for a tensor of rank 2 (expected -2..1)',
    ],
    ['sum over a repeated dim', () => zeros([2, 3]).sum([1, -1]), RangeError, /twice/],
    ['mean of int64', () => tensor([1, 2], { dtype: 'int64' }).mean(), TypeError, /mean: needs a float32 or float64 tensor/],
    [
      'reshape to a wrong size',
      () => zeros([2, 3]).reshape([4, 2]),
      RangeError,
      /cannot view a tensor of shape \[2,3\] \(6 elements\) as \[4,2\]/,
    ],
    ['reshape with two -1', () => zeros([2, 3]).reshape([-1, -1]), RangeError, /at most one size may be -1/],
    ['transpose with a fractional dim', () => zeros([2, 3]).transpose(0.5, 1), RangeError, 'transpose: dim0 must be an integer, got 0.5'],
    ['gather with a float index', () => zeros([2, 3]).gather(1, zeros([2, 1])), TypeError, /index must be an int64 tensor/],
    ['gather with an index of another rank', () => zeros([2, 3]).gather(1, tensor([1], { dtype: 'int64' })), RangeError, /rank 2/],
    [
      'conv2d with mismatched channels',
      () => zeros([1, 3, 5, 5]).conv2d(zeros([4, 2, 3, 3])),
      RangeError,
      /input has 3 channels but weight \[4,2,3,3\]/,
    ],
    [
      'conv2d with a kernel larger than the input',
      () => zeros([1, 1, 2, 2]).conv2d(zeros([1, 1, 3, 3])),
      RangeError,
      /larger than the padded input/,
    ],
    [
      'conv2d with a bias of the wrong size',
      () => zeros([1, 1, 4, 4]).conv2d(zeros([2, 1, 3, 3]), zeros([3])),
      RangeError,
      /bias must have shape \[2\]/,
    ],
    [
      'maxPool2d with a zero kernel',
      () => zeros([1, 1, 4, 4]).maxPool2d(0),
      RangeError,
      'maxPool2d: kernelSize must be an integer (≥ 1), got 0',
    ],
    ['maxPool2d with too much padding', () => zeros([1, 1, 4, 4]).maxPool2d(2, { padding: 2 }), RangeError, /at most half the kernel size/],
    ['tensor from a string', () => tensor('1' as never), TypeError, /data must be a number, a nested array/],
    ['tensor from ragged arrays', () => tensor([[1, 2], [3]]), RangeError, /ragged: data\[1\] should be an array of 2 elements/],
    ['tensor with a non-number inside', () => tensor([1, null] as never), TypeError, 'tensor: data[1] must be a number, got null'],
    [
      'tensor with a shape that does not fit',
      () => tensor(new Float32Array(6), { shape: [4, 2] }),
      RangeError,
      'tensor: shape [4,2] holds 8 elements but data has 6',
    ],
    ['tensor int64 from fractions', () => tensor([1.5], { dtype: 'int64' }), RangeError, /int64 needs integer data, element 0 is 1.5/],
    [
      'tensor with an unknown dtype',
      () => tensor([1], { dtype: 'float16' as never }),
      TypeError,
      /dtype must be 'float32', 'float64' or 'int64', got "float16"/,
    ],
    [
      'tensor with an unknown device',
      () => tensor([1], { device: 'tpu' as never }),
      TypeError,
      /device must be 'cpu' or 'cuda', got "tpu"/,
    ],
    [
      'an int64 tensor that requires grad',
      () => tensor([1], { dtype: 'int64', requiresGrad: true }),
      TypeError,
      /only float32\/float64 tensors can require grad/,
    ],
    ['zeros with a negative size', () => zeros([2, -1]), RangeError, 'zeros: shape[1] must be an integer (≥ 0), got -1'],
    ['zeros with a non-array shape', () => zeros(3 as never), TypeError, /shape must be an array of sizes/],
    ['randn of int64', () => g.randn([2], { dtype: 'int64' }), TypeError, /randn: dtype must be float32 or float64/],
    ['item of several values', () => zeros([2]).item(), RangeError, /exactly one value, its shape is \[2\]/],
    ['backward of a non-scalar', () => zeros([2], { requiresGrad: true }).mul(2).backward(), RangeError, /must be a scalar/],
    ['backward without a graph', () => zeros([1]).backward(), TypeError, /has no graph/],
    ['setNumThreads(0)', () => g.setNumThreads(0), RangeError, 'setNumThreads: n must be an integer (≥ 1), got 0'],
    ['manualSeed(-1)', () => g.manualSeed(-1), RangeError, /seed must be an integer \(≥ 0\)/],
    ['options that are not an object', () => zeros([1], 'float64' as never), TypeError, /options must be an object, got "float64"/],
  ])('%s', (_, call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message as string | RegExp);
  });
});

describe('errors raised inside libtorch', () => {
  it('arrive as JS errors with the native message and no C++ backtrace', () => {
    const x = ones([2], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    let error: Error | undefined;
    try {
      y.backward(); // the graph was freed by the first backward
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/this graph was already backpropagated through, and backward\(\) freed the values it saved/);
    expect(error!.message).not.toMatch(/Exception raised from/);
  });

  it('an index out of range is a RangeError naming the op and the value, not a crash or libtorch text', () => {
    expect(() => zeros([2, 3]).gather(1, tensor([[5], [0]], { dtype: 'int64' }))).toThrow(
      new RangeError('gather: index holds 5, outside 0..2 (the size of the indexed dim)'),
    );
    expect(() => zeros([2, 3]).indexSelect(0, tensor([-1], { dtype: 'int64' }))).toThrow(
      new RangeError('indexSelect: index holds -1, outside 0..1 (the size of the indexed dim)'),
    );
    expect(() => zeros([2, 0]).argmax(1)).toThrow(new RangeError('argmax: dim 1 has size 0 (no maximum), shape [2,0]'));
  });

  it('changing requiresGrad of a non-leaf is an error', () => {
    const y = ones([2], { requiresGrad: true }).mul(2);
    expect(() => {
      y.requiresGrad = false;
    }).toThrow(/leaf/);
  });
});

describe('the raw addon survives any argument (the last line of defence under the façade)', () => {
  const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const junk: unknown[] = [undefined, null, 0, -1, 1.5, NaN, 'x', {}, [], [1, -2], [1.5], new Uint8Array(2), Symbol('s'), () => 0, 10n];
  it('every exported function, called with junk, throws a JS Error or returns', () => {
    const untouched = ones([2, 2]);
    let calls = 0;
    for (const [name, fn] of Object.entries(addon)) {
      if (typeof fn !== 'function' || name === 'benchAddLoop') continue;
      for (const a of junk) {
        const handle = ones([2, 2]).handle('test'); // fresh: `dispose` is among the functions called
        for (const b of [a, handle]) {
          calls++;
          try {
            fn(b === handle ? a : handle, b, a, a, a, a, a);
            fn(a, b);
          } catch (e) {
            expect(e).toBeInstanceOf(Error);
          }
        }
      }
    }
    expect(calls).toBeGreaterThan(1000);
    expect(untouched.add(1).toArray()).toEqual(Float32Array.from([2, 2, 2, 2]));
  });
  it('type checks handles: a plain object or another class is no tensor', () => {
    expect(() => addon.shape({})).toThrow(TypeError);
    expect(() => addon.shape(Object.create(null))).toThrow('tensor must be a Tensor');
  });
});
