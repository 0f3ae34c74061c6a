// `grnewt train` end to end on the embedded Fashion-MNIST subset: exit codes, files, the metrics schema,
// Ctrl-C then --resume (same numbers as an uninterrupted run), usage errors, and the report in Chromium.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = path.join(__dirname, '..', 'bin', 'grnewt.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-cli-'));
// A path made missing here (in a fresh temporary directory, never created), not a conventional one such as
// /nonexistent, which exists on some machines (the home of the `nobody` user).
const missing = path.join(work, 'no-such-data');
const quick = [
  '--data',
  'embedded',
  '--limit',
  '400',
  '--batch-size',
  '50',
  '--hg-batch-size',
  '200',
  '--period-hg',
  '2',
  '--threads',
  '1',
];

function grnewt(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
}

describe('grnewt train', () => {
  it('trains, compares and writes metrics.json, report.html and a checkpoint', () => {
    const out = path.join(work, 'run');
    const r = grnewt(['train', ...quick, '--epochs', '2', '--compare', 'adam,sgd', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Fashion-MNIST, the 2000\/500-example subset shipped with grnewt/);
    expect(r.stdout).toMatch(/newton-summary epoch 2: train loss/);
    expect(r.stdout).toMatch(/report: .*report\.html/);
    for (const f of ['metrics.json', 'report.html', 'checkpoint.ckpt']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(m.version).toBe(1);
    expect(m.versions).toEqual({ grnewt: expect.any(String), node: process.version, libtorch: expect.any(String) });
    expect(m.runs.map((run: { optimizer: string }) => run.optimizer)).toEqual(['newton-summary', 'adam', 'sgd']);
    for (const run of m.runs) {
      expect(run.epochs).toHaveLength(2);
      for (const e of run.epochs) {
        expect(Object.keys(e).sort()).toEqual(['epoch', 'testAccuracy', 'testLoss', 'trainLoss', 'wallSeconds']);
        expect(e.testAccuracy).toBeGreaterThanOrEqual(0);
        expect(e.testAccuracy).toBeLessThanOrEqual(1);
        expect(Number.isFinite(e.trainLoss) && Number.isFinite(e.testLoss) && e.wallSeconds >= 0).toBe(true);
      }
      expect(run.hyperparameters.batchSize).toBe(50);
      // Training works, not only the schema: from the first epoch to the second the losses fall and the test
      // accuracy rises (each optimizer's run is seeded: these are fixed numbers with margins of ~0.1 here).
      const [first, second] = run.epochs;
      expect(second.trainLoss, run.optimizer).toBeLessThan(first.trainLoss);
      expect(second.testLoss, run.optimizer).toBeLessThan(first.testLoss);
      expect(second.testAccuracy, run.optimizer).toBeGreaterThan(first.testAccuracy);
      expect(second.testAccuracy, run.optimizer).toBeGreaterThan(0.2); // chance is 0.1
    }
    const ns = m.runs[0];
    expect(ns.groups).toEqual([
      ['layers.0.weight'],
      ['layers.0.bias'],
      ['layers.1.weight'],
      ['layers.1.bias'],
      ['layers.2.weight'],
      ['layers.2.bias'],
    ]);
    expect(ns.updates.length).toBe(8); // 2 epochs × 8 steps, every 2 steps
    expect(ns.updates[0].lrs).toHaveLength(6);
    expect(ns.updates[0].solver).toHaveProperty('branch');
    expect(ns.hyperparameters).toMatchObject({
      damping: 0.1,
      dampingInt: 10,
      periodHg: 2,
      momLrs: 0.5,
      removeNegative: true,
      momentum: 0.9,
    });
  });

  it('stops cleanly on Ctrl-C with a checkpoint, and --resume ends where an uninterrupted run does', async () => {
    const whole = path.join(work, 'whole'),
      cut = path.join(work, 'cut');
    const args = [...quick, '--epochs', '3', '--compare', 'adam'];
    expect(grnewt(['train', ...args, '--out', whole, '--quiet']).status).toBe(0);

    const child = spawn(process.execPath, [bin, 'train', ...args, '--out', cut, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let interrupted = false;
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (!interrupted && output.includes('"type":"epoch"')) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    const events = output
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ type: 'done', stopped: true });

    const resumed = grnewt(['train', '--resume', path.join(cut, 'checkpoint.ckpt'), '--quiet']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const a = JSON.parse(fs.readFileSync(path.join(whole, 'metrics.json'), 'utf8'));
    const b = JSON.parse(fs.readFileSync(path.join(cut, 'metrics.json'), 'utf8'));
    const numbers = (m: {
      runs: Array<{
        optimizer: string;
        epochs: Array<{ trainLoss: number; testLoss: number; testAccuracy: number }>;
        updates: Array<{ lrs: number[] }>;
      }>;
    }) =>
      m.runs.map((r) => ({
        optimizer: r.optimizer,
        epochs: r.epochs.map(({ trainLoss, testLoss, testAccuracy }) => ({ trainLoss, testLoss, testAccuracy })),
        lrs: r.updates.map((u) => u.lrs),
      }));
    expect(numbers(b)).toEqual(numbers(a));
  }, 60_000);

  it('prints JSON lines with --json', () => {
    const r = grnewt(['train', ...quick, '--epochs', '1', '--out', path.join(work, 'json'), '--json']);
    expect(r.status).toBe(0);
    const types = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).type);
    expect(types[0]).toBe('data');
    expect(types).toContain('epoch');
    expect(types).toContain('update');
    expect(types.at(-1)).toBe('done');
  });

  it('reads a CSV of features and labels', () => {
    const csv = path.join(work, 'blobs.csv');
    const rows = ['x1,x2,label'];
    for (let i = 0; i < 200; i++) rows.push(`${(i % 2) * 4 + Math.sin(i)},${Math.cos(i * 1.7)},${i % 2}`);
    fs.writeFileSync(csv, rows.join('\n'));
    const out = path.join(work, 'csv');
    const r = grnewt([
      'train',
      '--data',
      csv,
      '--layers',
      '8',
      '--epochs',
      '3',
      '--batch-size',
      '20',
      '--optimizer',
      'adam',
      '--adam-lr',
      '0.05',
      '--out',
      out,
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(m.data).toMatch(/160 training, 40 test rows, 2 features, 2 classes/);
    expect(m.runs[0].epochs.at(-1).testAccuracy).toBeGreaterThan(0.9);
  });

  it.each([
    [['train', '--epochs', 'zero'], /option '--epochs <n>' argument 'zero' is invalid\. expected an integer ≥ 1/],
    [['train', '--compare', 'adam,rmsprop'], /option '--compare <list>' argument 'adam,rmsprop' is invalid/],
    [
      ['train', '--model', 'resnet'],
      /option '--model <kind>' argument 'resnet' is invalid\. Allowed choices are perceptron, lenet, vgg, autoencoder/,
    ],
    [['train', '--partition', 'blocks-0'], /option '--partition <name>' argument 'blocks-0' is invalid/],
    // 0 passed the parser and the config, then the CSV loader refused it in other words; 1 had a third wording
    [['train', '--test-fraction', '0'], /option '--test-fraction <x>' argument '0' is invalid\. expected a number in \(0, 1\)/],
    [['train', '--test-fraction', '1'], /option '--test-fraction <x>' argument '1' is invalid\. expected a number in \(0, 1\)/],
    [['train', '--bogus'], /unknown option '--bogus'/],
    [
      ['train', '--data', missing, '--out', path.join(work, 'bad')],
      new RegExp(`--data: ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is neither`),
    ],
  ])('usage error for %j', (args, message) => {
    const r = grnewt(args as string[]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it('documents every option in --help', () => {
    const help = execFileSync(process.execPath, [bin, 'train', '--help'], { encoding: 'utf8' });
    for (const flag of [
      '--model',
      '--layers',
      '--data',
      '--optimizer',
      '--compare',
      '--damping-int',
      '--period-hg',
      '--partition',
      '--epochs',
      '--dtype',
      '--threads',
      '--device',
      '--seed',
      '--out',
      '--resume',
      '--quiet',
      '--json',
    ]) {
      expect(help).toContain(flag);
    }
  });
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
if (!chromium) console.warn('report screenshot test skipped: Chromium is not installed (apt-get install chromium)');

describe('the report', () => {
  it('writeReport checks its arguments before writing (they failed in the rendering: "Cannot read properties of null")', async () => {
    const { writeReport } = await import('../lib');
    const out = path.join(work, 'report-args');
    expect(() => writeReport(out, null as never)).toThrow(
      'writeReport: metrics must be what fit() resolves with ({ runs, ... }), got null',
    );
    expect(() => writeReport(out, {} as never)).toThrow(/^writeReport: metrics must be/);
    expect(() => writeReport('', { runs: [] } as never)).toThrow('writeReport: dir must be a folder path, got ""');
    expect(() => writeReport(out, { runs: [] } as never, { command: 'grnewt train' as never })).toThrow(
      'writeReport: command must be an array of strings, got "grnewt train"',
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it.runIf(chromium)(
    'renders its plots in headless Chromium, with lines even for a one-epoch run',
    () => {
      const out = path.join(work, 'report');
      const r = grnewt(['train', ...quick, '--epochs', '1', '--compare', 'adam', '--out', out, '--quiet']);
      expect(r.status, r.stderr).toBe(0);
      const flags = [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${path.join(work, 'chromium')}`,
        '--virtual-time-budget=5000',
      ];
      const url = `file://${path.join(out, 'report.html')}`;
      const dom = execFileSync(chromium!, [...flags, '--dump-dom', url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(dom).toContain('data-ready="true"'); // the page's script ran to its end: every chart was built
      const points = (id: string) => {
        const m = new RegExp(`<canvas id="${id}" data-points="([\\d ]+)"`).exec(dom);
        expect(m, `chart ${id}`).not.toBeNull();
        return m![1].split(' ').map(Number);
      };
      const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
      const steps = m.runs[0].stepLosses.length;
      expect(steps).toBe(8); // 400 examples / batch 50
      // per step: a smoothed and a raw line per optimizer, one point per step
      expect(points('stepLoss')).toEqual([steps, steps, steps, steps]);
      // per epoch: test loss from epoch 0 (the untrained model) to 1, and the epoch's mean training loss
      expect(points('epochLoss')).toEqual([2, 1, 2, 1]);
      expect(points('testAccuracy')).toEqual([2, 2]);
      // NewtonSummary's learning rates: one panel per group of the canonical partition (3 layers × weight, bias)
      const lrPanels = [...dom.matchAll(/<canvas data-points="(\d+)"/g)].map((x) => Number(x[1]));
      expect(lrPanels).toHaveLength(6);
      for (const n of lrPanels) expect(n).toBeGreaterThan(1);
      const best = m.runs.reduce((a: { epochs: { testAccuracy: number }[] }, b: { epochs: { testAccuracy: number }[] }) =>
        b.epochs[0].testAccuracy > a.epochs[0].testAccuracy ? b : a,
      );
      expect(dom).toContain(`<tr class="best"><td>${best.optimizer} <span class="badge">best</span>`);
      expect((dom.match(/class="best"/g) ?? []).length).toBe(1);
      expect(dom).toContain('command: <code>grnewt train --data embedded');
      expect(dom).toMatch(/<td>hgBatchSize<\/td><td>200<\/td>/);
      const png = path.join(out, 'report.png');
      execFileSync(chromium!, [...flags, '--window-size=1200,2000', `--screenshot=${png}`, url], { stdio: 'ignore' });
      expect(fs.statSync(png).size).toBeGreaterThan(30_000); // plots, not a blank page
    },
    60_000,
  );
});
