// Batches of a dataset, in order or shuffled. Shuffling is reproducible: the order of epoch e depends only
// on (seed, e), and each iteration of the loader is the next epoch.
import { checkBoolean, checkInteger, checkOptions, show } from '../core/validate';
import { rand } from '../core/creation';
import type { Tensor } from '../core/tensor';
import { TensorDataset } from './dataset';
import { checkShard, resolveShard, shardOrder, shardSize, type ShardOption } from './shard';

export interface DataLoaderOptions {
  /** Examples per batch (the last batch may be smaller unless dropLast). */
  batchSize: number;
  /** A new random order every epoch (default false: the dataset's order). */
  shuffle?: boolean;
  /**
   * The shuffle's seed. Default: drawn from grnewt's generator when shuffling (as torch's DataLoader does: each
   * loader gets its own order, and manualSeed() makes it reproducible), 0 for a sharded loader (every rank must
   * compute the same permutation, as DistributedSampler's default). `loader.seed` says which was used.
   */
  seed?: number;
  /** Leave out the last batch when it would be smaller than batchSize (default false). */
  dropLast?: boolean;
  /**
   * Read only this rank's part of each epoch (DistributedSampler's rule, see shard.ts): 'auto' takes the rank
   * and size of the process group (grnewt.distributed.init), or everything before one exists. Uneven sizes
   * are padded with the epoch's first examples (dropLast: cut), so every rank takes as many batches.
   */
  shard?: ShardOption;
}

/**
 * Batches of a TensorDataset as [x, y] pairs; each iteration is the next epoch (epoch e's order depends only on
 * the seed and e), and `shard` reads one rank's part of it (DistributedSampler's rule).
 */
export class DataLoader implements Iterable<[Tensor, Tensor]> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly shard: ShardOption | undefined;
  /** The epoch the next iteration will be (settable, to resume). */
  epoch = 0;

  constructor(
    readonly dataset: TensorDataset,
    options: DataLoaderOptions,
  ) {
    if (!(dataset instanceof TensorDataset)) throw new TypeError(`DataLoader: dataset must be a TensorDataset, got ${show(dataset)}`);
    const o = checkOptions('DataLoader', options, ['batchSize', 'shuffle', 'seed', 'dropLast', 'shard']);
    this.batchSize = checkInteger('DataLoader', 'batchSize', o.batchSize, 1);
    this.shuffle = checkBoolean('DataLoader', 'shuffle', o.shuffle ?? false);
    this.dropLast = checkBoolean('DataLoader', 'dropLast', o.dropLast ?? false);
    this.shard = checkShard('DataLoader', o.shard);
    this.seed =
      o.seed !== undefined ? checkInteger('DataLoader', 'seed', o.seed, 0) : this.shuffle && this.shard === undefined ? drawnSeed() : 0;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = shardSize(this.dataset.length, resolveShard(this.shard), this.dropLast) / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The example order of an epoch (this rank's part of it when sharded). */
  order(epoch: number): Uint32Array {
    return shardOrder(this.fullOrder(epoch), resolveShard(this.shard), this.dropLast);
  }

  /** The example order of an epoch over the whole dataset, the same on every rank. */
  fullOrder(epoch: number): Uint32Array {
    const n = this.dataset.length;
    const order = Uint32Array.from({ length: n }, (_, i) => i);
    if (!this.shuffle) return order;
    const random = mulberry32(hash(this.seed, epoch));
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  /** The next epoch's batches (advancing `epoch`). */
  [Symbol.iterator](): Iterator<[Tensor, Tensor]> {
    // Checked before ++ turns a string or undefined into NaN (the error then said 'got NaN').
    checkInteger('DataLoader', 'epoch', this.epoch, 0);
    return this.batches(this.epoch++);
  }

  /** The batches of a given epoch, from batch `start` on (to resume within an epoch). */
  *batches(epoch: number, start = 0): Generator<[Tensor, Tensor]> {
    checkInteger('DataLoader.batches', 'epoch', epoch, 0);
    checkInteger('DataLoader.batches', 'start', start, 0);
    const order = this.order(epoch);
    for (let b = start; b < this.length; b++) {
      yield this.dataset.batch(order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length)));
    }
  }
}

// A small, well-mixed 32-bit generator: reproducible across platforms, independent of libtorch's.
/** A seed from grnewt's generator (manualSeed governs it). */
function drawnSeed(): number {
  const r = rand([1], { dtype: 'float64' });
  const seed = Math.floor(r.item() * 2 ** 31);
  r.dispose();
  return seed;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(seed: number, epoch: number): number {
  // `^` reads a number's low 32 bits only: without its high bits (seeds go to 2^53 − 1), seed and seed + 2^32
  // shuffled alike. They are 0 below 2^32, so those seeds keep their orders.
  const high = Math.floor(seed / 2 ** 32);
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35) ^ Math.imul(high, 0x165667b1);
  h ^= h >>> 16;
  return Math.imul(h, 0x27d4eb2f) >>> 0;
}
