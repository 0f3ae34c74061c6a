// Random arguments to every public function and method (fixed seed): the process survives and every
// failure is a JS Error. scripts/fuzz.mjs runs the same property for longer.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without types
import { fuzz } from '../scripts/fuzz.mjs';

describe('fuzzing the public API', () => {
  it('3000 random calls: each returns or throws a JS Error', () => {
    const result = fuzz({ runs: 3000, seed: 42 });
    expect(result.calls).toBeGreaterThan(100);
    expect(result.failures).toEqual([]);
  }, 120_000);
});
