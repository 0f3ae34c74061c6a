// NewtonSummary's `average` option as a unit: the uniform mean, the moving average after its warm-up, and
// the state-dict round trip, checked against the same averages written out by hand.
import { describe, expect, it } from 'vitest';
import { memory, tensor } from '../lib';
import { SummariesAverage } from '../lib/method/summaries_average';

const f64 = { dtype: 'float64' as const };
const summaries = (k: number) => ({
  H: tensor(
    [
      [k, 1],
      [1, 2 * k],
    ],
    f64,
  ),
  g: tensor([k, -k], f64),
  order3: tensor([k * k, 1], f64),
});
const values = (t: { toArray(): unknown }) => [...(t.toArray() as Float64Array)];

describe('SummariesAverage', () => {
  it("'uniform' is the mean of every update so far", () => {
    const avg = new SummariesAverage({ kind: 'uniform' });
    avg.add(summaries(1));
    avg.add(summaries(2));
    const a = avg.add(summaries(6));
    expect(a.count).toBe(3);
    expect(values(a.g)).toEqual([3, -3]);
    expect(values(a.H)).toEqual([3, 1, 1, 6]);
    expect(values(a.order3)[0]).toBeCloseTo((1 + 4 + 36) / 3, 14);
  });

  it("'moving' is uniform for `warmup` updates, then weighs the past by `factor`", () => {
    const avg = new SummariesAverage({ kind: 'moving', factor: 0.75, warmup: 2 });
    avg.add(summaries(1));
    avg.add(summaries(3)); // warm-up: mean 2
    const a = avg.add(summaries(10)); // 0.75 · 2 + 0.25 · 10
    expect(values(a.g)[0]).toBeCloseTo(0.75 * 2 + 0.25 * 10, 14);
  });

  it("'moving' defaults: factor 0.9 on the past, no warm-up (the second update is already a moving average)", () => {
    const avg = new SummariesAverage({ kind: 'moving' });
    avg.add(summaries(1));
    const a = avg.add(summaries(3)); // 0.9 · 1 + 0.1 · 3
    expect(values(a.g)[0]).toBeCloseTo(0.9 * 1 + 0.1 * 3, 14);
    expect(values(a.H)[3]).toBeCloseTo(0.9 * 2 + 0.1 * 6, 14);
  });

  it('a restored average keeps its count: the uniform mean and the warm-up go on from it', () => {
    const uniform = new SummariesAverage({ kind: 'uniform' });
    uniform.add(summaries(1));
    uniform.add(summaries(2));
    const restored = new SummariesAverage({ kind: 'uniform' });
    const saved = uniform.saved()!;
    restored.restore(saved);
    expect(saved.count).toBe(2);
    const a = restored.add(summaries(6)); // (1 + 2 + 6) / 3
    expect(a.count).toBe(3);
    expect(values(a.g)).toEqual([3, -3]);
    // In a warm-up of 3, the third update is still uniform: (1 + 2 + 6) / 3, not 0.8 · 1.5 + 0.2 · 6.
    const moving = new SummariesAverage({ kind: 'moving', factor: 0.8, warmup: 3 });
    moving.add(summaries(1));
    moving.add(summaries(2));
    const resumed = new SummariesAverage({ kind: 'moving', factor: 0.8, warmup: 3 });
    resumed.restore(moving.saved()!);
    expect(values(resumed.add(summaries(6)).g)[0]).toBeCloseTo(3, 14);
  });

  it('continues from a saved average as if never interrupted, owning copies', () => {
    const a = new SummariesAverage({ kind: 'moving', factor: 0.5 });
    a.add(summaries(1));
    a.add(summaries(2));
    const saved = a.saved()!;
    const b = new SummariesAverage({ kind: 'moving', factor: 0.5 });
    b.restore({ ...saved, H: saved.H.clone(), g: saved.g.clone(), order3: saved.order3.clone() });
    expect(values(b.add(summaries(5)).g)).toEqual(values(a.add(summaries(5)).g));
    expect(new SummariesAverage({ kind: 'uniform' }).saved()).toBeNull();
  });

  it('frees the values it replaces', () => {
    const avg = new SummariesAverage({ kind: 'uniform' });
    avg.add(summaries(1));
    const before = memory().liveTensors;
    for (let k = 0; k < 20; k++) {
      const s = summaries(k);
      avg.add(s);
      for (const t of Object.values(s)) t.dispose();
    }
    expect(memory().liveTensors).toBe(before);
  });
});
