// The default thread count: physical cores minus busy ones (the 1-minute load average), at least 1; the
// same for trainConfig() and `grnewt train`, which says what it uses.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainConfig } from '../lib';
import { maxThreads } from '../lib/core/runtime';
import { chooseThreads, recommendedThreads } from '../lib/core/threads';

/** Physical cores counted independently: distinct "core id" lines per "physical id" in /proc/cpuinfo. */
function physicalCores(): number {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const ids = new Set(
    cpuinfo
      .split('\n\n')
      .filter((b) => b.trim())
      .map((b) => `${/physical id\s*:\s*(\d+)/.exec(b)?.[1]}-${/core id\s*:\s*(\d+)/.exec(b)?.[1]}`),
  );
  return Math.min(ids.size, os.availableParallelism());
}

describe('recommendedThreads', () => {
  it('is the physical cores minus the busy ones, at least 1', () => {
    for (const [cores, load, threads] of [
      [2, 0, 2],
      [2, 0.4, 2],
      [2, 0.6, 1],
      [2, 11.3, 1],
      [16, 3.2, 13],
      [16, 0, 16],
      [1, 0, 1],
    ]) {
      const choice = chooseThreads(cores, load);
      expect(choice.threads, `${cores} cores, load ${load}`).toBe(threads);
      expect(choice.reason).toContain(`${cores} physical core`);
    }
    expect(chooseThreads(2, 11.3).reason).toMatch(/load average 11\.3: the other cores are busy, so 1 thread/);
  });

  it.runIf(fs.existsSync('/proc/cpuinfo'))('counts physical cores (not hyperthreads) and reads the load average', () => {
    const choice = recommendedThreads();
    expect(choice.cores).toBe(physicalCores());
    expect(choice.busy).toBeCloseTo(os.loadavg()[0], 0);
    expect(choice.threads).toBe(chooseThreads(choice.cores, choice.busy).threads);
  });

  it('is the default of trainConfig(), which an explicit thread count overrides', () => {
    const before = chooseThreads(physicalCores(), os.loadavg()[0]).threads;
    const threads = [trainConfig().threads, trainConfig({ epochs: 1 }).threads];
    const after = chooseThreads(physicalCores(), os.loadavg()[0]).threads;
    for (const t of threads) expect([before, after]).toContain(t); // the load average may move meanwhile
    for (const n of [1, maxThreads()]) expect(trainConfig({ threads: n }).threads).toBe(n);
    expect(() => trainConfig({ threads: maxThreads() + 1 })).toThrow(/threads must be an integer in \[1, \d+\]/); // more only oversubscribes
  });

  it('is what `grnewt train` uses without --threads, and it says so', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-threads-'));
    const bin = path.join(__dirname, '..', 'bin', 'grnewt.js');
    const args = [
      'train',
      '--data',
      'embedded',
      '--limit',
      '100',
      '--epochs',
      '1',
      '--batch-size',
      '50',
      '--hg-batch-size',
      '50',
      '--out',
      out,
    ];
    const json = spawnSync(process.execPath, [bin, ...args, '--json'], { encoding: 'utf8' });
    expect(json.status, json.stderr).toBe(0);
    const event = json.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((e) => e.type === 'threads');
    expect(event.threads).toBeGreaterThanOrEqual(1);
    expect(event.threads).toBeLessThanOrEqual(os.availableParallelism());
    expect(event.why).toMatch(/physical core.*--threads N to choose/);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.machine.threads).toBe(event.threads);
    const human = spawnSync(process.execPath, [bin, ...args, '--threads', '1'], { encoding: 'utf8' });
    expect(human.stdout).toMatch(/^threads: 1 \(--threads\)$/m);
    fs.rmSync(out, { recursive: true, force: true });
  }, 60_000);
});
