import { expect } from 'vitest';
import { tensor, type Tensor } from '../lib';

/** Element-wise |a - b| ≤ atol + rtol·|b|, with the first offending index in the message. */
export function expectClose(actual: ArrayLike<number | bigint>, expected: ArrayLike<number>, rtol = 1e-6, atol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]),
      b = expected[i];
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      throw new Error(`element ${i}: got ${a}, expected ${b} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** Sets p's gradient to c·p through L = Σ c·p²/2, so every gradient is known by hand (on p's device). */
export function withGrad(p: Tensor, c: number): void {
  p.clearGrad();
  p.mul(p)
    .mul(c / 2)
    .sum()
    .backward();
}

/** Deterministic pseudo-random values in [lo, hi) (a tiny LCG, independent of libtorch's generator). */
export function values(n: number, seed = 1, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return out;
}

/**
 * Checks the gradient autograd gives for every input of `f` against a float64 central finite difference of
 * L(x) = Σ w ⊙ f(x), with fixed random weights w (so every output element matters).
 */
export function expectGradientsMatchFiniteDifferences(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Array<{ data: Float64Array; shape: number[] }>,
  { h = 1e-6, rtol = 1e-6, atol = 1e-8 } = {},
): void {
  const make = (datas: Float64Array[], grad: boolean) =>
    datas.map((d, k) => tensor(d, { shape: inputs[k].shape, dtype: 'float64', requiresGrad: grad }));
  const base = inputs.map((i) => i.data);
  const out = f(...make(base, false));
  const w = tensor(values(out.numel, 99), { shape: out.shape, dtype: 'float64' });
  const loss = (datas: Float64Array[]) =>
    f(...make(datas, false))
      .mul(w)
      .sum()
      .item();

  const xs = make(base, true);
  f(...xs)
    .mul(w)
    .sum()
    .backward();
  inputs.forEach((input, k) => {
    const analytic = xs[k].grad!.toArray();
    const numeric = new Float64Array(input.data.length);
    for (let i = 0; i < input.data.length; i++) {
      const plus = base.map((d) => d.slice()),
        minus = base.map((d) => d.slice());
      plus[k][i] += h;
      minus[k][i] -= h;
      numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    expectClose(analytic as Float64Array, numeric, rtol, atol);
  });
}
