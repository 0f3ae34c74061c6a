// fit() on several processes: whether it trains data-parallel, with which rank and size, and the small
// per-step agreement that keeps the ranks' metrics and stops identical.
import { tensor } from '../../core/creation';
import { allReduce, isInitialized, rank, worldSize } from '../../distributed/process_group';
import type { TrainConfig } from './config';

export interface World {
  on: boolean;
  rank: number;
  size: number;
}

export const ONE_PROCESS: World = { on: false, rank: 0, size: 1 };

/** fit's `distributed` option (default: a process group exists), and the batch sizes checked against it. */
export function dataParallel(option: unknown, config: TrainConfig): World {
  if (option !== undefined && typeof option !== 'boolean') throw new TypeError(`fit: distributed must be a boolean, got ${typeof option}`);
  const on = option ?? isInitialized();
  if (!on) return ONE_PROCESS;
  if (!isInitialized()) throw new Error('fit: distributed: true needs a process group: await grnewt.distributed.init() first');
  const size = worldSize();
  for (const [name, value] of [
    ['batchSize', config.batchSize],
    ['hgBatchSize', config.hgBatchSize],
  ] as const) {
    if (value % size !== 0)
      throw new RangeError(
        `fit: ${name} (${value}, the global batch) must be a multiple of the number of processes (${size}): each reads an equal part of every batch`,
      );
  }
  return { on: true, rank: rank(), size };
}

/** The shard option of this rank's loaders (none on one process). */
export function shardOf(world: World): { shard?: { rank: number; worldSize: number } } {
  return world.on ? { shard: { rank: world.rank, worldSize: world.size } } : {};
}

/**
 * The ranks' mean loss of this step (the whole batch's, with equal shards) and whether any rank was asked to
 * stop, so every rank records the same numbers and stops after the same step: one allreduce of 2 numbers.
 */
export async function agreeOnStep(world: World, loss: number, stop: boolean): Promise<[number, boolean]> {
  if (!world.on) return [loss, stop];
  const t = tensor(new Float64Array([loss, stop ? 1 : 0]));
  try {
    await allReduce(t, 'sum');
    const [sum, stops] = t.toArray() as Float64Array;
    return [sum / world.size, stops > 0];
  } finally {
    t.dispose();
  }
}
