// `grnewt train --nproc N`: the launcher, rank 0's outputs, a worker killed mid-run, and --resume with another
// process count. Processes on 127.0.0.1 only; a small slice of the embedded Fashion-MNIST subset.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { load } from '../lib';
import { freePort, run } from './distributed_helpers';

const bin = path.join(__dirname, '..', 'bin', 'grnewt.js');
const SMALL = ['--data', 'embedded', '--limit', '600', '--batch-size', '100', '--hg-batch-size', '100', '--period-hg', '2', '--json'];
const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-dist-'));

describe('grnewt train --nproc', () => {
  it('refuses --nproc with --rank/--world-size, --rank without a world size, and more workers than cores, naming them', async () => {
    const [a, b, many] = await Promise.all([
      run([bin, 'train', '--nproc', '2', '--rank', '0', '--out', tmp()], {}, 30_000),
      run([bin, 'train', '--rank', '1', '--out', tmp()], { WORLD_SIZE: '' }, 30_000),
      run([bin, 'train', '--nproc', '1000', '--out', tmp()], {}, 30_000),
    ]);
    expect(many.code).toBe(1); // before starting any worker
    expect(many.stderr).toMatch(/--nproc 1000 is more workers than this machine has cores \(\d+\): at most \d+/);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/--nproc starts the workers itself: drop --rank and --world-size/);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--rank needs --world-size \(or \$WORLD_SIZE\)/);
  }, 30_000);

  it('refuses batches the processes cannot split equally, by the flags, before any worker starts or joins', async () => {
    const [nproc, out] = [tmp(), tmp()];
    const [a, b, c] = await Promise.all([
      run([bin, 'train', '--nproc', '2', '--batch-size', '51', '--out', path.join(nproc, 'run')], {}, 30_000),
      run([bin, 'train', '--hg-batch-size', '333', '--out', out], { WORLD_SIZE: '2' }, 30_000),
      run([bin, 'train', '--world-size', '3', '--rank', '0', '--out', out], {}, 30_000),
    ]);
    // fit() refused them in every worker, as 'fit: batchSize', once the workers had started and joined
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/--batch-size 51 must be a multiple of --nproc 2: each process reads an equal part of every batch/);
    expect(fs.existsSync(path.join(nproc, 'run'))).toBe(false);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--hg-batch-size 333 must be a multiple of \$WORLD_SIZE 2/);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/--batch-size 100 must be a multiple of --world-size 3/);
  }, 30_000);

  it('2 workers, 1 epoch: rank 0 alone prints and writes metrics, report and checkpoint; same numbers as 1 process, and as 2 started by hand with --rank/--world-size', async () => {
    const [two, one, byHand] = [tmp(), tmp(), tmp()];
    const port = String(await freePort());
    const hand = (rank: number) =>
      run(
        [
          bin,
          'train',
          '--rank',
          String(rank),
          '--world-size',
          '2',
          '--master-addr',
          '127.0.0.1',
          '--master-port',
          port,
          '--epochs',
          '1',
          '--threads',
          '1',
          ...SMALL,
          '--out',
          byHand,
        ],
        { WORLD_SIZE: '', RANK: '' },
        120_000,
      );
    const [a, b, h0, h1] = await Promise.all([
      run([bin, 'train', '--nproc', '2', '--epochs', '1', ...SMALL, '--out', two], {}, 120_000),
      run([bin, 'train', '--epochs', '1', '--threads', '1', ...SMALL, '--out', one], {}, 120_000),
      hand(0),
      hand(1),
    ]);
    for (const r of [a, b, h0, h1]) expect(r.code, r.stderr).toBe(0);
    expect(h1.stdout).toBe(''); // rank 1 prints nothing
    expect(events(h0.stdout).filter((e) => e.type === 'epoch')).toEqual(
      events(a.stdout)
        .filter((e) => e.type === 'epoch')
        .map((e) => ({ ...e, wallSeconds: expect.any(Number) })),
    );
    const epochs = events(a.stdout).filter((e) => e.type === 'epoch');
    expect(epochs).toHaveLength(1); // one worker printed
    expect(events(a.stdout).filter((e) => e.type === 'threads')[0].threads).toBe(1);
    for (const f of ['metrics.json', 'report.html', 'checkpoint.ckpt']) expect(fs.existsSync(path.join(two, f)), f).toBe(true);
    const single = events(b.stdout).filter((e) => e.type === 'epoch')[0];
    // float32 training: the two ranks' half-batch sums round differently from one whole-batch sum.
    for (const k of ['trainLoss', 'testLoss'] as const) expect(Math.abs(epochs[0][k] - single[k]) / single[k], k).toBeLessThan(1e-5);
  }, 120_000);

  it('a worker SIGKILLed mid-run: the command exits non-zero naming it, the other fails with a clear error, the checkpoint is intact and resumes on 1 or 2 processes alike', async () => {
    const out = tmp();
    const child = spawn(process.execPath, [bin, 'train', '--nproc', '2', '--epochs', '6', ...SMALL, '--out', out], {
      env: { ...process.env, GRNEWT_DIST_TIMEOUT_MS: '20000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const killed = new Promise<number>((resolve) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        // After the first checkpoint: find the launcher's worker with RANK=1 and kill it.
        if (!/"checkpoint"/.test(stdout)) return;
        for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
          try {
            const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
            if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== child.pid) continue;
            if (!fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('RANK=1')) continue;
            process.kill(Number(pid), 'SIGKILL');
            resolve(Number(pid));
            child.stdout.removeAllListeners('data');
            return;
          } catch {
            // a process that ended meanwhile
          }
        }
      });
    });
    const start = Date.now();
    const [victim, code] = await Promise.all([killed, new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))]);
    expect(code).toBe(1);
    expect(stderr).toContain(`grnewt: worker rank 1 (pid ${victim}) was killed by SIGKILL`);
    expect(stderr).toMatch(/grnewt: distributed\.\w+ \(rank 0 of 2\) failed: .*(closed|reset|peer)/i);
    expect(Date.now() - start).toBeLessThan(20_000);
    // The checkpoint of the last finished epoch, intact: it resumes, here on one process, to the end.
    const ckpt = path.join(out, 'checkpoint.ckpt');
    const saved = load(ckpt) as { kind: string; position: { epoch: number } };
    expect(saved.kind).toBe('grnewt-train');
    expect(saved.position.epoch).toBeGreaterThanOrEqual(1);
    // Resumed on 1 process and, from a copy, on 2 again: both finish, with the same numbers.
    const again = tmp();
    fs.copyFileSync(ckpt, path.join(again, 'checkpoint.ckpt'));
    const [one, two] = await Promise.all([
      run([bin, 'train', '--resume', ckpt, '--json'], {}, 120_000),
      run([bin, 'train', '--resume', path.join(again, 'checkpoint.ckpt'), '--nproc', '2', '--json'], {}, 120_000),
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    const [m1, m2] = [out, again].map((d) => JSON.parse(fs.readFileSync(path.join(d, 'metrics.json'), 'utf8')).runs[0].epochs);
    expect(m1.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(m2.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Math.abs(m2[5].testLoss - m1[5].testLoss) / m1[5].testLoss).toBeLessThan(1e-5); // float32 roundings apart
  }, 120_000);

  it('Ctrl-C (SIGINT to the command): every worker stops after the same step, rank 0 writes the checkpoint, exit 130', async () => {
    const out = tmp();
    const child = spawn(process.execPath, [bin, 'train', '--nproc', '2', '--epochs', '100', ...SMALL, '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '',
      sent = false;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!sent && /"checkpoint"/.test(stdout)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code, stderr).toBe(130);
    const done = events(stdout).find((e) => e.type === 'done');
    expect(done.stopped).toBe(true);
    const saved = load(path.join(out, 'checkpoint.ckpt')) as { position: { epoch: number; batch: number }; current: unknown };
    expect(saved.current).not.toBeNull(); // the run in progress, resumable where it stopped
    expect(saved.position.epoch).toBeLessThan(100);
  }, 60_000);
});
