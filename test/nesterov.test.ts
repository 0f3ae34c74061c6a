// nesterovLrs: solutions satisfy η = (H + ½λ‖Dη‖D²)⁻¹ g, are the root of largest r, and every branch and
// failure of the method note has a case.
import { describe, expect, it } from 'vitest';
import { nesterovLrs, ridgeLrs, tensor } from '../lib';
import { expectClose, values } from './helpers';

const c64 = { dtype: 'float64' as const };
type Problem = { H: number[][]; g: number[]; d: number[]; lambda: number };

function solveLinear(A: number[][], b: number[]): number[] {
  const n = b.length,
    M = A.map((row, i) => [...row, b[i]]);
  for (let k = 0; k < n; k++) {
    const p = M.slice(k).reduce((best, row, i) => (Math.abs(row[k]) > Math.abs(M[best][k]) ? k + i : best), k);
    [M[k], M[p]] = [M[p], M[k]];
    for (let i = k + 1; i < n; i++) {
      const f = M[i][k] / M[k][k];
      for (let j = k; j <= n; j++) M[i][j] -= f * M[k][j];
    }
  }
  const x = new Array(n).fill(0);
  for (let i = n - 1; i >= 0; i--) x[i] = (M[i][n] - M[i].slice(i + 1, n).reduce((s, a, j) => s + a * x[i + 1 + j], 0)) / M[i][i];
  return x;
}

const regularised = ({ H, d, lambda }: Problem, r: number) =>
  H.map((row, i) => row.map((h, j) => h + (i === j ? 0.5 * lambda * r * d[i] ** 2 : 0)));
const normD = (d: number[], eta: number[]) => Math.hypot(...eta.map((e, i) => d[i] * e));
/** f(r) = ‖D (H + ½λrD²)⁻¹ g‖ − r */
const f = (p: Problem, r: number) => normD(p.d, solveLinear(regularised(p, r), p.g)) - r;

function isPositiveSemidefinite(A: number[][], tol: number): boolean {
  const n = A.length,
    L = A.map((row) => row.map(() => 0));
  for (let j = 0; j < n; j++) {
    let s = A[j][j] + tol;
    for (let k = 0; k < j; k++) s -= L[j][k] ** 2;
    if (s <= 0) return false;
    L[j][j] = Math.sqrt(s);
    for (let i = j + 1; i < n; i++) {
      let t = A[i][j];
      for (let k = 0; k < j; k++) t -= L[i][k] * L[j][k];
      L[i][j] = t / L[j][j];
    }
  }
  return true;
}

function run(p: Problem) {
  const S = p.g.length;
  return nesterovLrs(tensor(p.H.flat(), { ...c64, shape: [S, S] }), tensor(p.g, c64), tensor(p.d, c64), { dampingInt: p.lambda });
}

/** The fixed point to 1e-10 relative, and no root beyond: M(r) ⪰ 0 there and f < 0 further out. */
function expectLargestSolution(p: Problem) {
  const result = run(p);
  expect(result.found, result.reason).toBe(true);
  const eta = Array.from(result.lrs!.toArray() as Float64Array);
  const r = normD(p.d, eta);
  expect(Math.abs(r - result.r!)).toBeLessThanOrEqual(1e-10 * Math.max(1, r));
  const M = regularised(p, r);
  const lhs = M.map((row) => row.reduce((s, m, j) => s + m * eta[j], 0));
  const scale = Math.hypot(...p.g) + Math.hypot(...M.flat()) * Math.hypot(...eta);
  expect(Math.hypot(...lhs.map((v, i) => v - p.g[i])) / scale).toBeLessThanOrEqual(1e-10);
  expect(result.residual!).toBeLessThanOrEqual(1e-10);
  const mScale = Math.max(...M.flat().map(Math.abs));
  expect(isPositiveSemidefinite(M, 1e-9 * mScale)).toBe(true);
  for (const k of [1e-6, 1e-3, 0.1, 1, 10]) expect(f(p, r * (1 + k) + k)).toBeLessThan(0);
  return { result, eta, r };
}

function randomSymmetric(S: number, seed: number, shift: number): number[][] {
  const a = values(S * S, seed);
  return Array.from({ length: S }, (_, i) =>
    Array.from({ length: S }, (_, j) => 0.5 * (a[i * S + j] + a[j * S + i]) + (i === j ? shift : 0)),
  );
}

describe('nesterovLrs', () => {
  it('positive-definite H̄: the search starts at 0', () => {
    for (const seed of [1, 2, 3]) {
      const p = {
        H: randomSymmetric(5, seed, 3),
        g: Array.from(values(5, seed + 10)),
        d: Array.from(values(5, seed + 20, 0.2, 2)),
        lambda: 10,
      };
      const { result } = expectLargestSolution(p);
      expect(result.branch).toBe('positive-definite');
      expect(result.r0).toBe(0);
    }
  });

  it('indefinite H̄ with D invertible: r0 = (2/λ)·max(0, −λmin(D⁻¹H̄D⁻¹)) and the root lies beyond it', () => {
    const p = {
      H: [
        [-2, 0.5],
        [0.5, 1],
      ],
      g: [1, -0.5],
      d: [2, 1],
      lambda: 4,
    };
    const { result, r } = expectLargestSolution(p);
    expect(result.branch).toBe('indefinite');
    const m = [
      [-2 / 4, 0.5 / 2],
      [0.5 / 2, 1],
    ]; // D⁻¹HD⁻¹
    const lmin = (m[0][0] + m[1][1]) / 2 - Math.sqrt(((m[0][0] - m[1][1]) / 2) ** 2 + m[0][1] ** 2);
    expect(result.r0).toBeCloseTo((2 / 4) * -lmin, 12);
    expect(r).toBeGreaterThan(result.r0);
    for (const seed of [4, 5, 6]) {
      expectLargestSolution({
        H: randomSymmetric(6, seed, -0.5),
        g: Array.from(values(6, seed + 1)),
        d: Array.from(values(6, seed + 2, 0.1, 1)),
        lambda: 3,
      });
    }
  });

  it('D with zero entries: those subsets are eliminated exactly (H̄ positive definite on them)', () => {
    const p = {
      H: [
        [1, 0.3, 0.1],
        [0.3, -0.5, 0.2],
        [0.1, 0.2, 2],
      ],
      g: [0.5, 1, -1],
      d: [0, 1.5, 0],
      lambda: 2,
    };
    const { result } = expectLargestSolution(p);
    expect(result.dSingular).toBe(true);
    // In closed form, where eliminating η₀ (d₀ = 0) must subtract H₀₁H₀₀⁻¹g₀ from g₁ (adding it cancels g₁ here):
    // H = [[2, 1], [1, 3]], g = (2, −1), d = (0, 1), λ = 2. η₀ = (2 − η₁)/2 leaves (3 − ½ + r)η₁ = −1 − 1 with
    // r = |η₁|, so r² + 2.5r − 2 = 0, η₁ = −r.
    const r = (-2.5 + Math.sqrt(2.5 ** 2 + 8)) / 2;
    const eliminated = expectLargestSolution({
      H: [
        [2, 1],
        [1, 3],
      ],
      g: [2, -1],
      d: [0, 1],
      lambda: 2,
    });
    expect(eliminated.eta[1]).toBeCloseTo(-r, 14);
    expect(eliminated.eta[0]).toBeCloseTo((2 + r) / 2, 14);
    expect(eliminated.result.r).toBeCloseTo(r, 14);
  });

  it('negative curvature where D = 0 has no solution, and says so', () => {
    const result = run({
      H: [
        [-1, 0],
        [0, 1],
      ],
      g: [1, 1],
      d: [0, 1],
      lambda: 2,
    });
    expect(result.found).toBe(false);
    expect(result.lrs).toBeNull();
    expect(result.reason).toMatch(/not positive definite on the subsets where D = 0/);
    // The eigenvalue as JS shows numbers (C's %f printed it as -0.000000).
    const small = run({
      H: [
        [-2.5e-9, 0],
        [0, 1],
      ],
      g: [1, 1],
      d: [0, 1],
      lambda: 2,
    });
    expect(small.reason).toMatch(/on the subsets where D = 0 \(smallest eigenvalue -2\.5e-09\)/);
  });

  it('D = 0 has no solution (f(0) = 0), and says so', () => {
    const result = run({
      H: [
        [1, 0],
        [0, 1],
      ],
      g: [1, 1],
      d: [0, 0],
      lambda: 2,
    });
    expect(result.found).toBe(false);
    expect(result.reason).toMatch(/D = 0/);
  });

  it('ḡ = 0 with H̄ positive definite: no step, and says so', () => {
    const result = run({
      H: [
        [1, 0],
        [0, 1],
      ],
      g: [0, 0],
      d: [1, 1],
      lambda: 2,
    });
    expect(result.found).toBe(false);
    expect(result.reason).toMatch(/ḡ vanishes/);
  });

  it('dampingInt = 0: plain Newton when H̄ ≻ 0, a RangeError when it is not', () => {
    const p = {
      H: [
        [2, 0.5],
        [0.5, 1],
      ],
      g: [1, 1],
      d: [1, 1],
      lambda: 0,
    };
    const { result, eta } = expectLargestSolution(p);
    expect(result.branch).toBe('newton');
    const newton = solveLinear(p.H, p.g);
    eta.forEach((e, i) => expect(e).toBeCloseTo(newton[i], 14));
    expect(() =>
      run({
        ...p,
        H: [
          [-1, 0],
          [0, 1],
        ],
      }),
    ).toThrow(RangeError);
    expect(() =>
      run({
        ...p,
        H: [
          [-1, 0],
          [0, 1],
        ],
      }),
    ).toThrow(/dampingInt = 0 with an H̄ that is not positive definite/);
    // The eigenvalue as JS shows numbers (C's %f printed it as -0.000000).
    expect(() =>
      run({
        ...p,
        H: [
          [-2.5e-9, 0],
          [0, 1],
        ],
      }),
    ).toThrow(/not positive definite \(smallest eigenvalue -2\.5e-09\)/);
  });

  it('the hard case (ḡ orthogonal to the critical eigenvector) is solved at r0, not failed', () => {
    // H = diag(−1, 2), D = I, λ = 2: r0 = 1; ḡ = (0, 1) has no component on e1. Solution: η2 = 1/3 and
    // |η1| = √(1 − 1/9), so that ‖η‖ = r0 = 1.
    const p = {
      H: [
        [-1, 0],
        [0, 2],
      ],
      g: [0, 1],
      d: [1, 1],
      lambda: 2,
    };
    const { result, eta } = expectLargestSolution(p);
    expect(result.branch).toBe('hard-case');
    expect(eta[1]).toBeCloseTo(1 / 3, 14);
    expect(Math.abs(eta[0])).toBeCloseTo(Math.sqrt(8 / 9), 14);
    // Nearly hard, in a rotated basis (round-off everywhere): still a solution, never a spurious failure.
    const t = 0.3,
      [co, si] = [Math.cos(t), Math.sin(t)];
    const R = [
      [co, -si],
      [si, co],
    ];
    const Hr = R.map((ri) => R.map((rj) => ri[0] * -1 * rj[0] + ri[1] * 2 * rj[1]));
    for (const eps of [0, 1e-15, 1e-12, 1e-8]) {
      const gr = [R[0][0] * eps + R[0][1] * 1, R[1][0] * eps + R[1][1] * 1];
      expectLargestSolution({ H: Hr, g: gr, d: [1, 1], lambda: 2 });
    }
  });

  it("the hard case's free component takes the sign of ḡ's own (numerically nil) component, as the regular case's does", () => {
    // ḡ = (ε, 1), H = diag(−1, 2), D = I, λ = 2. For ε ≠ 0 the root r > r0 = 1 has η1 = ε/(r − 1), of ε's sign;
    // at ε = ±1e-20 the solver cannot see r − r0 and takes the hard case: η1 = ±√(8/9) must keep that sign (the
    // continuous limit, and ḡᵀη > 0, a descent step), where either sign satisfies the equations to round-off.
    for (const eps of [1e-20, -1e-20, 1e-8, -1e-8]) {
      const p = {
        H: [
          [-1, 0],
          [0, 2],
        ],
        g: [eps, 1],
        d: [1, 1],
        lambda: 2,
      };
      const { result, eta } = expectLargestSolution(p);
      if (Math.abs(eps) < 1e-15) expect(result.branch).toBe('hard-case');
      expect(Math.sign(eta[0])).toBe(Math.sign(eps));
      expect(Math.abs(eta[0])).toBeCloseTo(Math.sqrt(8 / 9), 6);
    }
  });

  it("works in float64 whatever the input dtype, and returns lrs in H's dtype", () => {
    // Inputs exactly representable in float32, so both calls solve the same problem: the float32 answer must be
    // the float64 one rounded once to float32 (a solve in float32 would be off by far more than one rounding).
    const [H, g, d] = [
      [
        [2, 0.5],
        [0.5, 1],
      ],
      [1, -0.25],
      [1, 0.375],
    ];
    const single = nesterovLrs(tensor(H), tensor(g), tensor(d), { dampingInt: 3 });
    const double = expectLargestSolution({ H, g, d, lambda: 3 }); // the float64 solution, checked
    expect(single.lrs!.dtype).toBe('float32');
    expect(single.found).toBe(true);
    expect(single.r).toBe(double.result.r);
    expect(Array.from(single.lrs!.toArray() as Float32Array)).toEqual(double.eta.map(Math.fround));
  });

  it('rejects bad input clearly', () => {
    const H = tensor(
        [
          [1, 0],
          [0, 1],
        ],
        c64,
      ),
      g = tensor([1, 1], c64),
      d = tensor([1, 1], c64);
    expect(() => nesterovLrs(H, g, d, { dampingInt: -1 })).toThrow('nesterovLrs: dampingInt must be a finite number ≥ 0, got -1');
    // The native check's number as JS shows it, 6 significant digits (C's to_string printed -0.000000).
    expect(() => nesterovLrs(H, g, tensor([1, -1.23456e-12], c64), { dampingInt: 1 })).toThrow(
      "nesterovLrs: order3_ (D's diagonal) must be ≥ 0, got -1.23456e-12",
    );
    expect(() => nesterovLrs(H, g, d, {} as never)).toThrow(/dampingInt must be a number/);
    expect(() => nesterovLrs(H, tensor([1, 1, 1], c64), d, { dampingInt: 1 })).toThrow(/H must be \[S,S\] with S = 3/);
    expect(() => nesterovLrs(H, g, tensor([1, -1], c64), { dampingInt: 1 })).toThrow(/must be ≥ 0/);
    expect(() => nesterovLrs(H, tensor([NaN, 1], c64), d, { dampingInt: 1 })).toThrow(/NaN or infinite/);
    expect(() => nesterovLrs(H, g, [1, 1] as never, { dampingInt: 1 })).toThrow(TypeError);
  });
});

describe('ridgeLrs', () => {
  it('solves (H̄ + ridge·I) η = ḡ: the ridge is added to the diagonal', () => {
    // H̄ = [[2, 1], [1, 3]], ridge 1: [[3, 1], [1, 4]] η = [1, 2] gives η = [2/11, 5/11] (Cramer's rule)
    const r = ridgeLrs(
      tensor(
        [
          [2, 1],
          [1, 3],
        ],
        { dtype: 'float64' },
      ),
      tensor([1, 2], { dtype: 'float64' }),
      { ridge: 1 },
    );
    expect([r.found, r.branch]).toEqual([true, 'ridge']);
    expectClose(r.lrs!.toArray(), [2 / 11, 5 / 11], 1e-15);
  });
});

describe('degenerate inputs are refused, not crashed on', () => {
  it('no subset at all (S = 0): a RangeError from both solvers (it read past the end: SIGSEGV)', () => {
    const none = () => tensor([], { dtype: 'float64', shape: [0] });
    expect(() => nesterovLrs(tensor([], { dtype: 'float64', shape: [0, 0] }), none(), none(), { dampingInt: 1 })).toThrow(
      new RangeError('nesterovLrs: there must be at least one subset (S = 0)'),
    );
    expect(() => ridgeLrs(tensor([], { dtype: 'float64', shape: [0, 0] }), none(), { ridge: 1 })).toThrow(
      new RangeError('ridge: there must be at least one subset (S = 0)'),
    );
  });
  it('int64 summaries (learning rates would be truncated to integers)', () => {
    const i = (v: number[], shape: number[]) => tensor(v, { dtype: 'int64', shape });
    expect(() => nesterovLrs(i([2], [1, 1]), i([1], [1]), i([1], [1]), { dampingInt: 1 })).toThrow(
      /^nesterovLrs: H must be float32 or float64, got int64/,
    );
    expect(() => ridgeLrs(tensor([[2]]), i([1], [1]), { ridge: 1 })).toThrow(/^ridgeLrs: g must be float32 or float64, got int64/);
  });
});

describe('subsets along which nothing moves', () => {
  it('drop out of the problem and get η = 0: the others get the reduced problem’s η exactly (with them, H̄ was singular and no subset got a rate)', () => {
    const f = (v: number[][] | number[]) =>
      tensor(v.flat() as number[], { dtype: 'float64', shape: Array.isArray(v[0]) ? [v.length, v.length] : [v.length] });
    const H = f([
      [2, 0, 0.5],
      [0, 0, 0],
      [0.5, 0, 1],
    ]);
    const [g, d] = [f([1, 0, 0.5]), f([0.3, 0, 0.2])];
    const reduced = nesterovLrs(
      f([
        [2, 0.5],
        [0.5, 1],
      ]),
      f([1, 0.5]),
      f([0.3, 0.2]),
      { dampingInt: 1 },
    );
    const full = nesterovLrs(H, g, d, { dampingInt: 1 });
    expect(full.found).toBe(true);
    const [a, b] = [Array.from(reduced.lrs!.toArray()), Array.from(full.lrs!.toArray())];
    expect(b).toEqual([a[0], 0, a[1]]);
    expect(Array.from(ridgeLrs(H, g, { ridge: 0 }).lrs!.toArray())).toEqual([
      ...[
        Array.from(
          ridgeLrs(
            f([
              [2, 0.5],
              [0.5, 1],
            ]),
            f([1, 0.5]),
            { ridge: 0 },
          ).lrs!.toArray(),
        ),
      ].flatMap(([x, y]) => [x, 0, y]),
    ]);
    const zeros = nesterovLrs(
      f([
        [0, 0],
        [0, 0],
      ]),
      f([0, 0]),
      f([0, 0]),
      { dampingInt: 1 },
    );
    expect([zeros.found, zeros.reason]).toEqual([false, 'nothing moves: H̄, ḡ and D are zero on every subset']);
  });
});
