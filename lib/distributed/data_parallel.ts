// What `{ distributed: true }` does in the optimizers, as DistributedDataParallel: the same parameters on
// every rank (broadcast from rank 0 at construction), gradients averaged across ranks before each update
// (one flattened allreduce), and NewtonSummary's summaries combined into those of the union of the ranks'
// hg batches (an allreduce of S² + 2S + 2 numbers), so every rank solves the same problem.
import { tensor } from '../core/creation';
import { Tensor, tidy } from '../core/tensor';
import { checkBoolean } from '../core/validate';
import { allReduce, blocking, isInitialized, rank } from './process_group';

/** The `distributed` option, checked: true needs an initialised process group. */
export function checkDistributedOption(where: string, value: unknown): boolean {
  const on = checkBoolean(where, 'distributed', value ?? false);
  if (on && !isInitialized()) throw new Error(`${where}: distributed: true needs a process group: await grnewt.distributed.init() first`);
  return on;
}

/** Rank 0's parameter values into every rank's parameters (blocks until every rank has joined it). */
export function broadcastParameters(where: string, params: Tensor[]): void {
  blocking.broadcast(where, params, 0);
}

/** Every parameter's gradient, refusing a missing one (every rank must reduce the same tensors). */
function gradients(where: string, params: Tensor[]): Tensor[] {
  return params.map((p, i) => {
    const g = p.grad;
    if (g === null) {
      throw new Error(
        `${where}: distributed: parameter ${i} (shape [${p.shape}]) has no gradient on rank ${rank()}; every rank must average every parameter's gradient (give it a gradient, or leave it out of the optimizer)`,
      );
    }
    return g;
  });
}

/** Each gradient ← its mean across ranks, in place (one flattened allreduce; blocks the JS thread). */
export function averageGradients(where: string, params: Tensor[]): void {
  const grads = gradients(where, params);
  try {
    blocking.allReduce(where, grads, 'mean');
  } finally {
    for (const g of grads) g.dispose();
  }
}

/** The same, waiting off the JS thread. */
export async function averageGradientsAsync(where: string, params: Tensor[]): Promise<void> {
  const grads = gradients(where, params);
  try {
    await allReduce(grads, 'mean');
  } finally {
    for (const g of grads) g.dispose();
  }
}

export interface Summaries {
  H: Tensor;
  g: Tensor;
  order3: Tensor;
}

/** One rank's part: its summaries weighted by its hg batch size, or nothing (an unusable batch). */
function contribution(local: Summaries | null, batchSize: number, S: number): Tensor[] {
  return tidy(() => {
    if (!local) {
      return [tensor(new Float64Array(S * S + 2 * S)), tensor(new Float64Array([0, 1]))];
    }
    const f64 = (t: Tensor) => t.to({ dtype: 'float64' }).reshape([-1]).mul(batchSize);
    return [f64(local.H), f64(local.g), f64(local.order3), tensor(new Float64Array([batchSize, 0]))];
  });
}

/**
 * The summaries of the union of every rank's hg batch: Σ n_r·X_r / Σ n_r for X = H̄, ḡ, order3 (the loss
 * is a mean over examples, so its derivatives are too), in the local summaries' dtype. `local` null: this
 * rank's batch was unusable (NaN); then, as when any rank's was, the result is null on every rank.
 */
export async function combineSummariesAsync(
  local: Summaries | null,
  batchSize: number,
  S: number,
  dtype: string,
): Promise<Summaries | null> {
  const parts = contribution(local, batchSize, S);
  try {
    await allReduce(parts, 'sum');
    return combined(parts, S, dtype);
  } finally {
    for (const t of parts) t.dispose();
  }
}

/** The same, blocking the JS thread. */
export function combineSummaries(where: string, local: Summaries | null, batchSize: number, S: number, dtype: string): Summaries | null {
  const parts = contribution(local, batchSize, S);
  try {
    blocking.allReduce(where, parts, 'sum');
    return combined(parts, S, dtype);
  } finally {
    for (const t of parts) t.dispose();
  }
}

function combined(parts: Tensor[], S: number, dtype: string): Summaries | null {
  const counts = parts[parts.length - 1].toArray() as Float64Array;
  if (counts[1] > 0 || !(counts[0] > 0)) return null; // some rank's hg batch was unusable: no rank updates its lrs
  const total = counts[0];
  const back = (t: Tensor, shape: number[]) =>
    t
      .div(total)
      .reshape(shape)
      .to({ dtype: dtype as 'float32' | 'float64' });
  return tidy(() => ({ H: back(parts[0], [S, S]), g: back(parts[1], [S]), order3: back(parts[2], [S]) }));
}

/**
 * Public form: the summaries of the union of every rank's hg batch, from this rank's (computed on its
 * `batchSize` examples along the same direction as the other ranks'). Every rank must call it.
 */
export async function combineHg(hg: Summaries, batchSize: number): Promise<Summaries> {
  const where = 'distributed.combineHg';
  for (const k of ['H', 'g', 'order3'] as const) Tensor.handleOf(where, `hg.${k}`, hg?.[k]);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new RangeError(`${where}: batchSize must be an integer ≥ 1, got ${batchSize}`);
  const S = hg.g.shape[0];
  if (hg.H.shape.join() !== `${S},${S}` || hg.order3.shape.join() !== `${S}`)
    throw new RangeError(`${where}: expected H [S, S], g [S], order3 [S], got [${hg.H.shape}], [${hg.g.shape}], [${hg.order3.shape}]`);
  const result = await combineSummariesAsync(hg, batchSize, S, hg.H.dtype);
  if (!result) throw new Error(`${where}: a rank contributed no summaries`);
  return result;
}
