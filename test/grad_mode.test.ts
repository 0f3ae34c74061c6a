// noGrad / enableGrad: autograd recording off and on for a synchronous block, restored however it ends.
import { describe, expect, it } from 'vitest';
import { enableGrad, isGradEnabled, noGrad, tensor } from '../lib';

describe('noGrad and enableGrad', () => {
  const w = tensor([1, 2, 3], { requiresGrad: true });

  it('ops inside noGrad record no graph; the mode comes back after', () => {
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return w.mul(2).sum();
    });
    expect(y.requiresGrad).toBe(false);
    expect(y.item()).toBe(12);
    expect(() => y.backward()).toThrow(/no graph/);
    expect(isGradEnabled()).toBe(true);
    expect(w.mul(2).sum().requiresGrad).toBe(true);
  });

  it('enableGrad turns recording back on inside noGrad, and nesting restores each level', () => {
    noGrad(() => {
      const inner = enableGrad(() => {
        expect(isGradEnabled()).toBe(true);
        return w.mul(w).sum();
      });
      expect(isGradEnabled()).toBe(false);
      expect(inner.requiresGrad).toBe(true);
      inner.backward();
    });
    expect(Array.from(w.grad!.toArray())).toEqual([2, 4, 6]); // d/dw Σw² = 2w
  });

  it('restores the mode when fn throws, and refuses async functions (after restoring)', () => {
    expect(() =>
      noGrad(() => {
        throw new RangeError('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(async () => 1)).toThrow(/noGrad: fn must be synchronous/);
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(42 as never)).toThrow(TypeError);
    expect(() => enableGrad(undefined as never)).toThrow(/enableGrad: fn must be a function, got undefined/);
  });
});
