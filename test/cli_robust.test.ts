// `grnewt train` on the paths a user takes without flags: Ctrl-C or SIGTERM then --resume of a run started
// without --limit, resuming at any step of the default settings, and what is refused before training starts
// (an unwritable output directory, thread counts beyond the machine, values beyond float32).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFrom, program } from '../lib/app/cli/main';
import { models } from '../lib';
import { maxThreads } from '../lib/core/runtime';
import { fit } from '../lib/app/train/fit';
import type { Metrics } from '../lib/app/train/metrics';

const bin = path.join(__dirname, '..', 'bin', 'grnewt.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-cli-robust-'));
fs.chmodSync(work, 0o755); // the read-only test runs the CLI as another user, who must reach the files

function grnewt(args: string[], options: { uid?: number; gid?: number } = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', ...options });
}

/** Starts `grnewt train`, sends `signal` once training has started (it stops after its first step), and waits. */
function interrupted(args: string[], signal: NodeJS.Signals): Promise<{ code: number | null; output: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'train', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '',
    stderr = '',
    sent = false;
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (!sent && output.includes('"type":"run"')) {
      sent = true;
      child.kill(signal);
    }
  });
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output, stderr })));
}

/** The metrics without what differs between any two runs (clock, wall times). */
function comparable(m: Metrics) {
  return JSON.parse(
    JSON.stringify({
      ...m,
      createdAt: null,
      runs: m.runs.map((r) => ({ ...r, epochs: r.epochs.map((e) => ({ ...e, wallSeconds: null })) })),
    }),
  );
}

describe('stop and --resume of a run started without --limit', () => {
  it('Ctrl-C, then --resume (the checkpoint used to store limit: null, which resume refused)', async () => {
    const out = path.join(work, 'nolimit');
    const run = await interrupted(['--data', 'embedded', '--epochs', '1', '--threads', '1', '--out', out], 'SIGINT');
    expect(run.code, run.stderr).toBe(130);
    expect(run.output).toMatch(/"type":"done","stopped":true/);
    const resumed = grnewt(['train', '--resume', path.join(out, 'checkpoint.ckpt'), '--quiet']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(m.runs[0].epochs).toHaveLength(1);
    expect(m.config.data).not.toHaveProperty('limit');
  }, 120_000);

  it('SIGTERM stops like Ctrl-C: a checkpoint, exit 143, and --resume continues', async () => {
    const out = path.join(work, 'sigterm');
    const run = await interrupted(['--data', 'embedded', '--limit', '600', '--epochs', '2', '--threads', '1', '--out', out], 'SIGTERM');
    expect(run.code, run.stderr).toBe(143);
    expect(run.output).toMatch(/"type":"done","stopped":true/);
    expect(fs.existsSync(path.join(out, 'checkpoint.ckpt'))).toBe(true);
    const resumed = grnewt(['train', '--resume', path.join(out, 'checkpoint.ckpt'), '--quiet']);
    expect(resumed.status, resumed.stderr).toBe(0);
  }, 120_000);
});

describe('resuming at any step of the default settings', () => {
  it('stopping after step k and resuming ends exactly where the uninterrupted run does, for every k', async () => {
    // The CLI's own configuration with no flags but a small data limit and few epochs: 2 steps per epoch,
    // 6 epochs, so stops fall in and at the end of epochs, before and after the second hg update (step 10).
    const cli = program();
    let flags: unknown;
    cli.commands.find((c) => c.name() === 'train')!.action((f) => (flags = f));
    await cli.parseAsync(['node', 'grnewt', 'train', '--limit', '200', '--epochs', '6']);
    const config = configFrom(flags as never);
    expect(config.optimizers).toEqual(['newton-summary']);
    const whole = comparable(await fit(config));
    const steps = 12;
    for (let k = 1; k < steps; k++) {
      const checkpoint = path.join(work, `step-${k}.ckpt`);
      const controller = new AbortController();
      let taken = 0;
      await fit(config, { checkpoint, signal: controller.signal, onStep: () => ++taken === k && controller.abort() });
      const resumed = comparable(await fit(config, { resume: checkpoint, checkpoint }));
      expect(resumed, `stopped after step ${k}`).toEqual(whole);
    }
  }, 600_000);
});

describe('refused before training', () => {
  it("a crafted checkpoint's progress (position, finished runs, the run in progress), naming the field, before any step", async () => {
    const { load, save } = await import('../lib/io/checkpoint');
    const { trainConfig } = await import('../lib/app/train/config');
    const { zeros } = await import('../lib');
    const config = trainConfig({ data: { source: 'embedded', limit: 200 }, epochs: 2, threads: 1, optimizers: ['adam', 'sgd'] });
    const good = path.join(work, 'progress.ckpt');
    const controller = new AbortController();
    let taken = 0;
    // 2 batches an epoch: stopped after the third step, in the second epoch of the first run, at batch 1
    await fit(config, { checkpoint: good, signal: controller.signal, onStep: () => ++taken === 3 && controller.abort() });
    // biome-ignore lint/suspicious/noExplicitAny: crafted trees, changed anywhere
    type Tree = Record<string, any>;
    const cases: Array<[string, (t: Tree) => void, RegExp]> = [
      ['run past the last', (t) => (t.position.run = 7), /position\.run must be an integer in \[0, 2\], got 7/],
      ['negative run', (t) => (t.position.run = -1), /position\.run must be an integer in \[0, 2\], got -1/],
      ['epoch past the last', (t) => (t.position.epoch = 99), /position\.epoch must be an integer in \[0, 1\], got 99/],
      [
        'batch past the epoch',
        (t) => (t.position.batch = 1e9),
        /position\.batch must be an integer in \[0, 1\] \(the epoch has 2 batches\), got 1000000000/,
      ],
      ['batch as a string', (t) => (t.position.batch = '1'), /position\.batch must be an integer ≥ 0, got "1"/],
      ['no position', (t) => delete t.position, /position must be an object, got undefined/],
      [
        'no run in progress mid-epoch',
        (t) => (t.current = null),
        /current must hold the run in progress \(stopped at epoch 1, batch 1\), got null/,
      ],
      ['finished not an array', (t) => (t.finished = 'x'), /finished must be the 0 finished runs' metrics \(position\.run is 0\), got "x"/],
      [
        'finished runs that are not metrics',
        (t) => {
          t.position.run = 1;
          t.finished = [1];
          t.current.metrics.optimizer = 'sgd';
        },
        /finished\[0\] must be a run's metrics, got 1/,
      ],
      [
        "another optimizer's metrics",
        (t) => (t.current.metrics.optimizer = 'sgd'),
        /current\.metrics\.optimizer must be "adam" \(the config's run in that place\), got "sgd"/,
      ],
      [
        'epochs not an array',
        (t) => (t.current.metrics.epochs = 'x'),
        /current\.metrics\.epochs must be an array of epochs' metrics, got "x"/,
      ],
      ['a loss sum that is a string', (t) => (t.current.trainLossSum = 'x'), /current\.trainLossSum must be a finite number, got "x"/],
      ['a NaN loss sum', (t) => (t.current.trainLossSum = NaN), /current\.trainLossSum must be a finite number, got NaN/],
      [
        'a model that is not tensors',
        (t) => (t.current.model = { 'layers.0.bias': 1 }),
        /current\.model\["layers\.0\.bias"\] must be a Tensor, got 1/,
      ],
      [
        "another model's tensors",
        (t) => (t.current.model['layers.0.bias'] = zeros([3])),
        /current\.model: loadStateDict: layers\.0\.bias has shape \[3\]/,
      ],
      ["another model's initial parameters", (t) => (t.initial = {}), /initial: loadStateDict: keys do not match the model/],
      [
        "another optimizer's state",
        (t) => (t.current.optimizer = { state: {}, paramGroups: [] }),
        /current\.optimizer: Adam\.loadStateDict: the state dict has 0 groups/,
      ],
    ];
    for (const [what, change, message] of cases) {
      const tree = load<Tree>(good);
      change(tree);
      const file = path.join(work, 'crafted-progress.ckpt');
      save(file, tree);
      let steps = 0;
      await expect(fit(config, { resume: file, onStep: () => steps++ }), what).rejects.toThrow(message);
      expect(steps, what).toBe(0);
    }
    // The untouched checkpoint still resumes.
    await expect(fit(config, { resume: good })).resolves.toHaveProperty('runs');
  }, 120_000);

  it("an --out folder holding an unfinished run's checkpoint (typing the command again instead of --resume overwrote it at the first epoch's end)", async () => {
    const out = path.join(work, 'taken');
    const settings = ['--data', 'embedded', '--limit', '200', '--epochs', '2', '--threads', '1'];
    const run = await interrupted([...settings, '--out', out], 'SIGINT');
    expect(run.code, run.stderr).toBe(130);
    const files = ['checkpoint.ckpt', 'metrics.json', 'report.html'].map((f) => path.join(out, f));
    const before = files.map((f) => fs.readFileSync(f));
    const checkpoint = path.join(out, 'checkpoint.ckpt');
    const copy = path.join(work, 'taken-copy.ckpt');
    fs.copyFileSync(checkpoint, copy);
    for (const args of [
      [...settings, '--out', out, '--quiet'],
      [...settings, '--out', out, '--nproc', '2', '--quiet'],
      ['--resume', copy, '--out', out, '--quiet'],
    ]) {
      const r = grnewt(['train', ...args]);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(
        `--out ${out} holds the checkpoint of an unfinished run (${checkpoint}), which this run would overwrite: continue it with --resume ${checkpoint}, or give another --out`,
      );
    }
    files.forEach((f, i) => expect(fs.readFileSync(f).equals(before[i]), f).toBe(true));
    // Continuing that very run is what --out is for; once it has finished, the folder may be reused.
    const resumed = grnewt(['train', '--resume', checkpoint, '--out', `${out}${path.sep}`, '--quiet']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const again = grnewt(['train', ...settings, '--out', out, '--quiet']);
    expect(again.status, again.stderr).toBe(0);
  }, 120_000);

  it('an output directory that cannot be written (resuming into a read-only directory)', async () => {
    const out = path.join(work, 'readonly');
    const run = await interrupted(['--data', 'embedded', '--limit', '200', '--epochs', '2', '--threads', '1', '--out', out], 'SIGINT');
    expect(run.code, run.stderr).toBe(130);
    fs.chmodSync(out, 0o555);
    for (const f of fs.readdirSync(out)) fs.chmodSync(path.join(out, f), 0o644);
    // root writes anywhere: run as nobody, for whom the directory is read-only
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const started = Date.now();
    const r = grnewt(['train', '--resume', path.join(out, 'checkpoint.ckpt'), '--json'], as);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot write to the output directory .*readonly \(EACCES\)/);
    expect(r.stdout).not.toMatch(/"type":"run"/); // refused before any training started
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 120_000);

  it('an --export file whose folder does not exist (it failed after the first run, losing its report)', () => {
    const out = path.join(work, 'export-missing');
    const r = grnewt([
      'train',
      '--data',
      'embedded',
      '--limit',
      '200',
      '--epochs',
      '1',
      '--threads',
      '1',
      '--out',
      out,
      '--json',
      '--export',
      path.join(work, 'no-such-folder', 'model.pt'),
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--export: cannot write .*model\.pt: the folder .*no-such-folder does not exist/);
    expect(r.stdout).not.toMatch(/"type":"run"/); // refused before any training started
  }, 120_000);

  it('an output file that cannot be written (a directory named report.html failed after training, with a bare EISDIR, losing the results)', () => {
    for (const name of ['metrics.json', 'report.html']) {
      const out = path.join(work, `blocked-${name}`);
      fs.mkdirSync(path.join(out, name), { recursive: true });
      const r = grnewt(['train', '--data', 'embedded', '--limit', '200', '--epochs', '1', '--threads', '1', '--out', out, '--json']);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`grnewt: --out: ${path.join(out, name)} exists and is not a regular file`);
      expect(r.stdout).not.toMatch(/"type":"run"/); // refused before any training started
    }
  }, 120_000);

  it("--threads beyond this machine's cores", () => {
    const r = grnewt(['train', '--threads', String(maxThreads() + 1)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--threads.*expected an integer ≤ \d+ \(this machine's cores\)/);
  });

  it('a crafted checkpoint asking for 10000 threads', async () => {
    const out = path.join(work, 'threads');
    const run = await interrupted(['--data', 'embedded', '--limit', '200', '--epochs', '2', '--threads', '1', '--out', out], 'SIGINT');
    expect(run.code, run.stderr).toBe(130);
    const { load, save } = await import('../lib/io/checkpoint');
    const file = path.join(out, 'checkpoint.ckpt');
    const tree = load<{ config: { threads: number } }>(file);
    tree.config.threads = 10000;
    save(file, tree);
    const r = grnewt(['train', '--resume', file, '--json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/resume: .*checkpoint.ckpt: config: threads must be an integer in \[1, \d+\], got 10000/);
    expect(r.stdout).not.toMatch(/"type":"run"/); // refused before any training started
  }, 120_000);

  it('values beyond float32 (--damping 1e308 used to fail mid-run, --sigma-w 1e300 with a confusing NaN message)', () => {
    for (const flag of ['--damping', '--sigma-w', '--sigma-b', '--adam-lr', '--damping-int']) {
      const r = grnewt(['train', flag, '1e308']);
      expect(r.status, flag).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`${flag}.*within float32's range`));
    }
  });

  it('a flag this run would ignore, naming it and why (--model lenet --layers 3 trained LeNet as if it were not given)', () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['--model', 'lenet', '--layers', '3'],
        /^grnewt: --layers would be ignored: it sizes the perceptron's and the autoencoder's layers, not lenet's; drop it\n/,
      ],
      [['--fc', '10'], /^grnewt: --fc would be ignored: it shapes vgg, not perceptron/],
      [['--test-fraction', '0.5'], /^grnewt: --test-fraction would be ignored: it splits a \.csv file, and --data is embedded/],
      [
        ['--optimizer', 'adam', '--hg-batch-size', '50'],
        /^grnewt: --hg-batch-size would be ignored: it sets newton-summary, which this run does not train/,
      ],
      [['--compare', 'adam', '--sgd-lr', '0.5'], /^grnewt: --sgd-lr would be ignored: it sets sgd, which this run does not train/],
      [
        ['--no-nesterov', '--damping-int', '5'],
        /^grnewt: --damping-int would be ignored: it is the Nesterov step's, which --no-nesterov turns off/,
      ],
    ];
    for (const [flags, message] of cases) {
      const r = grnewt(['train', '--data', 'embedded', '--quiet', '--out', path.join(work, 'ignored'), ...flags]);
      expect(r.status, flags.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(fs.existsSync(path.join(work, 'ignored'))).toBe(false); // refused before anything was written
  });

  it('the library refuses initial scales that overflow float32, naming them', () => {
    expect(() => new models.Perceptron([784, 10], { sigmaW: 1e300 })).toThrow(/sigmaW must be a finite number within float32's range/);
    expect(() => new models.Perceptron([784, 200, 10], { sigmaW: 1e38, scaling: true })).toThrow(/sigmaW = 1e\+38.*overflow float32/);
  });
});
