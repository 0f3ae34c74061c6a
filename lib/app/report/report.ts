// The report of a training run: metrics.json and a self-contained report.html (Chart.js inlined, so it
// opens offline) that explains the run: which optimizer won, with what settings and command, the loss of
// every step (smoothed) and of every epoch, the accuracy per epoch, and NewtonSummary's learning rate of
// each parameter group on a log axis, one panel per group.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { Metrics, RunMetrics } from '../train/metrics';
import { checkOptions, show } from '../../core/validate';
import { writeFileAtomic } from '../../io/atomic_file';

export interface ReportOptions {
  /** The command line that produced the run, shown in the report and kept in metrics.json. */
  command?: string[];
}

/**
 * Writes `metrics` (what fit() resolves with) to dir/metrics.json and a self-contained dir/report.html (Chart.js
 * inlined: it opens offline), creating dir; returns both paths.
 */
export function writeReport(dir: string, metrics: Metrics, options: ReportOptions = {}): { metrics: string; html: string } {
  // Checked before anything is written: a wrong argument failed deep in the rendering ("Cannot read properties of null").
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`writeReport: dir must be a folder path, got ${show(dir)}`);
  if (metrics === null || typeof metrics !== 'object' || !Array.isArray(metrics.runs))
    throw new TypeError(`writeReport: metrics must be what fit() resolves with ({ runs, ... }), got ${show(metrics)}`);
  const o = checkOptions('writeReport', options, ['command']);
  if (o.command !== undefined && (!Array.isArray(o.command) || !o.command.every((a) => typeof a === 'string')))
    throw new TypeError(`writeReport: command must be an array of strings, got ${show(o.command)}`);
  fs.mkdirSync(dir, { recursive: true });
  const withCommand: Metrics = options.command ? { ...metrics, command: options.command } : metrics;
  const metricsFile = path.join(dir, 'metrics.json');
  const htmlFile = path.join(dir, 'report.html');
  // Atomically, as every file grnewt saves: a crash while rewriting them (a resumed run) left a truncated
  // metrics.json; and a path that cannot be written is named in grnewt's words, not a bare EISDIR.
  writeFileAtomic(metricsFile, [Buffer.from(`${JSON.stringify(withCommand, null, 2)}\n`)], 'writeReport');
  writeFileAtomic(htmlFile, [Buffer.from(renderHtml(withCommand))], 'writeReport');
  return { metrics: metricsFile, html: htmlFile };
}

/**
 * The run that did best: highest final test accuracy, or lowest final test loss where there is no
 * accuracy (autoencoder). Null when no run finished an epoch.
 */
export function bestRun(runs: RunMetrics[]): RunMetrics | null {
  const scored = runs.filter((r) => r.epochs.length > 0);
  if (scored.length === 0) return null;
  const byAccuracy = scored.every((r) => r.epochs.at(-1)!.testAccuracy !== null);
  const score = (r: RunMetrics) => (byAccuracy ? r.epochs.at(-1)!.testAccuracy! : -r.epochs.at(-1)!.testLoss);
  return scored.reduce((best, r) => (score(r) > score(best) ? r : best));
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A command line as a shell would take it back (arguments quoted where needed). */
function shellLine(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function summaryTable(metrics: Metrics): string {
  const best = bestRun(metrics.runs);
  const criterion = best && best.epochs.at(-1)!.testAccuracy !== null ? 'highest final test accuracy' : 'lowest final test loss';
  const rows = metrics.runs.map((r) => {
    const last = r.epochs.at(-1);
    const time = r.epochs.reduce((s, e) => s + e.wallSeconds, 0);
    const accuracy = last?.testAccuracy == null ? '–' : `${(100 * last.testAccuracy).toFixed(2)} %`;
    const mark = r === best ? ' <span class="badge">best</span>' : '';
    const stopped = r.stopped ? ' (stopped)' : '';
    return (
      `<tr${r === best ? ' class="best"' : ''}><td>${escapeHtml(r.optimizer)}${mark}${stopped}</td><td>${last?.trainLoss.toFixed(4) ?? '–'}</td>` +
      `<td>${last?.testLoss.toFixed(4) ?? '–'}</td><td>${accuracy}</td><td>${r.epochs.length}</td><td>${time.toFixed(1)} s</td></tr>`
    );
  });
  return `<table class="summary"><tr><th>optimizer</th><th>train loss</th><th>test loss</th><th>test accuracy</th><th>epochs</th><th>time</th></tr>
${rows.join('\n')}
</table>
${best ? `<p class="meta">best: <b>${escapeHtml(best.optimizer)}</b> (${criterion}); values of the last epoch.</p>` : ''}`;
}

function hyperparameterTable(metrics: Metrics): string {
  const keys = [...new Set(metrics.runs.flatMap((r) => Object.keys(r.hyperparameters)))];
  const cell = (v: unknown) => (v === undefined ? '' : escapeHtml(typeof v === 'object' ? JSON.stringify(v) : String(v)));
  const head = `<tr><th>hyperparameter</th>${metrics.runs.map((r) => `<th>${escapeHtml(r.optimizer)}</th>`).join('')}</tr>`;
  const rows = keys.map(
    (k) => `<tr><td>${escapeHtml(k)}</td>${metrics.runs.map((r) => `<td>${cell(r.hyperparameters[k])}</td>`).join('')}</tr>`,
  );
  return `<table class="hyper">${head}\n${rows.join('\n')}</table>`;
}

function renderHtml(metrics: Metrics): string {
  const chartJs = fs.readFileSync(path.join(path.dirname(createRequire(__filename).resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  // The data goes in as JSON inside a script tag: '<' is escaped so no string can close the tag.
  const payload = JSON.stringify(metrics).replace(/</g, '\\u003c');
  const command = metrics.command ? `<p>command: <code>${escapeHtml(shellLine(metrics.command))}</code></p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>grnewt training report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin: 28px 0 8px; } h3 { font-size: 13px; margin: 4px 0; font-weight: 600; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.best td { background: #e8f5e9; font-weight: 600; }
.badge { background: #2e7d32; color: #fff; border-radius: 3px; padding: 0 5px; font-size: 11px; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 20px; }
.lrgrid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 14px; }
.chart { height: 280px; } .small { height: 200px; } .meta { color: #666; font-size: 12px; }
code { background: #f4f4f4; padding: 1px 4px; } details { margin-top: 10px; } .hyper td, .hyper th { font-size: 12px; }
.group { overflow-wrap: anywhere; color: #444; } .empty { color: #a00; font-size: 12px; }
.top { display: flex; flex-wrap: wrap; gap: 40px; align-items: flex-start; } .top > div:first-child { max-width: 640px; }
code { overflow-wrap: anywhere; }
</style></head>
<body>
<h1>grnewt training report</h1>
<p class="meta">${escapeHtml(metrics.data)} · grnewt ${escapeHtml(metrics.versions.grnewt)}, libtorch ${escapeHtml(metrics.versions.libtorch)}, Node ${escapeHtml(metrics.versions.node)} · ${escapeHtml(metrics.machine.cpu)}, ${metrics.machine.threads} thread(s) · ${escapeHtml(metrics.createdAt)}</p>
<div class="top"><div>${summaryTable(metrics)}
${command}</div>
<div><h3>hyperparameters</h3>${hyperparameterTable(metrics)}</div></div>
<div class="grid">
<div><h2>Training loss per step</h2><div class="chart"><canvas id="stepLoss"></canvas></div>
<p class="meta">thin: every step; thick: exponential moving average (weight 0.9, debiased). <span id="stepsPerEpoch"></span></p></div>
<div><h2>Loss per epoch</h2><div class="chart"><canvas id="epochLoss"></canvas></div>
<p class="meta">solid: test loss (epoch 0: the untrained model); dashed: mean training loss over the epoch.</p></div>
<div><h2>Test accuracy per epoch</h2><div class="chart"><canvas id="testAccuracy"></canvas></div>
<p class="meta">epoch 0: the untrained model.</p></div>
</div>
<div id="lrs"></div>
<script>${chartJs}</script>
<script id="metrics" type="application/json">${payload}</script>
<script>
const metrics = JSON.parse(document.getElementById('metrics').textContent);
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
Chart.defaults.animation = false;
Chart.defaults.font.size = 11;
const fmt = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? Number(v.toPrecision(4)).toString() : v.toExponential(2));
// Log-axis labels in scientific notation: at powers of 10 (1e-3, 1e-2, …) over three decades or more, at
// 1, 2 and 5 × 10^k over less, and at about five ticks within one decade.
const mantissa = (v) => v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
const isAt = (v, ks) => ks.some((k) => Math.abs(mantissa(v) - k) < 1e-6);
function sciTick(v, i, ticks) {
  if (ticks.filter((t) => isAt(t.value, [1])).length >= 3) return isAt(v, [1]) ? Number(v).toExponential(0) : '';
  if (ticks.filter((t) => isAt(t.value, [1, 2, 5])).length >= 2) return isAt(v, [1, 2, 5]) ? Number(v).toExponential(0) : '';
  const every = Math.ceil(ticks.length / 5); // within one decade: about 5 labels, not one per minor tick
  return i % every === 0 ? Number(v).toExponential(1) : '';
}
function chart(canvas, datasets, opts) {
  canvas.dataset.points = datasets.map((d) => d.data.length).join(' '); // for tests: points per line
  return new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      plugins: {
        legend: { display: opts.legend !== false, labels: { boxWidth: 12, filter: (item) => !item.text.endsWith(' ') } },
        tooltip: { callbacks: { label: (c) => c.dataset.label.trim() + ': ' + (opts.percent ? (100 * c.parsed.y).toFixed(2) + ' %' : opts.logY ? c.parsed.y.toExponential(3) : fmt(c.parsed.y)),
                                title: (items) => items.length ? opts.xTitle + ' ' + fmt(items[0].parsed.x) : '' } },
        decimation: { enabled: opts.decimate !== false, algorithm: 'lttb', samples: 400 },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: opts.xTitle }, ticks: { precision: 0 }, min: opts.xMin },
        y: opts.logY ? { type: 'logarithmic', title: { display: !!opts.yTitle, text: opts.yTitle }, ticks: { callback: sciTick, autoSkip: true } }
                     : { type: 'linear', title: { display: !!opts.yTitle, text: opts.yTitle }, ticks: opts.percent ? { callback: (v) => (100 * v).toFixed(0) + ' %' } : { callback: fmt } },
      },
    },
  });
}
const color = (i) => palette[i % palette.length];
// Per step, numbered as NewtonSummary's updates are (1, 2, …), so both charts share their x axis.
function stepSeries(run) {
  const losses = run.stepLosses || [];
  const x = (i) => i + 1;
  let ema = 0;
  const smooth = losses.map((l, i) => { ema = 0.9 * ema + 0.1 * l; return { x: x(i), y: ema / (1 - Math.pow(0.9, i + 1)) }; });
  return { raw: losses.map((l, i) => ({ x: x(i), y: l })), smooth };
}
chart(document.getElementById('stepLoss'), metrics.runs.flatMap((run, i) => {
  const s = stepSeries(run);
  return [
    { label: run.optimizer, data: s.smooth, borderColor: color(i), backgroundColor: color(i), borderWidth: 2, pointRadius: 0 },
    { label: run.optimizer + ' (each step) ', data: s.raw, borderColor: color(i) + '40', backgroundColor: color(i) + '40', borderWidth: 1, pointRadius: 0 },
  ];
}), { xTitle: 'step', yTitle: 'loss', xMin: 0 });
{
  const full = metrics.runs.find((r) => !r.stopped && r.epochs.length && r.stepLosses);
  if (full) document.getElementById('stepsPerEpoch').textContent = (full.stepLosses.length / full.epochs.length) + ' steps per epoch.';
}
chart(document.getElementById('epochLoss'), metrics.runs.flatMap((run, i) => [
  { label: run.optimizer + ' test', borderColor: color(i), backgroundColor: color(i), pointRadius: 3,
    data: (run.initial ? [{ x: 0, y: run.initial.testLoss }] : []).concat(run.epochs.map((e) => ({ x: e.epoch, y: e.testLoss }))) },
  { label: run.optimizer + ' train', borderColor: color(i), backgroundColor: color(i), borderDash: [5, 4], pointRadius: 3, pointStyle: 'rectRot',
    data: run.epochs.map((e) => ({ x: e.epoch, y: e.trainLoss })) },
]), { xTitle: 'epoch', yTitle: 'loss', xMin: 0 });
chart(document.getElementById('testAccuracy'), metrics.runs.filter((r) => r.epochs.some((e) => e.testAccuracy !== null)).map((run) => {
  const i = metrics.runs.indexOf(run);
  return { label: run.optimizer, borderColor: color(i), backgroundColor: color(i), pointRadius: 3,
    data: (run.initial && run.initial.testAccuracy !== null ? [{ x: 0, y: run.initial.testAccuracy }] : []).concat(run.epochs.map((e) => ({ x: e.epoch, y: e.testAccuracy }))) };
}), { xTitle: 'epoch', yTitle: 'test accuracy', percent: true, xMin: 0 });
// NewtonSummary's learning rates: one small panel per group, each on its own log axis.
for (const run of metrics.runs.filter((r) => r.updates.length)) {
  const section = document.getElementById('lrs');
  const title = document.createElement('h2'), note = document.createElement('p'), grid = document.createElement('div');
  title.textContent = run.optimizer + ': learning rate per parameter group';
  note.className = 'meta';
  note.textContent = 'The learning rate of each group at each of its ' + run.updates.length + ' updates, on a log scale (gaps: updates without a positive rate).';
  grid.className = 'lrgrid';
  section.append(title, note, grid);
  run.updates[0].lrs.forEach((_, s) => {
    const panel = document.createElement('div');
    panel.innerHTML = '<h3></h3><div class="group meta"></div><div class="small"><canvas></canvas></div>';
    panel.querySelector('h3').textContent = 'group ' + s;
    panel.querySelector('.group').textContent = run.groups[s] ? run.groups[s].join(', ') : '';
    grid.appendChild(panel);
    // updates without a positive rate leave a gap (a log axis cannot show them)
    const data = run.updates.map((u) => ({ x: u.step, y: u.lrs[s] > 0 ? u.lrs[s] : null }));
    if (data.every((p) => p.y === null)) {
      panel.querySelector('.small').outerHTML = '<p class="empty">no positive learning rate at any update (zero or negative at each: a log axis cannot show them)</p>';
      return;
    }
    chart(panel.querySelector('canvas'), [{ label: 'group ' + s, borderColor: color(s), backgroundColor: color(s), borderWidth: 1.5, pointRadius: data.length > 50 ? 0 : 2, spanGaps: false, data }],
      { xTitle: 'step', logY: true, legend: false, decimate: false });
  });
}
document.body.dataset.ready = 'true';
</script>
</body></html>
`;
}
