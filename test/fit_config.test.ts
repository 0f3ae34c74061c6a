// fit() and trainConfig() check every field of a run's config in the library's terms (the CLI names its
// flags instead); the progress callbacks report what an uninterrupted run would, also after a resume.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fit, save, trainConfig, type TrainConfig } from '../lib';
import { StepRate } from '../lib/app/train/step_rate';

const tiny = (over: Partial<TrainConfig> = {}): TrainConfig =>
  trainConfig({
    data: { source: 'embedded', limit: 300 },
    batchSize: 30,
    hgBatchSize: 100,
    epochs: 1,
    threads: 1,
    optimizers: ['sgd'],
    ...over,
  });

describe('trainConfig and fit check every field', () => {
  const bad: Array<[string, () => unknown, RegExp]> = [
    [
      'an unknown model',
      () => trainConfig({ model: { kind: 'resnet' as never } }),
      /^trainConfig: model.kind must be one of perceptron, lenet, vgg, autoencoder, got "resnet"$/,
    ],
    ['negative epochs', () => trainConfig({ epochs: -1 }), /^trainConfig: epochs must be an integer in \[1, 1000000\], got -1$/],
    ['no optimizer', () => trainConfig({ optimizers: [] }), /^trainConfig: optimizers must be a non-empty array/],
    [
      'an unknown optimizer',
      () => trainConfig({ optimizers: ['lbfgs' as never] }),
      /^trainConfig: optimizers\[0\] must be one of newton-summary, adam, sgd/,
    ],
    ['a repeated optimizer', () => trainConfig({ optimizers: ['sgd', 'sgd'] }), /optimizers must be names without repeats/],
    [
      'momLrs of 1',
      () => trainConfig({ newtonSummary: { momLrs: 1 } }),
      /^trainConfig: newtonSummary.momLrs must be a finite number in \[0, 1\)/,
    ],
    [
      'damping beyond float32',
      () => trainConfig({ newtonSummary: { damping: 1e308 } }),
      /newtonSummary.damping must be a finite number in \[0, 3.4e\+38\], got 1e\+308/,
    ],
    [
      'a test fraction of 0 (the CSV loader refused it later, in other words)',
      () => trainConfig({ data: { source: 'x.csv', testFraction: 0 } }),
      /^trainConfig: data.testFraction must be a number in \(0, 1\), got 0$/,
    ],
    ['a huge σ_w', () => trainConfig({ model: { sigmaW: 1e300 } }), /model.sigmaW must be a finite number in \[0, 1000\]/],
    ['a bad partition', () => trainConfig({ partition: 'blocks-0' }), /^trainConfig: partition must be canonical, trivial, wb or blocks-N/],
    [
      'threads beyond the machine',
      () => trainConfig({ threads: 10000 }),
      /^trainConfig: threads must be an integer in \[1, \d+\], got 10000$/,
    ],
    [
      'an unknown field',
      () => trainConfig({ model: { kind: 'perceptron', layers: [3] } as never }),
      /^trainConfig: unknown field model.layers; the fields are kind, hidden/,
    ],
    ['a fractional seed', () => trainConfig({ seed: 1.5 }), /seed must be an integer ≥ 0, got 1.5/],
  ];
  for (const [what, call, message] of bad) it(`refuses ${what}`, () => expect(call).toThrow(message));

  it('refuses a test fraction of 1 (a RangeError) and one given as a string (a TypeError)', () => {
    const fraction = (testFraction: unknown) => () => trainConfig({ data: { source: 'x.csv', testFraction: testFraction as number } });
    expect(fraction(1)).toThrow(RangeError);
    expect(fraction(1)).toThrow(/^trainConfig: data.testFraction must be a number in \(0, 1\), got 1$/);
    expect(fraction('0.2')).toThrow(TypeError);
    expect(fraction('0.2')).toThrow(/^trainConfig: data.testFraction must be a number in \(0, 1\), got "0.2"$/);
  });

  it("fit() checks a config built by hand, and a checkpoint's before training from it", async () => {
    const config = { ...tiny(), epochs: 0 };
    await expect(fit(config)).rejects.toThrow(/^fit: config: epochs must be an integer in \[1, 1000000\], got 0$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-fit-config-'));
    const file = path.join(dir, 'crafted.ckpt');
    save(file, {
      kind: 'grnewt-train',
      config: { ...tiny(), threads: 10000 },
      initial: {},
      finished: [],
      position: { run: 0, epoch: 0, batch: 0 },
      current: null,
    });
    await expect(fit(tiny(), { resume: file })).rejects.toThrow(new RegExp(`^resume: ${file}: config: threads must be an integer`));
  });

  it('fit() refuses a checkpoint it could not write before training, not after the first epoch', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-fit-checkpoint-'));
    const steps: number[] = [];
    const missing = path.join(dir, 'run', 'checkpoint.ckpt');
    await expect(fit(tiny(), { checkpoint: missing, onStep: (s) => steps.push(s.batch) })).rejects.toThrow(
      `fit: checkpoint: cannot write ${missing}: the folder ${path.dirname(missing)} does not exist`,
    );
    fs.mkdirSync(path.join(dir, 'taken.ckpt'));
    await expect(fit(tiny(), { checkpoint: path.join(dir, 'taken.ckpt') })).rejects.toThrow(
      /^fit: checkpoint: .*taken\.ckpt exists and is not a regular file/,
    );
    expect(steps).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual(['taken.ckpt']); // no probe left behind
  });

  it("an async callback's rejection is fit()'s, at the next step (it was an unhandled rejection that ended the process)", async () => {
    const steps: number[] = [];
    await expect(
      fit(tiny(), {
        onStep: async (s) => {
          steps.push(s.batch);
          if (s.batch === 2) throw new Error('the callback failed');
        },
      }),
    ).rejects.toThrow('the callback failed');
    expect(steps).toEqual([1, 2]);
  });

  it('fit() refuses an unknown option before training (a misspelt checkpoint was ignored: no checkpoint was ever written)', async () => {
    const steps: number[] = [];
    const onStep = (s: { batch: number }) => steps.push(s.batch);
    await expect(fit(tiny(), { checkpont: 'run.ckpt', onStep } as never)).rejects.toThrow(
      /^fit: unknown option "checkpont"; the options are checkpoint, resume, init, signal, distributed, onData/,
    );
    await expect(fit(tiny(), { onEpoch: 'log' } as never)).rejects.toThrow('fit: onEpoch must be a function, got "log"');
    await expect(fit(tiny(), { checkpoint: 5 } as never)).rejects.toThrow('fit: checkpoint must be a file path, got 5');
    await expect(fit(tiny(), { signal: {} } as never)).rejects.toThrow('fit: signal must be an AbortSignal, got Object');
    await expect(fit(tiny(), null as never)).rejects.toThrow('fit: options must be an object, got null');
    await expect(fit(null as never)).rejects.toThrow(/^fit: config must be an object, got null$/);
    expect(steps).toEqual([]);
  });

  it('grnewt train names its flags for the same errors', () => {
    const run = (...args: string[]) => {
      try {
        execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'grnewt.js'), 'train', '--quiet', ...args], { stdio: 'pipe' });
        return '';
      } catch (err) {
        return String((err as { stderr: Buffer }).stderr);
      }
    };
    expect(run('--mom-lrs', '1')).toMatch(/^grnewt: --mom-lrs must be a finite number in \[0, 1\), got 1\n/);
    expect(run('--sigma-w', '5000')).toMatch(/^grnewt: --sigma-w must be a finite number in \[0, 1000\], got 5000\n/);
    // Combinations that trained nothing (noregul: D = 0) or ignored a setting (a ridge under the Nesterov step).
    expect(run('--noregul')).toMatch(
      /^grnewt: --noregul must be false with the Nesterov step \(it has no solution when D = 0.*--no-nesterov\), got true\n/,
    );
    expect(run('--ridge', '5')).toMatch(/^grnewt: --ridge must be 0 with the Nesterov step, which takes no ridge/);
  });

  it('grnewt train refuses settings next to --resume (they would be silently ignored) and an --out it cannot create', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'grnewt.js'), 'train', '--quiet', ...args], {
        encoding: 'utf8',
        timeout: 60_000,
      });
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-resume-flags-'));
    expect(
      run('--data', 'embedded', '--limit', '60', '--epochs', '1', '--batch-size', '30', '--optimizer', 'sgd', '--out', out).status,
    ).toBe(0);
    const extra = run('--resume', path.join(out, 'checkpoint.ckpt'), '--epochs', '3', '--sgd-lr', '5');
    expect(extra.status).toBe(1);
    expect(extra.stderr).toMatch(/--resume continues with the interrupted run's own settings: drop --sgd-lr, --epochs/);
    const finished = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', 'bin', 'grnewt.js'), 'train', '--resume', path.join(out, 'checkpoint.ckpt')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(finished.status).toBe(0);
    expect(finished.stdout).toMatch(/nothing was left to train: every run of this checkpoint had finished/);
    // Node 20's recursive mkdir never returns under /proc: the CLI must not hang there.
    const proc = run('--data', 'embedded', '--out', '/proc/grnewt-no-such-dir');
    expect(proc.status).toBe(1);
    expect(proc.stderr).toMatch(/--out: cannot create the folder \/proc\/grnewt-no-such-dir/);
  });
});

describe("fit()'s progress callbacks", () => {
  it("after a resume, the running loss is the uninterrupted run's at the same step; runs are numbered from 1", async () => {
    const config = tiny({ optimizers: ['sgd', 'adam'] });
    const steps = async (options: Parameters<typeof fit>[1]) => {
      const seen: Array<[string, number, number]> = [],
        runs: number[] = [];
      await fit(config, { ...options, onStep: (s) => seen.push([s.optimizer, s.batch, s.loss]), onRunStart: (_, run) => runs.push(run) });
      return { seen, runs };
    };
    const whole = await steps({});
    expect(whole.runs).toEqual([1, 2]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-fit-resume-'));
    const checkpoint = path.join(dir, 'run.ckpt'),
      controller = new AbortController();
    // Stop after 4 steps of the first run, then resume.
    const stopAt = 4;
    const partial: Array<[string, number, number]> = [];
    await fit(config, {
      checkpoint,
      signal: controller.signal,
      onStep: (s) => {
        partial.push([s.optimizer, s.batch, s.loss]);
        if (partial.length === stopAt) controller.abort();
      },
    });
    const resumed = await steps({ resume: checkpoint });
    expect(resumed.runs).toEqual([1, 2]);
    const after = whole.seen.slice(stopAt);
    expect(resumed.seen.map(([o, b]) => [o, b])).toEqual(after.map(([o, b]) => [o, b]));
    resumed.seen.forEach(([, , loss], i) => expect(loss).toBeCloseTo(after[i][2], 12));
  });

  it("stepsPerSecond is smoothed: one slow step moves it by a tenth, not to that step's rate", () => {
    const rate = new StepRate();
    for (let i = 0; i < 50; i++) rate.add(0.01);
    expect(rate.add(0.01)).toBeCloseTo(100, 6);
    expect(rate.add(1)).toBeCloseTo(1 / (0.9 * 0.01 + 0.1 * 1), 6); // one step of 1 s: ~9 steps/s, not 1
  });
});
