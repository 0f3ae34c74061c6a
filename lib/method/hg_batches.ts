// Where NewtonSummary draws its hg batches from: the user's loader, cycled forever (a new pass when one ends).
// The loader is checked when the optimizer is built, not at the first summary, and a position (the number of
// batches drawn) can be restored without materialising the batches before it.
import { DataLoader } from '../data/data_loader';
import { resolveShard, shardSize } from '../data/shard';
import type { Batches } from './summaries';
import { Tensor, keep } from '../core/tensor';
import { show } from '../core/validate';

/** More replayed draws than this from a loader that can only be replayed one batch at a time is refused. */
const MAX_REPLAY = 10_000_000;

/** Where the next draw comes from: the pass being read, a checked first batch not handed out yet, the
 * DataLoader epoch the next pass reads, and the batches drawn so far. */
type Cursor = {
  iterator: Iterator<[Tensor, Tensor]> | undefined;
  peeked: [Tensor, Tensor] | undefined;
  /**
   * Our own count, not the loader's `epoch`: a loader also used for training had its epochs taken by the hg
   * draws (and moved by a resume), so its training order depended on when the summaries ran.
   */
  epoch: number;
  draws: number;
};

export class HgBatches {
  readonly #where: string;
  readonly #loader: Batches;
  /** A DataLoader's epoch when we started drawing: its position is then computable without replaying. */
  readonly #firstEpoch: number;
  #at: Cursor;

  constructor(where: string, loader: unknown) {
    this.#where = where;
    if (loader === null || typeof (loader as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(
        `${where}: hgLoader must be an iterable of [x, y] batches (a DataLoader, an array of [x, y] pairs…), got ${show(loader)}`,
      );
    }
    this.#loader = loader as Batches;
    this.#firstEpoch = loader instanceof DataLoader ? loader.epoch : 0;
    this.#at = { iterator: undefined, peeked: undefined, epoch: this.#firstEpoch, draws: 0 };
    if (loader instanceof DataLoader) {
      // Yields [x, y] Tensors by construction; it only has to yield something.
      if (loader.length === 0) throw new RangeError(`${where}: hgLoader yields no batch (${emptyBecause(loader)})`);
      return;
    }
    // Checked on its first item, which is kept and used as the first draw: the user's sequence is unchanged
    // (a generator's first item is not lost, an epoch counter advanced by the call is not advanced twice).
    const iterator = this.#loader[Symbol.iterator]();
    const first = iterator.next();
    if (first.done) throw new RangeError(`${where}: hgLoader yielded no batch`);
    const peeked = this.#checked(first.value);
    if (!Array.isArray(loader)) peeked.forEach((t) => keep(t)); // made by the loader for us: survives the caller's tidy
    this.#at = { ...this.#at, iterator, peeked };
  }

  /** Batches drawn so far. */
  get draws(): number {
    return this.#at.draws;
  }

  /** The next batch, starting a new pass over the loader when one ends. */
  next(): [Tensor, Tensor] {
    return this.#draw(this.#at);
  }

  /** Draws from cursor `c`, moving it. */
  #draw(c: Cursor): [Tensor, Tensor] {
    if (c.peeked) {
      const batch = c.peeked;
      c.peeked = undefined;
      c.draws++;
      return batch;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      c.iterator ??= this.#loader instanceof DataLoader ? this.#loader.batches(c.epoch++) : this.#loader[Symbol.iterator]();
      const next = c.iterator.next();
      if (!next.done) {
        c.draws++;
        return this.#checked(next.value);
      }
      c.iterator = undefined; // exhausted: cycle
    }
    // The loader yielded when checked at construction: a new pass yielding nothing is a one-shot iterator's.
    throw new RangeError(
      `${this.#where}: the hg loader is exhausted: a new pass over it yields no batch, as a generator's once read through ` +
        '(pass an array, a DataLoader, or an iterable whose [Symbol.iterator]() starts over)',
    );
  }

  /**
   * Continues as if `draws` batches had been drawn since the start: computed for a DataLoader (its epochs'
   * orders depend only on its seed) and an array, replayed otherwise (each replayed batch is left unused).
   * The position moves only once the replay has succeeded: a loader that throws during it leaves the count of
   * draws as it was (the items a generator gave to the failed replay are not given back: a fresh loader's next
   * draw is then a new pass's first).
   */
  seek(draws: number): void {
    const loader = this.#loader;
    if (loader instanceof DataLoader) {
      const perEpoch = loader.length,
        epoch = this.#firstEpoch + Math.floor(draws / perEpoch);
      this.#at = { iterator: loader.batches(epoch, draws % perEpoch), peeked: undefined, epoch: epoch + 1, draws };
      return;
    }
    if (Array.isArray(loader)) {
      const iterator = loader.values();
      for (let i = 0; i < draws % loader.length; i++) iterator.next();
      this.#at = { iterator, peeked: undefined, epoch: this.#at.epoch, draws };
      return;
    }
    this.checkSeek(draws);
    // Fresh (only the checked first batch read): go on from it; otherwise a new pass, as a fresh loader would be.
    const fresh = this.#at.draws === 0 && this.#at.peeked !== undefined;
    const replay: Cursor = fresh ? { ...this.#at } : { iterator: undefined, peeked: undefined, epoch: this.#at.epoch, draws: 0 };
    try {
      for (let i = 0; i < draws; i++) this.#draw(replay);
    } catch (err) {
      // A fresh replay read on from our own iterator, which it has moved (a generator that threw is over): the
      // next draw is a new pass's first, as a retried seek's replay is, not the peeked batch and then that
      // iterator's remains (a position off by the items the failed replay read).
      if (fresh) this.#at = { iterator: undefined, peeked: undefined, epoch: this.#at.epoch, draws: 0 };
      throw err;
    }
    this.#at = replay;
  }

  /** Throws if seek(draws) is refused: checked by a state dict's load before it changes anything. */
  checkSeek(draws: number): void {
    if (draws > MAX_REPLAY && !(this.#loader instanceof DataLoader) && !Array.isArray(this.#loader))
      throw new RangeError(
        `${this.#where}: replaying ${draws} hg batches of a loader that is neither a DataLoader nor an array is refused (at most ${MAX_REPLAY})`,
      );
  }

  #checked(batch: unknown): [Tensor, Tensor] {
    if (!Array.isArray(batch) || batch.length !== 2 || !(batch[0] instanceof Tensor) || !(batch[1] instanceof Tensor)) {
      throw new TypeError(
        `${this.#where}: the hg loader must yield [x, y] pairs of Tensors, got ${show(batch)} (a DataLoader yields them; an array must hold [x, y] pairs)`,
      );
    }
    if (batch[0].isDisposed || batch[1].isDisposed) throw new TypeError(`${this.#where}: the hg loader yielded a disposed tensor`);
    return batch as [Tensor, Tensor];
  }
}

/** Why a DataLoader has no batch: an empty dataset, or dropLast with fewer examples (per rank) than batchSize. */
function emptyBecause(loader: DataLoader): string {
  const n = loader.dataset.length;
  if (n === 0) return 'its dataset is empty';
  const shard = resolveShard(loader.shard);
  const examples = shard.worldSize === 1 ? `${n} examples` : `${shardSize(n, shard, true)} examples per rank`;
  return `dropLast drops its only batch: ${examples}, fewer than batchSize ${loader.batchSize}`;
}
