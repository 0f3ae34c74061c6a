// computeHg against independent computations: finite differences of φ(η) = L(θ + Σ η_s u_s) in float64,
// the same derivatives through a different graph (η as the variables), and a polynomial loss whose
// directional derivatives are known in closed form.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { computeHg, computeHgFullbatch, diffN, fullbatchGradient, losses, models, type nn, partition, tensor, type Tensor } from '../lib';
import type { Activation } from '../lib/models';
import type { Partition } from '../lib/method/partition';
import { expectClose, values } from './helpers';

const f64 = { dtype: 'float64' as const };

function setup(activation: Activation, loss: 'nll' | 'mse', seed = 1) {
  g.manualSeed(seed);
  const model = new models.Perceptron([3, 4, 3], { activation, dtype: 'float64', classification: loss === 'nll' });
  const x = g.randn([6, 3], f64);
  const y = loss === 'nll' ? tensor([0, 1, 2, 2, 1, 0], { dtype: 'int64' }) : g.randn([6, 3], f64);
  const fullLoss = (a: Tensor, b: Tensor) => (loss === 'nll' ? losses.nll(model.forward(a), b) : losses.mse(model.forward(a), b));
  return { model, x, y, fullLoss };
}

/** φ(η) = L(θ + Σ_s η_s u_s), evaluated by moving the parameters and putting them back. */
function phiOf(part: Partition, direction: Tensor[], loss: () => Tensor) {
  const params = part.paramGroups.flatMap((grp) => grp.params);
  const groupOf = part.paramGroups.flatMap((grp, s) => grp.params.map(() => s));
  const saved = params.map((p) => p.detach().mul(1));
  return (eta: number[]): number => {
    params.forEach((p, k) => p.assign(saved[k].add(direction[k].mul(eta[groupOf[k]])), true));
    const value = loss().item();
    params.forEach((p, k) => p.assign(saved[k], true));
    return value;
  };
}

/** ḡ, H̄ and order3 of φ at 0 by central differences (order3 with one Richardson step). */
function finiteDifferences(phi: (eta: number[]) => number, S: number) {
  const at = (pairs: Array<[number, number]>) => {
    const eta = new Array(S).fill(0);
    for (const [i, v] of pairs) eta[i] += v;
    return phi(eta);
  };
  const h1 = 1e-6,
    h2 = 1e-4; // small steps: relu's kinks must stay out of reach
  const grad = Array.from({ length: S }, (_, i) => (at([[i, h1]]) - at([[i, -h1]])) / (2 * h1));
  const H = Array.from({ length: S * S }, (_, k) => {
    const i = Math.floor(k / S),
      j = k % S;
    return (
      (at([
        [i, h2],
        [j, h2],
      ]) -
        at([
          [i, h2],
          [j, -h2],
        ]) -
        at([
          [i, -h2],
          [j, h2],
        ]) +
        at([
          [i, -h2],
          [j, -h2],
        ])) /
      (4 * h2 * h2)
    );
  });
  const d3 = (i: number, h: number) => (at([[i, 2 * h]]) - 2 * at([[i, h]]) + 2 * at([[i, -h]]) - at([[i, -2 * h]])) / (2 * h ** 3);
  const order3 = Array.from({ length: S }, (_, i) => (4 * d3(i, 5e-3) - d3(i, 1e-2)) / 3);
  return { grad, H, order3 };
}

function randomDirection(model: nn.Module, seed: number): Tensor[] {
  return model.parameters().map((p, k) => tensor(values(p.numel, seed + k), { shape: p.shape, dtype: 'float64' }));
}

const partitions: Array<[string, (m: nn.Module) => Partition]> = [
  ['canonical', partition.canonical],
  ['trivial', partition.trivial],
  ['wb', partition.wb],
  ['blocks(2)', (m) => partition.blocks(m, 2)],
];

describe('computeHg equals the derivatives of φ(η) = L(θ + Σ η_s u_s)', () => {
  const cases: Array<[Activation, 'nll' | 'mse']> = [
    ['tanh', 'nll'],
    ['relu', 'nll'],
    ['sigmoid', 'mse'],
    ['elu', 'mse'],
    ['tanh', 'mse'],
  ];
  for (const [activation, loss] of cases) {
    for (const [name, make] of partitions) {
      it(`${activation} perceptron, ${loss} loss, ${name} partition`, () => {
        const { model, x, y, fullLoss } = setup(activation, loss);
        const part = make(model);
        const params = part.paramGroups.flatMap((grp) => grp.params);
        const direction = params.map((p, k) => tensor(values(p.numel, 10 + k), { shape: p.shape, dtype: 'float64' }));
        const hg = computeHg(part.paramGroups, fullLoss, x, y, direction);
        const S = part.paramGroups.length;
        expect(hg.H.shape).toEqual([S, S]);
        expect(hg.g.shape).toEqual([S]);

        // 1. finite differences in float64
        const fd = finiteDifferences(
          phiOf(part, direction, () => fullLoss(x, y)),
          S,
        );
        expectClose(hg.g.toArray(), fd.grad, 1e-7, 1e-9);
        expectClose(hg.H.toArray(), fd.H, 1e-5, 1e-7);
        expectClose(hg.order3.toArray(), fd.order3, 1e-5, 1e-6);

        // 2. the same quantities through another graph: η as the variables, u_s as unit directions
        const eta = Array.from({ length: S }, () => tensor(0, { dtype: 'float64', requiresGrad: true }));
        const groupOf = part.paramGroups.flatMap((grp, s) => grp.params.map(() => s));
        const saved = params.map((p) => p.detach());
        const shifted = params.map((_, k) => saved[k].add(eta[groupOf[k]].mul(direction[k])));
        const etaLoss = (a: Tensor, b: Tensor) => {
          const map = new Map(params.map((p, k) => [p, shifted[k]]));
          return functionalForward(model, map, a, b, loss);
        };
        const units = eta.map(() => tensor(1, f64));
        const etaGroups = eta.map((e) => ({ params: [e] }));
        const d3 = diffN(etaGroups, etaLoss, x, y, units, 3);
        const d2 = diffN(etaGroups, etaLoss, x, y, units, 2);
        const d1 = diffN(etaGroups, etaLoss, x, y, units, 1);
        expectClose(hg.g.toArray(), d1.values.toArray() as Float64Array, 1e-10, 1e-13);
        const H2 = hg.H.toArray();
        d2.indices.forEach(([i, j], k) => expectClose([H2[i * S + j]], [d2.values.toArray()[k] as number], 1e-10, 1e-13));
        const o3 = hg.order3.toArray();
        d3.indices.forEach(([i, j, l], k) => {
          if (i === j && j === l) expectClose([o3[i]], [d3.values.toArray()[k] as number], 1e-10, 1e-13);
        });
      });
    }
  }
});

/** The Perceptron's forward with its parameters replaced (differentiable in the replacements). */
function functionalForward(model: models.Perceptron, replace: Map<Tensor, Tensor>, x: Tensor, y: Tensor, loss: 'nll' | 'mse'): Tensor {
  let h = x;
  const n = model.layers.length;
  for (let k = 0; k < n; k++) {
    const layer = model.layers.at(k) as nn.Linear;
    h = h.matmul(replace.get(layer.weight)!.transpose(0, 1)).add(replace.get(layer.bias!)!);
    if (k < n - 1) h = models.activations[model.activation](h);
  }
  return loss === 'nll' ? losses.nll(h.logSoftmax(1), y) : losses.mse(h, y);
}

describe('a polynomial loss with closed-form directional derivatives', () => {
  // L(w, v) = mean_n[(x_n·w)³ (z_n·v) + (x_n·w)(z_n·v)²]; along u = (u_w, u_v) with A = x·w, α = x·u_w,
  // B = z·v, β = z·u_v: every derivative of φ(η1, η2) is a mean of a polynomial in A, α, B, β.
  const n = 5,
    dim = 3;
  const X = tensor(values(n * dim, 1), { shape: [n, dim], dtype: 'float64' });
  const Z = tensor(values(n * dim, 2), { shape: [n, dim], dtype: 'float64' });
  const w = tensor(values(dim, 3), { dtype: 'float64', requiresGrad: true });
  const v = tensor(values(dim, 4), { dtype: 'float64', requiresGrad: true });
  const uw = tensor(values(dim, 5), f64),
    uv = tensor(values(dim, 6), f64);
  const loss = (x: Tensor, z: Tensor) => {
    const a = x.matmul(w),
      b = z.matmul(v);
    return a
      .pow(3)
      .mul(b)
      .add(a.mul(b.pow(2)))
      .mean();
  };
  const col = (m: Tensor, u: Tensor) => Array.from(m.matmul(u).toArray() as Float64Array);
  const A = col(X, w.detach()),
    al = col(X, uw),
    B = col(Z, v.detach()),
    be = col(Z, uv);
  const mean = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i)).reduce((s, t) => s + t, 0) / n;
  const groups = [{ params: [w] }, { params: [v] }];

  it('ḡ, H̄ and order3 to 1e-12', () => {
    const hg = computeHg(groups, loss, X, Z, [uw, uv]);
    expectClose(
      hg.g.toArray(),
      [mean((i) => 3 * A[i] ** 2 * al[i] * B[i] + al[i] * B[i] ** 2), mean((i) => A[i] ** 3 * be[i] + 2 * A[i] * B[i] * be[i])],
      1e-12,
      1e-14,
    );
    const h11 = mean((i) => 6 * A[i] * al[i] ** 2 * B[i]);
    const h12 = mean((i) => 3 * A[i] ** 2 * al[i] * be[i] + 2 * al[i] * B[i] * be[i]);
    const h22 = mean((i) => 2 * A[i] * be[i] ** 2);
    expectClose(hg.H.toArray(), [h11, h12, h12, h22], 1e-12, 1e-14);
    expectClose(hg.order3.toArray(), [mean((i) => 6 * al[i] ** 3 * B[i]), 0], 1e-12, 1e-14);
  });

  it('diffN of order 4 (all tuples) to 1e-12', () => {
    const { values: d4, indices } = diffN(groups, loss, X, Z, [uw, uv], 4);
    expect(indices).toEqual([
      [0, 0, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 1, 1],
      [0, 1, 1, 1],
      [1, 1, 1, 1],
    ]);
    expectClose(d4.toArray(), [0, mean((i) => 6 * al[i] ** 3 * be[i]), 0, 0, 0], 1e-12, 1e-14);
  });

  it('noregul leaves order3 at zero, diagonal leaves H̄ off the diagonal at zero', () => {
    const full = computeHg(groups, loss, X, Z, [uw, uv]);
    const noregul = computeHg(groups, loss, X, Z, [uw, uv], { noregul: true });
    expect(Array.from(noregul.order3.toArray())).toEqual([0, 0]);
    expectClose(noregul.H.toArray(), full.H.toArray() as Float64Array, 1e-15, 0);
    const diagonal = computeHg(groups, loss, X, Z, [uw, uv], { diagonal: true });
    const H = full.H.toArray();
    expectClose(diagonal.H.toArray(), [H[0], 0, 0, H[3]], 1e-15, 0);
    expectClose(diagonal.order3.toArray(), full.order3.toArray() as Float64Array, 1e-15, 0);
  });
});

describe('computeHg: the rest of its contract', () => {
  it('refuses a batch of no sample, as the Taylor route does (it gave zero summaries, or a reshape error from the model)', () => {
    const layer = new g.nn.Linear(3, 2, { dtype: 'float64' });
    const groups = partition.wb(layer).paramGroups;
    const direction = groups.flatMap((group) => group.params.map((p) => g.ones(p.shape, { dtype: 'float64' })));
    const [x, y] = [g.zeros([0, 3], { dtype: 'float64' }), g.zeros([0, 2], { dtype: 'float64' })];
    const mse = (a: Tensor, b: Tensor) => losses.mse(layer.forward(a), b);
    const message = 'needs a batch of at least one sample, x has shape [0,3]';
    expect(() => computeHg(groups, mse, x, y, direction)).toThrow(`computeHg: ${message}`);
    expect(() => computeHgFullbatch(groups, mse, [[x, y]], 1, direction)).toThrow(message);
    const full = [g.ones([2, 3], { dtype: 'float64' }), g.ones([2, 2], { dtype: 'float64' })] as [Tensor, Tensor];
    expect(() => fullbatchGradient(groups, losses.mse, layer, [full, [x, y]], 2)).toThrow(`fullbatchGradient: ${message}`);
  });

  it('refuses a datasetSize below the samples the loader yields (datasetSize 1 for 4 samples gave 4 times the result)', () => {
    const layer = new g.nn.Linear(3, 2, { dtype: 'float64' });
    const groups = partition.wb(layer).paramGroups;
    const direction = groups.flatMap((group) => group.params.map((p) => g.ones(p.shape, { dtype: 'float64' })));
    const batch = [g.ones([2, 3], { dtype: 'float64' }), g.ones([2, 2], { dtype: 'float64' })] as [Tensor, Tensor];
    const mse = (a: Tensor, b: Tensor) => losses.mse(layer.forward(a), b);
    const message = 'the loader yielded more than datasetSize (3) samples';
    expect(() => computeHgFullbatch(groups, mse, [batch, batch], 3, direction)).toThrow(`computeHgFullbatch: ${message}`);
    expect(() => fullbatchGradient(groups, losses.mse, layer, [batch, batch], 3)).toThrow(`fullbatchGradient: ${message}`);
    // Fewer samples than datasetSize is one rank's shard, or a DataLoader's dropLast: allowed.
    expect(fullbatchGradient(groups, losses.mse, layer, [batch], 4)).toHaveLength(2);
  });

  it('gives zeros for a parameter that does not reach the loss', () => {
    const { model, x, y, fullLoss } = setup('tanh', 'mse');
    const unused = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const groups = [...partition.canonical(model).paramGroups, { params: [unused] }];
    const direction = [...randomDirection(model, 3), tensor([1, 1], f64)];
    const hg = computeHg(groups, fullLoss, x, y, direction);
    const S = groups.length;
    expect(hg.g.toArray()[S - 1]).toBe(0);
    expect(hg.order3.toArray()[S - 1]).toBe(0);
    const H = hg.H.toArray();
    for (let i = 0; i < S; i++) {
      expect(H[(S - 1) * S + i]).toBe(0);
      expect(H[i * S + S - 1]).toBe(0);
    }
  });

  it('returns the model dtype (float32) while agreeing with the float64 computation', () => {
    const { model, x, y, fullLoss } = setup('tanh', 'nll', 4);
    const part = partition.canonical(model);
    const direction = randomDirection(model, 7);
    const hg64 = computeHg(part.paramGroups, fullLoss, x, y, direction);
    model.to({ dtype: 'float32' });
    const x32 = x.to({ dtype: 'float32' });
    const hg32 = computeHg(
      part.paramGroups,
      fullLoss,
      x32,
      y,
      direction.map((u) => u.to({ dtype: 'float32' })),
    );
    expect(hg32.H.dtype).toBe('float32');
    expectClose(hg32.g.toArray(), hg64.g.toArray() as Float64Array, 1e-4, 1e-5);
    expectClose(hg32.H.toArray(), hg64.H.toArray() as Float64Array, 1e-3, 1e-4);
  });

  it('computeHgFullbatch weights batches by their size: equal to the whole batch at once', () => {
    const { model, x, y, fullLoss } = setup('sigmoid', 'nll', 5);
    const part = partition.wb(model);
    const direction = part.paramGroups
      .flatMap((grp) => grp.params)
      .map((p, k) => tensor(values(p.numel, 9 + k), { shape: p.shape, dtype: 'float64' }));
    const whole = computeHg(part.paramGroups, fullLoss, x, y, direction);
    const split = [
      [g.tensor(Array.from(x.toArray()).slice(0, 12), { shape: [4, 3], dtype: 'float64' }), tensor([0, 1, 2, 2], { dtype: 'int64' })],
      [g.tensor(Array.from(x.toArray()).slice(12), { shape: [2, 3], dtype: 'float64' }), tensor([1, 0], { dtype: 'int64' })],
    ] as Array<[Tensor, Tensor]>;
    const fb = computeHgFullbatch(part.paramGroups, fullLoss, split, 6, direction);
    expectClose(fb.H.toArray(), whole.H.toArray() as Float64Array, 1e-12, 1e-14);
    expectClose(fb.g.toArray(), whole.g.toArray() as Float64Array, 1e-12, 1e-14);
    expectClose(fb.order3.toArray(), whole.order3.toArray() as Float64Array, 1e-12, 1e-14);
  });

  it('fullbatchGradient equals the gradient on all the data, and leaves .grad alone', () => {
    const { model, x, y } = setup('tanh', 'nll', 6);
    const part = partition.canonical(model);
    const rows = Array.from(x.toArray());
    const labels = Array.from(y.toArray()).map(Number);
    const loader: Array<[Tensor, Tensor]> = [0, 3].map((start) => [
      tensor(rows.slice(start * 3, start * 3 + 9), { shape: [3, 3], dtype: 'float64' }),
      tensor(labels.slice(start, start + 3), { dtype: 'int64' }),
    ]);
    const grads = fullbatchGradient(part.paramGroups, losses.nll, model, loader, 6);
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    losses.nll(model.forward(x), y).backward();
    model.parameters().forEach((p, k) => expectClose(grads[k].toArray(), p.grad!.toArray() as Float64Array, 1e-12, 1e-14));
  });

  it('rejects bad arguments with errors naming them', () => {
    const { model, x, y, fullLoss } = setup('tanh', 'nll');
    const { paramGroups } = partition.canonical(model);
    const dir = randomDirection(model, 1);
    expect(() => computeHg(paramGroups, fullLoss, x, y, dir.slice(1))).toThrow(
      'computeHg: direction has 3 tensors, the partition 4 parameters',
    );
    expect(() => computeHg(paramGroups, fullLoss, x, y, [dir[1], ...dir.slice(1)])).toThrow(
      /direction\[0\] has shape \[4\], its parameter \[4,3\]/,
    );
    expect(() => computeHg(paramGroups, () => tensor([1, 2], f64), x, y, dir)).toThrow(/the loss must be a scalar/);
    expect(() => computeHg(paramGroups, () => tensor(1, f64), x, y, dir)).toThrow(/the loss has no graph/);
    expect(() => computeHg(paramGroups, (() => 3) as never, x, y, dir)).toThrow(/must return a Tensor, got 3/);
    expect(() => computeHg(paramGroups, fullLoss, x, y, dir, { diagonal: 1 as never })).toThrow(TypeError);
    expect(() => computeHgFullbatch(paramGroups, fullLoss, [], 6, dir)).toThrow(/yielded no batch/);
    expect(() => computeHgFullbatch(paramGroups, fullLoss, [[x] as never], 6, dir)).toThrow(/batch 0 must be \[x, y\]/);
    expect(() => diffN(paramGroups, fullLoss, x, y, dir, 0)).toThrow(RangeError);
  });
});
