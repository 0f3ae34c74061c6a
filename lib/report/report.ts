// The report of a training run: metrics.json and a self-contained report.html (Chart.js inlined, so it
// opens offline) comparing the optimizers and showing NewtonSummary's per-group learning rates.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { Metrics } from '../train/metrics';

export function writeReport(dir: string, metrics: Metrics): { metrics: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const metricsFile = path.join(dir, 'metrics.json');
  const htmlFile = path.join(dir, 'report.html');
  fs.writeFileSync(metricsFile, `${JSON.stringify(metrics, null, 2)}\n`);
  fs.writeFileSync(htmlFile, renderHtml(metrics));
  return { metrics: metricsFile, html: htmlFile };
}

function renderHtml(metrics: Metrics): string {
  const chartJs = fs.readFileSync(path.join(path.dirname(createRequire(__filename).resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  const escape = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  const rows = metrics.runs
    .map((r) => {
      const last = r.epochs.at(-1);
      const time = r.epochs.reduce((s, e) => s + e.wallSeconds, 0);
      return `<tr><td>${escape(r.optimizer)}</td><td>${last?.trainLoss.toFixed(4) ?? '–'}</td><td>${last?.testLoss.toFixed(4) ?? '–'}</td><td>${last?.testAccuracy === null || last === undefined ? '–' : last.testAccuracy.toFixed(4)}</td><td>${time.toFixed(1)} s</td></tr>`;
    })
    .join('\n');
  // The data goes in as JSON inside a script tag: '<' is escaped so no string can close the tag.
  const payload = JSON.stringify(metrics).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>grnewt training report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 20px; }
.chart { height: 300px; } .meta { color: #666; font-size: 12px; }
</style></head>
<body>
<h1>grnewt training report</h1>
<p class="meta">${escape(metrics.data)} · grnewt ${escape(metrics.versions.grnewt)}, libtorch ${escape(metrics.versions.libtorch)}, Node ${escape(metrics.versions.node)} · ${escape(metrics.machine.cpu)}, ${metrics.machine.threads} thread(s) · ${escape(metrics.createdAt)}</p>
<table><tr><th>optimizer</th><th>train loss</th><th>test loss</th><th>test accuracy</th><th>time</th></tr>
${rows}
</table>
<div class="grid">
<div><h2>Training loss</h2><div class="chart"><canvas id="trainLoss"></canvas></div></div>
<div><h2>Test loss</h2><div class="chart"><canvas id="testLoss"></canvas></div></div>
<div><h2>Test accuracy</h2><div class="chart"><canvas id="testAccuracy"></canvas></div></div>
</div>
<h2>NewtonSummary: learning rate of each group of parameters, per update</h2>
<div id="lrs" class="grid"></div>
<script>${chartJs}</script>
<script id="metrics" type="application/json">${payload}</script>
<script>
const metrics = JSON.parse(document.getElementById('metrics').textContent);
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
Chart.defaults.animation = false;
function lineChart(canvas, datasets, xTitle, logY) {
  return new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: { responsive: true, maintainAspectRatio: false, parsing: false,
      scales: { x: { type: 'linear', title: { display: true, text: xTitle }, ticks: { precision: 0 } }, y: { type: logY ? 'logarithmic' : 'linear' } } },
  });
}
for (const key of ['trainLoss', 'testLoss', 'testAccuracy']) {
  lineChart(document.getElementById(key), metrics.runs.map((run, i) => ({
    label: run.optimizer, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
    data: run.epochs.filter((e) => e[key] !== null).map((e) => ({ x: e.epoch, y: e[key] })),
  })), 'epoch', false);
}
for (const run of metrics.runs.filter((r) => r.updates.length)) {
  const box = document.createElement('div');
  box.className = 'chart';
  box.appendChild(document.createElement('canvas'));
  document.getElementById('lrs').appendChild(box);
  const groups = run.updates[0].lrs.map((_, s) => s);
  lineChart(box.querySelector('canvas'), groups.map((s) => ({
    label: run.groups[s] ? run.groups[s].join(', ') : 'group ' + s, borderColor: palette[s % palette.length],
    backgroundColor: palette[s % palette.length], pointRadius: 0,
    data: run.updates.filter((u) => u.lrs[s] > 0).map((u) => ({ x: u.step, y: u.lrs[s] })),
  })), 'step', true);
}
document.body.dataset.ready = 'true';
</script>
</body></html>
`;
}
