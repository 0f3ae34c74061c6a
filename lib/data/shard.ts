// Which part of an epoch's example order a rank reads: torch.utils.data.DistributedSampler's rule. Every rank
// computes the same permutation (same seed and epoch) and takes every worldSize-th example from its rank on,
// so the union of the ranks' k-th batches is the k-th batch of the unsharded loader with worldSize times the
// batch size. Uneven sizes: every rank must take the same number of steps (each one ends in a collective), so
// the order is first padded by repeating its first examples up to a multiple of worldSize (as
// DistributedSampler's default), or, with dropLast, cut down to one (its drop_last=True).
import { checkInteger, checkOptions, show } from '../core/validate';
import { isInitialized, rank, worldSize } from '../distributed/process_group';

export type ShardOption = 'auto' | { rank: number; worldSize: number };
export interface Shard {
  rank: number;
  worldSize: number;
}

export function checkShard(where: string, value: unknown): ShardOption | undefined {
  if (value === undefined || value === 'auto') return value;
  if (typeof value === 'string') throw new RangeError(`${where}: shard must be 'auto' or { rank, worldSize }, got ${show(value)}`);
  const o = checkOptions(`${where}: shard`, value, ['rank', 'worldSize']);
  const size = checkInteger(where, 'shard.worldSize', o.worldSize, 1);
  const r = checkInteger(where, 'shard.rank', o.rank, 0);
  if (r >= size) throw new RangeError(`${where}: shard.rank must be in [0, ${size - 1}] (shard.worldSize ${size}), got ${r}`);
  return { rank: r, worldSize: size };
}

/** The shard to read now: 'auto' is the process group's rank and size once initialised, else everything. */
export function resolveShard(option: ShardOption | undefined): Shard {
  if (option === undefined) return { rank: 0, worldSize: 1 };
  if (option === 'auto') return isInitialized() ? { rank: rank(), worldSize: worldSize() } : { rank: 0, worldSize: 1 };
  return option;
}

/** How many examples each rank reads of n. */
export function shardSize(n: number, shard: Shard, dropLast: boolean): number {
  return dropLast ? Math.floor(n / shard.worldSize) : Math.ceil(n / shard.worldSize);
}

/** This rank's part of an epoch's order. */
export function shardOrder(order: Uint32Array, shard: Shard, dropLast: boolean): Uint32Array {
  if (shard.worldSize === 1) return order;
  const n = order.length,
    each = shardSize(n, shard, dropLast);
  const out = new Uint32Array(each);
  for (let k = 0; k < each; k++) out[k] = order[(shard.rank + k * shard.worldSize) % n];
  return out;
}
