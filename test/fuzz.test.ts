// The fuzz families of scripts/fuzz.mjs with fixed seeds: random arguments to every public function and
// method, integer settings around the 32- and 53-bit edges, crafted checkpoints, non-regular files, and
// worker threads terminated during asynchronous calls. scripts/fuzz.mjs runs them for longer.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without types
import { fuzz, fuzzCheckpoints, fuzzFiles, fuzzIntegers } from '../scripts/fuzz.mjs';

describe('fuzzing', () => {
  it('api: 3000 random calls, each returns or throws a JS Error', () => {
    const result = fuzz({ runs: 3000, seed: 42 });
    expect(result.calls).toBeGreaterThan(100);
    expect(result.failures).toEqual([]);
  }, 120_000);

  it('integers: 1000 op settings around 2**31, 2**32 and 2**53', () => {
    expect(fuzzIntegers({ runs: 1000, seed: 7 }).failures).toEqual([]);
  }, 120_000);

  it('checkpoints: 1000 crafted files are refused or load within their own bytes', () => {
    const result = fuzzCheckpoints({ runs: 1000, seed: 11 });
    expect(result.failures).toEqual([]);
    expect(result.refused).toBeGreaterThan(100);
    expect(result.loaded).toBeGreaterThan(100); // well-formed files load: the checks are not blanket refusals
  }, 120_000);

  it('files: every reader refuses non-regular files at once', async () => {
    expect((await fuzzFiles({ runs: 60, seed: 13 })).failures).toEqual([]);
  }, 120_000);

  it('teardown: worker threads terminated during computeHgAsync, computeHgTaylorAsync and stepAsync', () => {
    // In a child process: an abort there (as before the fix: "terminate called after throwing an instance
    // of 'Napi::Error'") must not take the test runner with it.
    const script = path.join(__dirname, '..', 'scripts', 'fuzz.mjs');
    const r = spawnSync(process.execPath, [script, '--family', 'teardown', '--runs', String(12 * 2000), '--seed', '5'], {
      encoding: 'utf8',
      timeout: 110_000,
    });
    expect(r.stderr).not.toMatch(/terminate called|Aborted|FATAL/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fuzz teardown: 12 cases/);
  }, 120_000);
});
