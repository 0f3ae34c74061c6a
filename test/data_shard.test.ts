// DataLoader's shard option: DistributedSampler's rule over the same seed+epoch permutation.
import { describe, expect, it } from 'vitest';
import { data, tensor } from '../lib';

const dataset = (n: number) =>
  new data.TensorDataset(tensor(Float64Array.from({ length: n }, (_, i) => i)).reshape([n, 1]), tensor(new BigInt64Array(n)));
const ids = (batches: Iterable<[{ toArray(): unknown }, unknown]>) => [...batches].map(([x]) => Array.from(x.toArray() as Float64Array));

describe('DataLoader shard', () => {
  it('the ranks read disjoint parts of the same permutation; their k-th batches make the unsharded k-th batch', () => {
    const ds = dataset(24);
    const whole = new data.DataLoader(ds, { batchSize: 6, shuffle: true, seed: 9 });
    const parts = [0, 1, 2].map((rank) => new data.DataLoader(ds, { batchSize: 2, shuffle: true, seed: 9, shard: { rank, worldSize: 3 } }));
    for (const epoch of [0, 1]) {
      const w = ids(whole.batches(epoch));
      const p = parts.map((l) => ids(l.batches(epoch)));
      expect(p.map((b) => b.length)).toEqual([4, 4, 4]);
      w.forEach((batch, k) => expect([...p[0][k], ...p[1][k], ...p[2][k]].sort((a, b) => a - b)).toEqual([...batch].sort((a, b) => a - b)));
      expect(new Set(p.flat(2)).size).toBe(24);
    }
    expect(ids(parts[0].batches(0))).not.toEqual(ids(parts[0].batches(1))); // a new permutation each epoch
  });

  it('uneven sizes: padded with the first examples of the order (every rank as many batches), or cut with dropLast', () => {
    const ds = dataset(10);
    const order = Array.from(new data.DataLoader(ds, { batchSize: 1, shuffle: true, seed: 1 }).order(0));
    const read = (rank: number, dropLast: boolean) =>
      ids(new data.DataLoader(ds, { batchSize: 2, shuffle: true, seed: 1, dropLast, shard: { rank, worldSize: 3 } }).batches(0)).flat();
    // 10 examples on 3 ranks: 4 each, order[0] and order[1] read a second time (by ranks 1 and 2).
    expect([0, 1, 2].map((r) => read(r, false))).toEqual([0, 1, 2].map((r) => [0, 1, 2, 3].map((k) => order[(r + 3 * k) % 10])));
    expect(new data.DataLoader(ds, { batchSize: 2, shard: { rank: 2, worldSize: 3 } }).length).toBe(2);
    // dropLast: 3 each (order[9] unread), then whole batches only: one batch of 2.
    expect([0, 1, 2].map((r) => read(r, true))).toEqual([0, 1, 2].map((r) => [0, 1].map((k) => order[r + 3 * k])));
  });

  it("'auto' without a process group reads everything; bad shards are refused, naming them", () => {
    expect(new data.DataLoader(dataset(5), { batchSize: 2, shard: 'auto' }).length).toBe(3);
    expect(() => new data.DataLoader(dataset(5), { batchSize: 2, shard: { rank: 2, worldSize: 2 } })).toThrow(
      /shard\.rank must be in \[0, 1\] \(shard\.worldSize 2\), got 2/,
    );
    expect(() => new data.DataLoader(dataset(5), { batchSize: 2, shard: { rank: 0, worldSize: 0 } })).toThrow(RangeError);
    expect(() => new data.DataLoader(dataset(5), { batchSize: 2, shard: 'all' as never })).toThrow(
      /shard must be 'auto' or \{ rank, worldSize \}/,
    );
    expect(() => new data.DataLoader(dataset(5), { batchSize: 2, shard: { rank: 0, worldSize: 2, extra: 1 } as never })).toThrow(/extra/);
  });
});
