// Looking at tensors: String(t) / util.inspect(t) print the values as torch does (the expected bodies below
// are torch 1.13's own repr of the same tensors, printed by Python), tolist() and toJSON().
import * as util from 'node:util';
import { describe, expect, it } from 'vitest';
import { Tensor, ones, tensor, tidy } from '../lib';
import { native } from '../lib/core/native';

// torch.{repr} without "tensor(" and ")" (and without torch's dtype suffix: grnewt always appends its own).
const TORCH = {
  ints2d: '[[1., 2.],\n        [3., 4.]]',
  fixed: '[ 1.5000, -2.2500]',
  sci: '[1.0000e-05, 1.0000e+00]',
  int64: '[  1, -20]',
  summarised2d:
    '[[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 6.7143e+00, 6.8571e+00,\n         7.0000e+00],\n        [7.1429e+00, 7.2857e+00, 7.4286e+00,  ..., 1.3857e+01, 1.4000e+01,\n         1.4143e+01],\n        [1.4286e+01, 1.4429e+01, 1.4571e+01,  ..., 2.1000e+01, 2.1143e+01,\n         2.1286e+01],\n        ...,\n        [2.6429e+02, 2.6443e+02, 2.6457e+02,  ..., 2.7100e+02, 2.7114e+02,\n         2.7129e+02],\n        [2.7143e+02, 2.7157e+02, 2.7171e+02,  ..., 2.7814e+02, 2.7829e+02,\n         2.7843e+02],\n        [2.7857e+02, 2.7871e+02, 2.7886e+02,  ..., 2.8529e+02, 2.8543e+02,\n         2.8557e+02]]',
  summarised3d:
    '[[[   0,    1,    2,  ...,   17,   18,   19],\n         [  20,   21,   22,  ...,   37,   38,   39],\n         [  40,   41,   42,  ...,   57,   58,   59],\n         ...,\n         [ 240,  241,  242,  ...,  257,  258,  259],\n         [ 260,  261,  262,  ...,  277,  278,  279],\n         [ 280,  281,  282,  ...,  297,  298,  299]],\n\n        [[ 300,  301,  302,  ...,  317,  318,  319],\n         [ 320,  321,  322,  ...,  337,  338,  339],\n         [ 340,  341,  342,  ...,  357,  358,  359],\n         ...,\n         [ 540,  541,  542,  ...,  557,  558,  559],\n         [ 560,  561,  562,  ...,  577,  578,  579],\n         [ 580,  581,  582,  ...,  597,  598,  599]],\n\n        [[ 600,  601,  602,  ...,  617,  618,  619],\n         [ 620,  621,  622,  ...,  637,  638,  639],\n         [ 640,  641,  642,  ...,  657,  658,  659],\n         ...,\n         [ 840,  841,  842,  ...,  857,  858,  859],\n         [ 860,  861,  862,  ...,  877,  878,  879],\n         [ 880,  881,  882,  ...,  897,  898,  899]],\n\n        ...,\n\n        [[2100, 2101, 2102,  ..., 2117, 2118, 2119],\n         [2120, 2121, 2122,  ..., 2137, 2138, 2139],\n         [2140, 2141, 2142,  ..., 2157, 2158, 2159],\n         ...,\n         [2340, 2341, 2342,  ..., 2357, 2358, 2359],\n         [2360, 2361, 2362,  ..., 2377, 2378, 2379],\n         [2380, 2381, 2382,  ..., 2397, 2398, 2399]],\n\n        [[2400, 2401, 2402,  ..., 2417, 2418, 2419],\n         [2420, 2421, 2422,  ..., 2437, 2438, 2439],\n         [2440, 2441, 2442,  ..., 2457, 2458, 2459],\n         ...,\n         [2640, 2641, 2642,  ..., 2657, 2658, 2659],\n         [2660, 2661, 2662,  ..., 2677, 2678, 2679],\n         [2680, 2681, 2682,  ..., 2697, 2698, 2699]],\n\n        [[2700, 2701, 2702,  ..., 2717, 2718, 2719],\n         [2720, 2721, 2722,  ..., 2737, 2738, 2739],\n         [2740, 2741, 2742,  ..., 2757, 2758, 2759],\n         ...,\n         [2940, 2941, 2942,  ..., 2957, 2958, 2959],\n         [2960, 2961, 2962,  ..., 2977, 2978, 2979],\n         [2980, 2981, 2982,  ..., 2997, 2998, 2999]]]',
  scalar: '3.5000',
  nonfinite: '[nan, inf, -1.,  2.]',
  wrapped:
    '[0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,\n        3.0000, 3.3333, 3.6667, 4.0000, 4.3333, 4.6667, 5.0000, 5.3333, 5.6667,\n        6.0000, 6.3333, 6.6667, 7.0000, 7.3333, 7.6667, 8.0000, 8.3333, 8.6667,\n        9.0000, 9.3333, 9.6667]',
  float64: '[[ 1.0000e-01,  2.0000e+02],\n        [ 3.0000e+00, -4.5000e+00]]',
};

const arange = (n: number, dtype: 'float32' | 'int64' = 'float32') =>
  dtype === 'int64'
    ? tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(i)))
    : tensor(Float32Array.from({ length: n }, (_, i) => i));
const body = (t: Tensor) => {
  const s = String(t);
  return s.slice('tensor('.length, s.lastIndexOf(', dtype='));
};

describe('printing', () => {
  it('formats values as torch does: integral floats, fixed, scientific, int64, non-finite, 0-d', () => {
    expect(
      body(
        tensor([
          [1, 2],
          [3, 4],
        ]),
      ),
    ).toBe(TORCH.ints2d);
    expect(body(tensor([1.5, -2.25]))).toBe(TORCH.fixed);
    expect(body(tensor([1e-5, 1]))).toBe(TORCH.sci);
    expect(body(tensor([1n, -20n]))).toBe(TORCH.int64);
    expect(body(tensor(3.5))).toBe(TORCH.scalar);
    expect(body(tensor([NaN, Infinity, -1, 2]))).toBe(TORCH.nonfinite);
    expect(body(tensor(new Float64Array([0.1, 200, 3, -4.5]), { shape: [2, 2] }))).toBe(TORCH.float64);
  });

  it('wraps long rows at 80 columns and summarises tensors of more than 1000 elements with 3 edge items', () => {
    expect(body(arange(30).div(3))).toBe(TORCH.wrapped);
    expect(body(arange(2000).reshape([40, 50]).div(7))).toBe(TORCH.summarised2d);
    expect(body(arange(3000, 'int64').reshape([10, 15, 20]))).toBe(TORCH.summarised3d);
  });

  it('shows dtype, shape, device and requiresGrad; console.log and util.inspect show the same', () => {
    const x = tensor(new Float64Array([1, 2, 3, 4]), { shape: [2, 2], requiresGrad: true });
    const expected = 'tensor([[1., 2.],\n        [3., 4.]], dtype=float64, shape=[2, 2], device=cpu, requiresGrad=true)';
    expect(String(x)).toBe(expected);
    expect(util.inspect(x)).toBe(expected);
    expect(util.format('%o', x)).toContain('dtype=float64');
    expect(String(ones([0, 3]))).toBe('tensor([], dtype=float32, shape=[0, 3], device=cpu)');
    const freed = tidy(() => ones([2]));
    freed.dispose();
    expect(String(freed)).toBe('Tensor(disposed)');
  });

  it('a summarised tensor copies out only the values it shows: an expanded view of 2^40 elements prints (it threw, copying them all)', () => {
    // What loadTorch makes of torch.ones(1).expand(2**40): one stored value seen 2^40 times.
    const one = ones([1]);
    const huge = new Tensor(native().asStrided(one.handle('test'), [2 ** 40], [0], 0));
    expect(String(huge)).toBe('tensor([1., 1., 1.,  ..., 1., 1., 1.], dtype=float32, shape=[1099511627776], device=cpu)');
    const square = new Tensor(native().asStrided(one.handle('test'), [2 ** 20, 2 ** 20], [0, 0], 0));
    expect(util.inspect({ square })).toContain('[1., 1., 1.,  ..., 1., 1., 1.]], dtype=float32, shape=[1048576, 1048576]');
  });
});

describe('tolist and toJSON', () => {
  it('tolist gives nested arrays of numbers (bigints for int64), a value for 0-d tensors', () => {
    expect(
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]).tolist(),
    ).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(tensor(new Float64Array([0.1]), { shape: [1, 1, 1] }).tolist()).toEqual([[[0.1]]]);
    expect(tensor([[7n], [-8n]]).tolist()).toEqual([[7n], [-8n]]);
    expect(tensor(2.5).tolist()).toBe(2.5);
    expect(ones([2, 0]).tolist()).toEqual([[], []]);
    expect(arange(24).reshape([2, 3, 4]).tolist()).toEqual(
      Array.from({ length: 2 }, (_, i) => Array.from({ length: 3 }, (_, j) => Array.from({ length: 4 }, (_, k) => 12 * i + 4 * j + k))),
    );
  });

  it('toJSON gives { dtype, shape, device, data } that JSON.stringify writes (int64 beyond 2^53 as strings)', () => {
    expect(
      JSON.parse(
        JSON.stringify({
          w: tensor([
            [1.5, 2],
            [3, 4],
          ]),
        }),
      ),
    ).toEqual({
      w: {
        dtype: 'float32',
        shape: [2, 2],
        device: 'cpu',
        data: [
          [1.5, 2],
          [3, 4],
        ],
      },
    });
    const big = tensor([1n, 2n ** 60n, -(2n ** 53n) - 1n]);
    expect(JSON.parse(JSON.stringify(big))).toEqual({
      dtype: 'int64',
      shape: [3],
      device: 'cpu',
      data: [1, '1152921504606846976', '-9007199254740993'],
    });
    const gone = ones([1]);
    gone.dispose();
    expect(JSON.stringify(gone)).toBe('{"disposed":true}');
  });
});
