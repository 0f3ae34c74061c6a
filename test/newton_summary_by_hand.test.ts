// NewtonSummary's update rules checked by hand: a cubic loss whose derivatives are known in closed form, and
// the method note's rules (momentum direction or Adam's, periodHg, warm start, lr = damping·η̃, the moving
// average of the lrs, removeNegative, averaged summaries) re-implemented below in plain float64 JS with their
// own solvers (a 1-D bisection on r = ‖Dη‖ for the Nesterov step, Gaussian elimination for the ridge step).
// Every hyperparameter is passed explicitly and none is symmetric (a factor and its complement differ), so
// no default and no swapped factor can hide.
import { describe, expect, it } from 'vitest';
import { NewtonSummary, tensor, tidy, type NewtonSummaryOptions, type Tensor } from '../lib';
import { values } from './helpers';

// ---- The problem: θ ∈ R⁵ is (w₀, w₁, v₀, b₀, b₁), three parameter tensors w [2], v [1], b [2].
// L(θ; c, κ) = cᵀθ + ½ θᵀQθ + ⅙ Σᵢ κᵢ θᵢ³, so ∇L = c + Qθ + ½ κ⊙θ², ∇²L = Q + diag(κ⊙θ), D³L[u,u,u] = Σ κᵢuᵢ³.
// A batch is [c as a [1, 5] row, κ as a [5, 1] column]: the hg batches and training batches differ.
const P = 5;
const Q = [
  [2.0, 0.3, -0.4, 0.5, 0.1],
  [0.3, 1.5, 0.2, -0.6, 0.2],
  [-0.4, 0.2, 1.2, 0.3, -0.3],
  [0.5, -0.6, 0.3, 1.8, 0.4],
  [0.1, 0.2, -0.3, 0.4, 0.9],
];
const theta0 = [0.6, -0.4, 0.8, -0.3, 0.5];

interface Coefficients {
  c: number[];
  k: number[];
}

function coefficients(seed: number, kScale = 1.5): Coefficients {
  return { c: Array.from(values(P, seed, -1, 1)), k: Array.from(values(P, seed + 1000, -kScale, kScale)) };
}

function asBatch(b: Coefficients): [Tensor, Tensor] {
  return [
    tensor(Float64Array.from(b.c), { shape: [1, P], dtype: 'float64' }),
    tensor(Float64Array.from(b.k), { shape: [P, 1], dtype: 'float64' }),
  ];
}

/** The model's parameters and the loss as libtorch ops (autograd differentiates it; the test never does). */
function makeModel() {
  const f64 = { dtype: 'float64' as const };
  const w = tensor(Float64Array.from(theta0.slice(0, 2)), { ...f64, requiresGrad: true });
  const v = tensor(Float64Array.from(theta0.slice(2, 3)), { ...f64, requiresGrad: true });
  const b = tensor(Float64Array.from(theta0.slice(3, 5)), { ...f64, requiresGrad: true });
  // θ = E_w w + E_v v + E_b b with selection matrices (no concatenation op needed).
  const select = (offset: number, n: number) => {
    const e = new Float64Array(P * n);
    for (let j = 0; j < n; j++) e[(offset + j) * n + j] = 1;
    return tensor(e, { shape: [P, n], ...f64 });
  };
  const [Ew, Ev, Eb] = [select(0, 2), select(2, 1), select(3, 2)];
  const Qt = tensor(Float64Array.from(Q.flat()), { shape: [P, P], ...f64 });
  const fullLoss = (x: Tensor, y: Tensor) => {
    const theta = Ew.matmul(w.reshape([2, 1]))
      .add(Ev.matmul(v.reshape([1, 1])))
      .add(Eb.matmul(b.reshape([2, 1])));
    const quadratic = theta.transpose(0, 1).matmul(Qt).matmul(theta).sum().mul(0.5);
    return x
      .matmul(theta)
      .sum()
      .add(quadratic)
      .add(y.mul(theta.pow(3)).sum().div(6));
  };
  const theta = () => [...(w.toArray() as Float64Array), ...(v.toArray() as Float64Array), ...(b.toArray() as Float64Array)];
  return { w, v, b, fullLoss, theta };
}

// ---- The closed-form derivatives.
function gradient(theta: number[], { c, k }: Coefficients): number[] {
  return theta.map((t, i) => c[i] + Q[i].reduce((s, q, j) => s + q * theta[j], 0) + 0.5 * k[i] * t * t);
}

/** ḡ_s = ⟨∇L, u_s⟩, H̄_st = u_sᵀ ∇²L u_t, order3_s = D³L[u_s, u_s, u_s], with u_s = u on group s's components. */
function summaries(theta: number[], u: number[], groups: number[][], batch: Coefficients) {
  const grad = gradient(theta, batch);
  const hess = Q.map((row, i) => row.map((q, j) => q + (i === j ? batch.k[i] * theta[i] : 0)));
  const g = groups.map((s) => s.reduce((acc, i) => acc + grad[i] * u[i], 0));
  const H = groups.map((s) => groups.map((t) => s.reduce((acc, i) => acc + t.reduce((a, j) => a + u[i] * hess[i][j] * u[j], 0), 0)));
  const order3 = groups.map((s) => s.reduce((acc, i) => acc + batch.k[i] * u[i] ** 3, 0));
  return { H, g, order3 };
}

// ---- Independent solvers.
/** (A)⁻¹ b by Gaussian elimination with partial pivoting. */
function solveLinear(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r][col]) > Math.abs(M[pivot][col])) pivot = r;
    [M[col], M[pivot]] = [M[pivot], M[col]];
    for (let r = col + 1; r < n; r++) {
      const f = M[r][col] / M[col][col];
      for (let k = col; k <= n; k++) M[r][k] -= f * M[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let acc = M[r][n];
    for (let k = r + 1; k < n; k++) acc -= M[r][k] * x[k];
    x[r] = acc / M[r][r];
  }
  return x;
}

/**
 * Nesterov step for S = 2: η(r) = (H̄ + ½λr D²)⁻¹ ḡ and the largest root of f(r) = ‖Dη(r)‖ − r, found by
 * bisection on (r₀, ∞), r₀ = the largest r where det(H̄ + ½λr D²) = 0 (a quadratic in r), or 0 when H̄ ≻ 0.
 */
function nesterovByHand(H: number[][], g: number[], d: number[], dampingInt: number): { eta: number[]; r: number; pd: boolean } {
  expect(g.length).toBe(2);
  const c = 0.5 * dampingInt;
  const A = (r: number) => [
    [H[0][0] + c * r * d[0] ** 2, H[0][1]],
    [H[1][0], H[1][1] + c * r * d[1] ** 2],
  ];
  const eta = (r: number) => solveLinear(A(r), g);
  const f = (r: number) => {
    const e = eta(r);
    return Math.hypot(d[0] * e[0], d[1] * e[1]) - r;
  };
  const det = H[0][0] * H[1][1] - H[0][1] * H[1][0];
  const pd = H[0][0] > 0 && det > 0;
  let r0 = 0;
  if (!pd) {
    const [a2, a1, a0] = [c * c * d[0] ** 2 * d[1] ** 2, c * (H[0][0] * d[1] ** 2 + H[1][1] * d[0] ** 2), det];
    r0 = (-a1 + Math.sqrt(a1 * a1 - 4 * a2 * a0)) / (2 * a2);
  }
  let lo = r0,
    hi = Math.max(1, 2 * r0);
  while (!(f(hi) < 0)) hi *= 2;
  for (;;) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (f(mid) > 0) lo = mid;
    else hi = mid;
  }
  return { eta: eta(hi), r: hi, pd };
}

// ---- NewtonSummary's rules, written out.
interface HandConfig {
  groups: Array<{ idx: number[]; damping: number; momentum: number; momentumDamp: number; momLrs: number }>;
  periodHg: number;
  solver: { nesterov: number } | { ridge: number };
  removeNegative: boolean;
  adam?: { betas: [number, number]; eps: number };
  average?: { kind: 'moving' | 'uniform'; factor: number; warmup: number };
}

interface HandUpdate {
  H: number[][];
  g: number[];
  order3: number[];
  eta: number[];
  lrs: number[];
  /** Whether H̄ was positive definite (Nesterov only). */
  pd?: boolean;
}

function trajectoryByHand(cfg: HandConfig, train: Coefficients[], hg: Coefficients[]) {
  const groupOf = new Array<number>(P);
  cfg.groups.forEach((grp, s) => grp.idx.forEach((i) => (groupOf[i] = s)));
  const theta = theta0.slice();
  let buf: number[] | null = null;
  const m = new Array<number>(P).fill(0),
    v = new Array<number>(P).fill(0);
  let lrs = cfg.groups.map(() => 0);
  let initialised = false,
    hgDraws = 0;
  let avg: { count: number; H: number[][]; g: number[]; order3: number[] } | null = null;
  const thetas: number[][] = [],
    updates: HandUpdate[] = [];
  train.forEach((batch, step) => {
    const grad = gradient(theta, batch);
    let u: number[];
    if (cfg.adam) {
      const [b1, b2] = cfg.adam.betas,
        t = step + 1;
      u = grad.map((gi, i) => {
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        return m[i] / (1 - b1 ** t) / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + cfg.adam!.eps);
      });
    } else {
      const previous = buf;
      buf =
        previous === null
          ? grad.slice()
          : previous.map((x, i) => cfg.groups[groupOf[i]].momentum * x + (1 - cfg.groups[groupOf[i]].momentumDamp) * grad[i]);
      u = buf;
    }
    if (step % cfg.periodHg === 0) {
      let s = summaries(
        theta,
        u,
        cfg.groups.map((grp) => grp.idx),
        hg[hgDraws++ % hg.length],
      );
      if (cfg.average) {
        const count = (avg?.count ?? 0) + 1;
        const w = cfg.average.kind === 'uniform' || count <= cfg.average.warmup || !avg ? 1 / count : 1 - cfg.average.factor;
        const mix = (old: number | undefined, fresh: number) => (old === undefined ? fresh : (1 - w) * old + w * fresh);
        s = {
          H: s.H.map((row, i) => row.map((x, j) => mix(avg?.H[i][j], x))),
          g: s.g.map((x, i) => mix(avg?.g[i], x)),
          order3: s.order3.map((x, i) => mix(avg?.order3[i], x)),
        };
        avg = { count, ...s };
      }
      const solved =
        'nesterov' in cfg.solver
          ? nesterovByHand(
              s.H,
              s.g,
              s.order3.map((o) => Math.cbrt(Math.abs(o))),
              cfg.solver.nesterov,
            )
          : {
              eta: solveLinear(
                s.H.map((row, i) => row.map((x, j) => x + (i === j ? (cfg.solver as { ridge: number }).ridge : 0))),
                s.g,
              ),
              pd: undefined,
            };
      const eta = solved.eta;
      lrs = cfg.groups.map((grp, k) => {
        const e = cfg.removeNegative ? Math.max(0, eta[k]) : eta[k];
        const r = initialised ? grp.momLrs : 0; // warm start: the first update takes η̃ whole
        return r * lrs[k] + (1 - r) * grp.damping * e;
      });
      initialised = true;
      updates.push({ ...s, eta, lrs: lrs.slice(), pd: solved.pd });
    }
    for (let i = 0; i < P; i++) theta[i] -= lrs[groupOf[i]] * u[i];
    thetas.push(theta.slice());
  });
  return { thetas, updates };
}

// ---- The library on the same problem.
function trajectoryByLibrary(
  groupsOf: (w: Tensor, v: Tensor, b: Tensor) => NonNullable<ConstructorParameters<typeof NewtonSummary>[0]>,
  options: NewtonSummaryOptions,
  train: Coefficients[],
  hg: Coefficients[],
) {
  const { w, v, b, fullLoss, theta } = makeModel();
  const opt = new NewtonSummary(groupsOf(w, v, b), fullLoss, hg.map(asBatch), options);
  const thetas: number[][] = [],
    lrsAfter: number[][] = [];
  for (const batch of train.map(asBatch)) {
    tidy(() => {
      opt.zeroGrad();
      fullLoss(...batch).backward();
      opt.step();
    });
    thetas.push(theta());
    lrsAfter.push(opt.lrs());
  }
  return { thetas, lrsAfter, logs: opt.logs };
}

/** The same through stepAsync (summaries on a worker thread). */
async function trajectoryByLibraryAsync(
  groupsOf: Parameters<typeof trajectoryByLibrary>[0],
  options: NewtonSummaryOptions,
  train: Coefficients[],
  hg: Coefficients[],
) {
  const { w, v, b, fullLoss, theta } = makeModel();
  const opt = new NewtonSummary(groupsOf(w, v, b), fullLoss, hg.map(asBatch), options);
  const thetas: number[][] = [],
    lrsAfter: number[][] = [];
  for (const batch of train.map(asBatch)) {
    tidy(() => {
      opt.zeroGrad();
      fullLoss(...batch).backward();
    });
    await opt.stepAsync();
    thetas.push(theta());
    lrsAfter.push(opt.lrs());
  }
  return { thetas, lrsAfter, logs: opt.logs };
}

/** |a − b| ≤ 1e-12·max(1, |b|) elementwise, naming what differs. */
function expectAgree(what: string, actual: number[], expected: number[]): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= 1e-12 * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`${what}[${i}]: library ${a}, by hand ${expected[i]} (difference ${a - expected[i]})`);
    }
  });
}

function compare(hand: ReturnType<typeof trajectoryByHand>, lib: ReturnType<typeof trajectoryByLibrary>, periodHg: number): void {
  expect(lib.logs.length).toBe(hand.updates.length);
  hand.updates.forEach((u, k) => {
    const log = lib.logs[k];
    expect(log.step).toBe(k * periodHg);
    expect(log.found, log.reason).toBe(true);
    expectAgree(`update ${k} ḡ`, log.g, u.g);
    u.H.forEach((row, i) => expectAgree(`update ${k} H̄ row ${i}`, log.H[i], row));
    expectAgree(`update ${k} order3`, log.order3, u.order3);
    expectAgree(`update ${k} η`, log.eta!, u.eta);
    expectAgree(`update ${k} lrs`, log.lrs, u.lrs);
    if (u.pd !== undefined) expect(log.solver.branch).toBe(u.pd ? 'positive-definite' : 'indefinite');
  });
  hand.thetas.forEach((t, step) => {
    const lrsNow = hand.updates[Math.floor(step / periodHg)].lrs;
    expectAgree(`step ${step} lrs`, lib.lrsAfter[step], lrsNow);
    expectAgree(`step ${step} θ`, lib.thetas[step], t);
  });
}

const trainBatches = Array.from({ length: 10 }, (_, t) => coefficients(10 + t));
const hgBatches = [coefficients(101), coefficients(202)]; // fewer than the updates: the hg loader cycles

const asymmetric = { damping: 0.7, momLrs: 0.3, momentum: 0.8, momentumDamp: 0.2 };
const twoGroups = (w: Tensor, v: Tensor, b: Tensor) => [{ params: [w, v] }, { params: [b] }];
const twoGroupsIdx = [
  [0, 1, 2],
  [3, 4],
];

// The Nesterov case, S = 2 (by step and by stepAsync): the library's options and the trajectory computed by hand.
function nesterovCase() {
  const options: NewtonSummaryOptions = {
    ...asymmetric,
    periodHg: 3,
    nesterov: { use: true, dampingInt: 2 },
    removeNegative: true,
    noregul: false,
    diagonal: false,
    updater: 'sgd',
  };
  const hand = trajectoryByHand(
    { groups: twoGroupsIdx.map((idx) => ({ idx, ...asymmetric })), periodHg: 3, solver: { nesterov: 2 }, removeNegative: true },
    trainBatches,
    hgBatches,
  );
  return { options, hand };
}

describe('NewtonSummary by hand (closed-form cubic loss, float64)', () => {
  it('Nesterov, S = 2: momentum direction, periodHg 3, warm start, lr = damping·η̃, moving average of lrs, removeNegative', () => {
    const { options, hand } = nesterovCase();
    // The case must exercise the clamp: some η_s < 0 (its lr then only decays by momLrs), and some > 0.
    expect(hand.updates.some((u) => u.eta.some((e) => e < 0))).toBe(true);
    expect(hand.updates.some((u) => u.eta.some((e) => e > 0))).toBe(true);
    compare(hand, trajectoryByLibrary(twoGroups, options, trainBatches, hgBatches), 3);
  });

  it('the same through stepAsync', async () => {
    const { options, hand } = nesterovCase();
    compare(hand, await trajectoryByLibraryAsync(twoGroups, options, trainBatches, hgBatches), 3);
  });

  it('Nesterov, S = 2, with H̄ indefinite at some updates (the root lies above r₀ > 0)', () => {
    const options: NewtonSummaryOptions = {
      ...asymmetric,
      periodHg: 2,
      nesterov: { use: true, dampingInt: 0.5 },
      removeNegative: true,
      updater: 'sgd',
    };
    const steep = [coefficients(303, 8), coefficients(404, 8)]; // large cubic coefficients: κ⊙θ outweighs Q
    const hand = trajectoryByHand(
      { groups: twoGroupsIdx.map((idx) => ({ idx, ...asymmetric })), periodHg: 2, solver: { nesterov: 0.5 }, removeNegative: true },
      trainBatches,
      steep,
    );
    expect(hand.updates.some((u) => u.pd === false)).toBe(true);
    compare(hand, trajectoryByLibrary(twoGroups, options, trainBatches, steep), 2);
  });

  it('ridge, S = 3 with a group of its own damping and momentum: negative η kept without removeNegative', () => {
    const groupsIdx = [[0, 1], [2], [3, 4]];
    const special = { damping: 0.45, momentum: 0.6, momentumDamp: 0.35, momLrs: 0.15 };
    const options: NewtonSummaryOptions = {
      ...asymmetric,
      periodHg: 2,
      ridge: 0.25,
      nesterov: { use: false },
      removeNegative: false,
      updater: 'sgd',
    };
    const hand = trajectoryByHand(
      {
        groups: groupsIdx.map((idx, s) => ({ idx, ...(s === 1 ? special : asymmetric) })),
        periodHg: 2,
        solver: { ridge: 0.25 },
        removeNegative: false,
      },
      trainBatches,
      hgBatches,
    );
    expect(hand.updates.some((u) => u.lrs.some((lr) => lr < 0))).toBe(true);
    const lib = trajectoryByLibrary(
      (w, v, b) => [{ params: [w] }, { params: [v], ...special }, { params: [b] }],
      options,
      trainBatches,
      hgBatches,
    );
    compare(hand, lib, 2);
  });

  it.each([
    ['moving', { kind: 'moving' as const, factor: 0.7, warmup: 2 }],
    ['uniform', { kind: 'uniform' as const, factor: 0.7, warmup: 0 }],
  ])('average %s of (H̄, ḡ, order3) across updates, Nesterov', (_name, average) => {
    const options: NewtonSummaryOptions = {
      ...asymmetric,
      periodHg: 1,
      nesterov: { use: true, dampingInt: 3 },
      removeNegative: true,
      average,
      updater: 'sgd',
    };
    const train = trainBatches.slice(0, 7);
    const hand = trajectoryByHand(
      { groups: twoGroupsIdx.map((idx) => ({ idx, ...asymmetric })), periodHg: 1, solver: { nesterov: 3 }, removeNegative: true, average },
      train,
      hgBatches,
    );
    compare(hand, trajectoryByLibrary(twoGroups, options, train, hgBatches), 1);
  });

  it("no options: the seed README's values (damping 0.1, momentum 0.9, momentumDamp 0.9, momLrs 0.5, periodHg 10, λ_int 10, removeNegative)", () => {
    // Written out here, not read from NEWTON_SUMMARY_DEFAULTS: the constructor must fill in these very values.
    const seed = { damping: 0.1, momentum: 0.9, momentumDamp: 0.9, momLrs: 0.5 };
    const train = Array.from({ length: 21 }, (_, t) => coefficients(10 + t)); // updates at steps 0, 10 and 20
    const hand = trajectoryByHand(
      { groups: twoGroupsIdx.map((idx) => ({ idx, ...seed })), periodHg: 10, solver: { nesterov: 10 }, removeNegative: true },
      train,
      hgBatches,
    );
    expect(hand.updates.some((u) => u.eta.some((e) => e < 0))).toBe(true); // removeNegative matters
    compare(hand, trajectoryByLibrary(twoGroups, {}, train, hgBatches), 10);
    // nesterov given without its dampingInt: still 10.
    compare(hand, trajectoryByLibrary(twoGroups, { nesterov: { use: true } }, train, hgBatches), 10);
    // …and without its use (a JavaScript caller may leave it out: api.md gives its default, true).
    compare(
      hand,
      trajectoryByLibrary(twoGroups, { nesterov: { dampingInt: 10 } } as unknown as NewtonSummaryOptions, train, hgBatches),
      10,
    );
  });

  it('Adam updater (betas 0.8, 0.95 and an eps that matters), Nesterov, periodHg 2', () => {
    const adam = { betas: [0.8, 0.95] as [number, number], eps: 0.05 };
    const options: NewtonSummaryOptions = {
      ...asymmetric,
      periodHg: 2,
      nesterov: { use: true, dampingInt: 2 },
      removeNegative: true,
      updater: { name: 'adam', ...adam },
    };
    const hand = trajectoryByHand(
      { groups: twoGroupsIdx.map((idx) => ({ idx, ...asymmetric })), periodHg: 2, solver: { nesterov: 2 }, removeNegative: true, adam },
      trainBatches,
      hgBatches,
    );
    compare(hand, trajectoryByLibrary(twoGroups, options, trainBatches, hgBatches), 2);
  });

  it("Adam updater with its defaults: torch's betas (0.9, 0.999) and eps 1e-8", () => {
    const options: NewtonSummaryOptions = {
      ...asymmetric,
      periodHg: 2,
      nesterov: { use: true, dampingInt: 2 },
      removeNegative: true,
      updater: { name: 'adam' },
    };
    const hand = trajectoryByHand(
      {
        groups: twoGroupsIdx.map((idx) => ({ idx, ...asymmetric })),
        periodHg: 2,
        solver: { nesterov: 2 },
        removeNegative: true,
        adam: { betas: [0.9, 0.999], eps: 1e-8 },
      },
      trainBatches,
      hgBatches,
    );
    compare(hand, trajectoryByLibrary(twoGroups, options, trainBatches, hgBatches), 2);
  });
});
