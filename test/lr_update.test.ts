// NewtonSummary's learning-rate update rule as a unit: η → clipped, damped, averaged into the previous lr.
import { describe, expect, it } from 'vitest';
import { nextLrs } from '../lib/method/lr_update';

const group = (lr: number, damping = 0.1, momLrs = 0.5) => ({ lr, damping, momLrs });

describe('nextLrs', () => {
  it('takes the damped η alone on the first update (no previous lr to average with)', () => {
    expect(nextLrs([group(7), group(9, 0.5)], [2, 4], { removeNegative: false, first: true })).toEqual([0.1 * 2, 0.5 * 4]);
  });

  it('mixes later updates into the previous lr with each group own momLrs', () => {
    const next = nextLrs([group(1, 0.1, 0.5), group(2, 1, 0.25)], [3, 4], { removeNegative: false, first: false })!;
    expect(next[0]).toBeCloseTo(0.5 * 1 + 0.5 * 0.1 * 3, 15);
    expect(next[1]).toBeCloseTo(0.25 * 2 + 0.75 * 1 * 4, 15);
  });

  it('removes negative η before damping when asked, and keeps it otherwise', () => {
    expect(nextLrs([group(0, 1)], [-3], { removeNegative: true, first: true })).toEqual([0]);
    expect(nextLrs([group(0, 1)], [-3], { removeNegative: false, first: true })).toEqual([-3]);
  });

  it('clips η into lrsClip after removing negatives', () => {
    const rules = { removeNegative: true, lrsClip: [0.5, 2] as [number, number], first: true };
    expect(nextLrs([group(0, 1), group(0, 1), group(0, 1)], [-1, 1, 9], rules)).toEqual([0.5, 1, 2]);
  });

  it('returns null when a new lr would not be finite (damping · η overflows)', () => {
    expect(nextLrs([group(0, 1e300)], [1e300], { removeNegative: true, first: true })).toBeNull();
    expect(nextLrs([group(1), group(0, 1e300)], [1, 1e300], { removeNegative: true, first: false })).toBeNull();
  });

  it('refuses an η whose length is not the number of groups', () => {
    expect(() => nextLrs([group(0)], [1, 2], { removeNegative: true, first: true })).toThrow(/η has 2 entries for 1 groups/);
  });
});
