// The summaries of the loss along a direction u, per subset of a partition (see the method note):
// ḡ_s = ⟨∇L, u_s⟩, H̄_ij = u_iᵀ∇²L u_j, order3_s = D³L[u_s, u_s, u_s], computed exactly by autograd in C++.
import { assertFree, type Hold, holding } from '../core/pending_holds';
import { native, type NativeTensor } from '../core/native';
import { checkParamGroups, type ParamGroup } from './partition';
import type { Module } from '../nn/module';
import { Tensor, tidy } from '../core/tensor';
import { checkBoolean, checkInteger, checkOptions, formatShape, show } from '../core/validate';

export type FullLoss = (x: Tensor, y: Tensor) => Tensor;
export type Batches = Iterable<[Tensor, Tensor]>;

export interface HgOptions {
  /** Skip the third derivatives: order3 is zeros. */
  noregul?: boolean;
  /** Only H̄'s diagonal (off-diagonal zeros): one double backward per subset along its own direction. */
  diagonal?: boolean;
}

export interface Hg {
  H: Tensor; // [S, S], symmetric
  g: Tensor; // [S]
  order3: Tensor; // [S], signed
}

/**
 * ḡ, H̄ and order3 of L = fullLoss(x, y) along `direction` (one tensor per parameter, in the partition's
 * order). Returned in the loss's dtype. Parameters that do not reach the loss contribute zeros.
 */
export function computeHg(
  paramGroups: ParamGroup[],
  fullLoss: FullLoss,
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: HgOptions,
): Hg {
  return computeHgWithin(undefined, paramGroups, fullLoss, x, y, direction, options);
}

/** @internal computeHg as a part of a pending call whose hold (`within`) covers the parameters. */
export function computeHgWithin(
  within: Hold | undefined,
  paramGroups: ParamGroup[],
  fullLoss: FullLoss,
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: HgOptions,
): Hg {
  const where = 'computeHg';
  const { groups, dir, noregul, diagonal } = prepare(where, paramGroups, fullLoss, direction, options, within);
  return tidy(() => {
    const loss = evaluate(where, fullLoss, x, y);
    return wrapHg(native().computeHg(loss.handle(where), handles(groups), handles(dir), noregul, diagonal));
  });
}

/**
 * computeHg with its derivatives computed on a worker thread: the forward pass (fullLoss) runs here, the
 * event loop stays free for the rest. While it is pending, the parameters cannot be changed or reused by
 * another asynchronous call (an error says so).
 */
export async function computeHgAsync(
  paramGroups: ParamGroup[],
  fullLoss: FullLoss,
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: HgOptions,
): Promise<Hg> {
  return computeHgAsyncWithin(undefined, paramGroups, fullLoss, x, y, direction, options);
}

/** @internal computeHgAsync as a part of a pending call whose hold (`within`) covers the parameters. */
export async function computeHgAsyncWithin(
  within: Hold | undefined,
  paramGroups: ParamGroup[],
  fullLoss: FullLoss,
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: HgOptions,
): Promise<Hg> {
  const where = 'computeHgAsync';
  const { groups, dir, noregul, diagonal } = prepare(where, paramGroups, fullLoss, direction, options, within);
  return holding(
    where,
    groups.flat(),
    async () => {
      const loss = tidy(() => evaluate(where, fullLoss, x, y));
      try {
        return wrapHg(await native().computeHgAsync(loss.handle(where), handles(groups), handles(dir), noregul, diagonal));
      } finally {
        loss.dispose();
      }
    },
    within,
  );
}

function prepare(where: string, paramGroups: ParamGroup[], fullLoss: FullLoss, direction: Tensor[], options?: HgOptions, within?: Hold) {
  const groups = checkParamGroups(where, paramGroups);
  assertFree(where, groups.flat(), within);
  const dir = groupDirection(where, groups, direction);
  checkLossFn(where, fullLoss);
  return { groups, dir, ...hgOptions(where, options) };
}

/** @internal */
export function wrapHg(r: { H: NativeTensor; g: NativeTensor; order3: NativeTensor }): Hg {
  return { H: new Tensor(r.H), g: new Tensor(r.g), order3: new Tensor(r.order3) };
}

/**
 * Counts the samples of each batch against datasetSize, by which every batch is weighted: more samples than it
 * would scale the result wrong (datasetSize 1 for 4 samples gave 4 times the gradient). Fewer is allowed: a
 * DataLoader's dropLast, or one rank's shard of a dataset.
 */
function sampleCount(where: string, datasetSize: number): (x: Tensor) => number {
  let total = 0;
  return (x) => {
    const n = x.shape[0] ?? 1;
    total += n;
    if (total > datasetSize)
      throw new RangeError(
        `${where}: the loader yielded more than datasetSize (${datasetSize}) samples: each batch is weighted by its size / datasetSize, so datasetSize must count every sample`,
      );
    return n;
  };
}

/** computeHg summed over a loader's batches, each weighted by its batch size / datasetSize. */
export function computeHgFullbatch(
  paramGroups: ParamGroup[],
  fullLoss: FullLoss,
  loader: Batches,
  datasetSize: number,
  direction: Tensor[],
  options?: HgOptions,
): Hg {
  checkInteger('computeHgFullbatch', 'datasetSize', datasetSize, 1);
  let total: Hg | undefined;
  const seen = sampleCount('computeHgFullbatch', datasetSize);
  for (const [x, y] of batches('computeHgFullbatch', loader)) {
    const w = seen(x) / datasetSize;
    total = tidy(() => {
      const hg = computeHg(paramGroups, fullLoss, x, y, direction, options);
      const next = total
        ? { H: total.H.add(hg.H.mul(w)), g: total.g.add(hg.g.mul(w)), order3: total.order3.add(hg.order3.mul(w)) }
        : { H: hg.H.mul(w), g: hg.g.mul(w), order3: hg.order3.mul(w) };
      if (total) for (const t of Object.values(total)) t.dispose();
      return next;
    });
  }
  if (!total) throw new RangeError('computeHgFullbatch: the loader yielded no batch');
  return total;
}

/**
 * The gradient of the loss over a whole loader, Σ_batches (batch size / datasetSize)·∇L_batch, one tensor per
 * parameter in the partition's order. Leaves every parameter's `.grad` untouched.
 */
export function fullbatchGradient(
  paramGroups: ParamGroup[],
  lossFn: (output: Tensor, target: Tensor) => Tensor,
  model: Module,
  loader: Batches,
  datasetSize: number,
): Tensor[] {
  const where = 'fullbatchGradient';
  const params = checkParamGroups(where, paramGroups).flat();
  checkLossFn(where, lossFn);
  if (typeof (model as Module | null)?.forward !== 'function')
    throw new TypeError(`${where}: model must be an nn.Module, got ${show(model)}`);
  checkInteger(where, 'datasetSize', datasetSize, 1);
  let total: Tensor[] | undefined;
  const seen = sampleCount(where, datasetSize);
  for (const [x, y] of batches(where, loader)) {
    const w = seen(x) / datasetSize;
    total = tidy(() => {
      const loss = evaluate(where, (a, b) => lossFn(model.forward(a), b), x, y);
      const grads = native()
        .gradients(
          loss.handle(where),
          params.map((p) => p.handle(where)),
        )
        .map((h) => new Tensor(h));
      const next = grads.map((g, i) => (total ? total[i].add(g.mul(w)) : g.mul(w)));
      total?.forEach((t) => t.dispose());
      return next;
    });
  }
  if (!total) throw new RangeError(`${where}: the loader yielded no batch`);
  return total;
}

/**
 * Every directional derivative of order n, D^n L[u_i1, …, u_in] for i1 ≤ … ≤ in (lexicographic order):
 * `values[k]` goes with `indices[k]`. Order 1 is ḡ, order 2 H̄'s upper triangle, order 3 holds order3.
 */
export function diffN(
  paramGroups: ParamGroup[],
  fullLoss: FullLoss,
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  order: number,
): { values: Tensor; indices: number[][] } {
  const where = 'diffN';
  const groups = checkParamGroups(where, paramGroups);
  assertFree(where, groups.flat());
  const dir = groupDirection(where, groups, direction);
  checkInteger(where, 'order', order, 1);
  if (order > 8) throw new RangeError(`${where}: order must be at most 8, got ${order}`);
  checkLossFn(where, fullLoss);
  const values = tidy(
    () => new Tensor(native().diffN(evaluate(where, fullLoss, x, y).handle(where), handles(groups), handles(dir), order)),
  );
  return { values, indices: nondecreasingTuples(groups.length, order) };
}

function nondecreasingTuples(S: number, n: number): number[][] {
  if (n === 0) return [[]];
  return nondecreasingTuples(S, n - 1).flatMap((t) => {
    const out: number[][] = [];
    for (let j = t.length ? t[t.length - 1] : 0; j < S; j++) out.push([...t, j]);
    return out;
  });
}

/** @internal The flat direction, checked against the partition and cut into its subsets. */
export function groupDirection(where: string, groups: Tensor[][], direction: unknown): Tensor[][] {
  const count = groups.reduce((n, g) => n + g.length, 0);
  if (!Array.isArray(direction))
    throw new TypeError(
      `${where}: direction must be an array of Tensors (one per parameter, in the partition's order), got ${show(direction)}`,
    );
  if (direction.length !== count)
    throw new RangeError(`${where}: direction has ${direction.length} tensors, the partition ${count} parameters`);
  let k = 0;
  const grouped = groups.map((params) =>
    params.map((p) => {
      const u = direction[k];
      Tensor.handleOf(where, `direction[${k}]`, u);
      if (formatShape(u.shape) !== formatShape(p.shape)) {
        throw new RangeError(`${where}: direction[${k}] has shape ${formatShape(u.shape)}, its parameter ${formatShape(p.shape)}`);
      }
      if (u.dtype !== p.dtype) throw new TypeError(`${where}: direction[${k}] is ${u.dtype}, its parameter ${p.dtype}`);
      k++;
      return u as Tensor;
    }),
  );
  checkFinite(
    where,
    direction.map((u, i) => [`direction[${i}]`, u]),
  );
  return grouped;
}

/** @internal noregul and diagonal, checked (shared with the Taylor route). */
export function hgOptions(where: string, options: unknown, allowed: readonly string[] = ['noregul', 'diagonal']) {
  const o = checkOptions(where, options, allowed);
  return {
    noregul: o.noregul === undefined ? false : checkBoolean(where, 'noregul', o.noregul),
    diagonal: o.diagonal === undefined ? false : checkBoolean(where, 'diagonal', o.diagonal),
  };
}

function checkLossFn(where: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new TypeError(`${where}: the loss must be a function (x, y) => Tensor, got ${show(fn)}`);
}

function evaluate(where: string, fullLoss: FullLoss, x: Tensor, y: Tensor): Tensor {
  checkFinite(where, [
    ['x', x],
    ['y', y],
  ]);
  // The mean loss of no sample is NaN: its summaries came out as zeros (or a reshape's error), the Taylor route refuses it.
  if (x.ndim > 0 && x.shape[0] === 0)
    throw new RangeError(`${where}: needs a batch of at least one sample, x has shape ${formatShape(x.shape)}`);
  const loss = fullLoss(x, y);
  if (!(loss instanceof Tensor)) throw new TypeError(`${where}: the loss function must return a Tensor, got ${show(loss)}`);
  if (loss.numel !== 1) throw new RangeError(`${where}: the loss must be a scalar, got shape ${formatShape(loss.shape)}`);
  if (!loss.requiresGrad) throw new TypeError(`${where}: the loss has no graph: it does not depend on any parameter that requires grad`);
  return loss;
}

/**
 * Live tensors whose values are all finite (NaN or Inf in a batch would make every summary NaN), given as
 * [name, tensor] pairs: checked in one native call (on a GPU, one wait for the device), then one by one only to
 * name the first that is not.
 */
export function checkFinite(where: string, named: [string, unknown][]): void {
  const handles = named.map(([name, t]) => Tensor.handleOf(where, name, t));
  if (native().allFinite(handles)) return;
  const culprit = named.find((_, i) => !native().allFinite([handles[i]]));
  throw new RangeError(`${where}: ${culprit?.[0] ?? named.map(([name]) => name).join(' or ')} holds NaN or Inf`);
}

function* batches(where: string, loader: unknown): Generator<[Tensor, Tensor]> {
  if (loader === null || typeof (loader as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${where}: loader must be an iterable of [x, y] batches, got ${show(loader)}`);
  }
  let i = 0;
  for (const batch of loader as Iterable<unknown>) {
    if (!Array.isArray(batch) || batch.length < 2) throw new TypeError(`${where}: batch ${i} must be [x, y], got ${show(batch)}`);
    const [x, y] = batch;
    Tensor.handleOf(where, `batch ${i} x`, x);
    Tensor.handleOf(where, `batch ${i} y`, y);
    if ((x as Tensor).ndim === 0) throw new RangeError(`${where}: batch ${i} x must have a batch dimension`);
    i++;
    yield [x as Tensor, y as Tensor];
  }
}

function handles(groups: Tensor[][]) {
  return groups.map((g) => g.map((t) => t.handle('computeHg')));
}
