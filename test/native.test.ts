// The native test executable (no Node inside): builds it with plain cmake and runs it — the Taylor
// route's elementwise kernel against the ATen rules, activation derivatives against finite differences,
// and, in a CUDA build with a GPU, the CUDA kernel and the Taylor route on the GPU against the CPU.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('grnewt_native_tests', () => {
  it('builds and passes', () => {
    const r = spawnSync(path.join(__dirname, '..', 'scripts', 'native-tests.sh'), { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^passed: 0 failure\(s\)$/m);
    expect(r.stdout).toMatch(/^ok {4}CPU kernel vs ATen rules tanh float64/m);
  }, 600_000);
});
