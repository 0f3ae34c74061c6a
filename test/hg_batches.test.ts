// NewtonSummary's hg-batch source as a unit: cycling, the loader checked at construction without losing a
// generator's first batch, and seek() continuing exactly where the same number of draws would have.
import { describe, expect, it } from 'vitest';
import { data, tensor, type Tensor } from '../lib';
import { HgBatches } from '../lib/method/hg_batches';

const pair = (k: number): [Tensor, Tensor] => [tensor([k, k + 0.5]), tensor([k])];
const first = (b: [Tensor, Tensor]) => (b[0].toArray() as Float32Array)[0];

function loader() {
  const x = tensor(
    Float32Array.from({ length: 10 }, (_, i) => i),
    { shape: [10, 1] },
  );
  const y = tensor(Int32Array.from({ length: 10 }, (_, i) => i % 3));
  return new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 3, shuffle: true, seed: 4 });
}

describe('HgBatches', () => {
  it('names why a DataLoader yields no batch: an empty dataset, or dropLast with fewer examples than batchSize (it said "empty")', () => {
    const ds = loader().dataset;
    expect(() => new HgBatches('Opt', new data.DataLoader(ds, { batchSize: 11, dropLast: true }))).toThrow(
      'Opt: hgLoader yields no batch (dropLast drops its only batch: 10 examples, fewer than batchSize 11)',
    );
    const sharded = new data.DataLoader(ds, { batchSize: 4, dropLast: true, shard: { rank: 1, worldSize: 3 } });
    expect(() => new HgBatches('Opt', sharded)).toThrow('(dropLast drops its only batch: 3 examples per rank, fewer than batchSize 4)');
    const empty = new data.TensorDataset(tensor(new Float32Array(0), { shape: [0, 1] }), tensor(new Int32Array(0)));
    expect(() => new HgBatches('Opt', new data.DataLoader(empty, { batchSize: 1 }))).toThrow(
      'Opt: hgLoader yields no batch (its dataset is empty)',
    );
  });

  it('cycles an array, a new pass when one ends', () => {
    const hg = new HgBatches('t', [pair(0), pair(1), pair(2)]);
    expect(Array.from({ length: 7 }, () => first(hg.next()))).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(hg.draws).toBe(7);
  });

  it('names a one-shot loader once it is exhausted (it said "yielded no batch" after yielding some)', () => {
    function* twice() {
      yield pair(0);
      yield pair(1);
    }
    const hg = new HgBatches('Opt', twice());
    expect([first(hg.next()), first(hg.next())]).toEqual([0, 1]);
    expect(() => hg.next()).toThrow(/Opt: the hg loader is exhausted: a new pass over it yields no batch, as a generator's/);
  });

  it("reads a generator's first batch at construction and hands it out first", () => {
    let made = 0;
    function* gen() {
      for (;;) yield pair(made++);
    }
    const hg = new HgBatches('t', gen());
    expect(made).toBe(1);
    expect(hg.draws).toBe(0); // read, not yet drawn
    expect([first(hg.next()), first(hg.next())]).toEqual([0, 1]);
    expect(hg.draws).toBe(2);
  });

  it('refuses a loader that is not iterable, is empty, or yields something other than [x, y] Tensors', () => {
    expect(() => new HgBatches('Opt', 5)).toThrow(/Opt: hgLoader must be an iterable of \[x, y\] batches/);
    expect(() => new HgBatches('Opt', [])).toThrow(/Opt: hgLoader yielded no batch/);
    expect(() => new HgBatches('Opt', [[1, 2]])).toThrow(/Opt: the hg loader must yield \[x, y\] pairs of Tensors/);
  });

  it('seek(n) on a DataLoader continues as n draws would have, across epochs', () => {
    const drawn = new HgBatches('t', loader());
    const ids = Array.from({ length: 13 }, () => [...(drawn.next()[0].toArray() as Float32Array)].join());
    for (const n of [0, 2, 4, 5, 8]) {
      const sought = new HgBatches('t', loader());
      sought.seek(n);
      expect(sought.draws).toBe(n);
      // The next five draws, across the end of an epoch (4 batches each): the next pass is the next epoch's.
      expect(Array.from({ length: 5 }, () => [...(sought.next()[0].toArray() as Float32Array)].join())).toEqual(ids.slice(n, n + 5));
      expect(sought.draws).toBe(n + 5);
    }
  });

  it("draws a DataLoader's epochs by its own count, leaving the loader's epoch to its training loop", () => {
    const shared = loader();
    const hg = new HgBatches('t', shared);
    const ids = (batches: Iterable<[Tensor, Tensor]>) => [...batches].map((b) => [...(b[0].toArray() as Float32Array)].join());
    const drawn = Array.from({ length: 5 }, () => [...(hg.next()[0].toArray() as Float32Array)].join());
    expect(shared.epoch).toBe(0); // the hg draws took epochs 0 and 1 without moving the loader's counter
    expect(drawn).toEqual([...ids(shared.batches(0)), ...ids(shared.batches(1))].slice(0, 5));
    expect(ids(shared)).toEqual(ids(shared.batches(0))); // the training loop still starts at its epoch 0
    hg.seek(8);
    expect(shared.epoch).toBe(1);
    // A loader already at epoch 1 (a training loop read it once): the hg draws start from that epoch, and so does seek.
    const later = loader();
    [...later];
    const from1 = [...ids(later.batches(1)), ...ids(later.batches(2))];
    const fresh = new HgBatches('t', later);
    expect(Array.from({ length: 5 }, () => [...(fresh.next()[0].toArray() as Float32Array)].join())).toEqual(from1.slice(0, 5));
    const sought = new HgBatches('t', later);
    sought.seek(5);
    expect([...(sought.next()[0].toArray() as Float32Array)].join()).toBe(from1[5]);
  });

  it('seek(n) on an array and on a replayed generator continue as n draws would have', () => {
    const arr = new HgBatches('t', [pair(0), pair(1), pair(2)]);
    arr.seek(4);
    expect(Array.from({ length: 4 }, () => first(arr.next()))).toEqual([1, 2, 0, 1]);
    expect(arr.draws).toBe(8);
    let made = 0;
    function* gen() {
      for (;;) yield pair(made++);
    }
    const g = new HgBatches('t', gen());
    g.seek(3);
    expect(first(g.next())).toBe(3);
    expect(g.draws).toBe(4);
  });

  it('a replay that throws leaves the position where it was', () => {
    let failAt = -1; // the item of a pass that throws
    const restartable = {
      *[Symbol.iterator]() {
        for (let k = 0; k < 4; k++) {
          if (k === failAt) throw new Error('loader failed');
          yield pair(k);
        }
      },
    };
    const hg = new HgBatches('t', restartable);
    expect([first(hg.next()), first(hg.next())]).toEqual([0, 1]);
    failAt = 3;
    expect(() => hg.seek(6)).toThrow('loader failed');
    failAt = -1;
    expect(hg.draws).toBe(2);
    expect(first(hg.next())).toBe(2); // the pass it was reading, not the failed replay's
  });

  it('a fresh loader whose replay throws goes on as a new pass, and a retried seek lands where a clean one does', () => {
    let failAt = -1;
    const restartable = {
      *[Symbol.iterator]() {
        for (let k = 0; k < 4; k++) {
          if (k === failAt) throw new Error('loader failed');
          yield pair(k);
        }
      },
    };
    const failOnce = (draws: number) => {
      const hg = new HgBatches('t', restartable); // fresh: its replay reads on from the checked first batch's pass
      failAt = 3;
      expect(() => hg.seek(draws)).toThrow('loader failed');
      failAt = -1;
      expect(hg.draws).toBe(0);
      return hg;
    };
    // It handed out the checked first batch, then a new pass (the failed replay had ended its own): 0, 0, 1, …
    const after = failOnce(6);
    expect(Array.from({ length: 5 }, () => first(after.next()))).toEqual([0, 1, 2, 3, 0]);
    const retried = failOnce(6);
    retried.seek(6);
    const clean = new HgBatches('t', restartable);
    clean.seek(6);
    expect(first(retried.next())).toBe(first(clean.next())); // 2; it was 1
  });
});
