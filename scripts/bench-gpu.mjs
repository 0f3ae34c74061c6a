#!/usr/bin/env node
// node scripts/bench-gpu.mjs [--device cuda] [--batches 256,1024,8192] [--models perceptron,lenet,vgg11] [--repeats 20]
//                            [--autograd-max-batch 1024] [--json]
// Summaries / one forward+backward on one device (a GPU by default), float32, canonical partition: the
// Taylor route and the autograd route against a forward+backward of the same model and batch, then where the
// Taylor route's time goes (its stage timers, which wait for the GPU at each stage's ends). Each timing ends by
// reading a scalar that depends on the work, so queued GPU kernels are waited for. Ratios only. The autograd
// route is left out above --autograd-max-batch (VGG-11 at 8192 would need ~200 GB).
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { grnewt, median } from './bench-setup.mjs';

const { computeHgTaylorProfiled } = createRequire(import.meta.url)('../dist/method/taylor_route.js');
const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    batches: { type: 'string', default: '256,1024,8192' },
    models: { type: 'string', default: 'perceptron,lenet,vgg11' },
    repeats: { type: 'string', default: '20' },
    'autograd-max-batch': { type: 'string', default: '1024' },
    json: { type: 'boolean', default: false },
  },
});
const device = args.device,
  repeats = Number(args.repeats),
  autogradMaxBatch = Number(args['autograd-max-batch']);

const MODELS = {
  perceptron: { label: 'Perceptron 784-200-100-10 tanh', make: () => new grnewt.models.Perceptron([784, 200, 100, 10]), input: [784] },
  lenet: { label: 'LeNet 28×28 tanh', make: () => new grnewt.models.LeNet([1, 6, 16, 120, 84, 10], { inputSize: 28 }), input: [1, 28, 28] },
  vgg11: { label: 'VGG-11 32×32 relu', make: () => new grnewt.models.VGG(), input: [3, 32, 32] },
};

/** Calls fn for at least `seconds` (and twice): loads the kernels, fills the allocator's cache, raises the clocks. */
function warm(fn, seconds) {
  const start = process.hrtime.bigint();
  for (let calls = 0; calls < 2 || Number(process.hrtime.bigint() - start) / 1e9 < seconds; calls++) fn();
}
/**
 * Median milliseconds of each function, after a warm-up of each, called in turn (a, b, c, a, b, c, …) so that a
 * drift of the machine (clocks, the allocator's cache) weighs on every column alike; `repeats` rounds, or 5
 * when a round takes over a second (VGG-11's jets implementation at batch 8192 takes two).
 */
function timeInTurn(fns) {
  const round = Object.values(fns).reduce((sum, fn) => {
    warm(fn, 0.3);
    const start = process.hrtime.bigint();
    fn();
    return sum + Number(process.hrtime.bigint() - start) / 1e9;
  }, 0);
  const rounds = round > 1 ? Math.min(repeats, 5) : repeats;
  const ms = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++)
    for (const [k, fn] of Object.entries(fns)) {
      const start = process.hrtime.bigint();
      fn();
      ms[k].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, median(v)]));
}

{
  // A GPU idles at a low clock: two seconds of matrix products before the first timing.
  const a = grnewt.randn([4096, 4096], { device });
  warm(() => grnewt.tidy(() => a.matmul(a).sum().item()), 2);
  a.dispose();
}

console.log(
  `grnewt GPU bench — device ${device}, libtorch ${grnewt.torchVersion()}, Node ${process.version}, float32, median of ${repeats} rounds after a warm-up, the columns timed in turn`,
);
console.log(
  'model                              batch   S  fwd+bwd ms  taylor ms (ratio)  autograd ms (ratio)   jets / adjoint implementation ms',
);
const STAGES = ['layers', 'allocation', 'bias', 'elementwise', 'pool', 'loss', 'values', 'sources', 'total'];
const rows = [];
for (const name of args.models.split(',')) {
  for (const batch of args.batches.split(',').map(Number)) {
    grnewt.manualSeed(0);
    const model = MODELS[name].make().to({ device });
    const x = grnewt.randn([batch, ...MODELS[name].input], { device });
    const y = grnewt
      .tensor(
        Array.from({ length: batch }, (_, i) => (i * 7) % 10),
        { dtype: 'int64' },
      )
      .to({ device });
    const fullLoss = (a, b) => grnewt.losses.nll(model.forward(a), b);
    const { paramGroups } = grnewt.partition.canonical(model);
    const direction = model.parameters().map((p) => grnewt.randn(p.shape, { device }).mul(1e-2));
    const first = model.parameters()[0];
    const forwardBackward = () =>
      grnewt.tidy(() => {
        model.zeroGrad();
        fullLoss(x, y).backward();
        first.grad.sum().item();
      });
    const summaries = (compute) => () =>
      grnewt.tidy(() => {
        compute().H.sum().item();
      });
    const taylorCall = summaries(() => grnewt.computeHgTaylor(model, paramGroups, x, y, direction));
    // Each implementation of the Taylor route forced too (GRNEWT_TAYLOR_ROUTE is read at each call), to check
    // the automatic choice.
    const forcing = (route) => () => {
      process.env.GRNEWT_TAYLOR_ROUTE = route;
      try {
        taylorCall();
      } finally {
        delete process.env.GRNEWT_TAYLOR_ROUTE;
      }
    };
    const t = timeInTurn({ fb: forwardBackward, taylor: taylorCall, jets: forcing('jets'), adjoint: forcing('adjoint') });
    const { fb, taylor } = t;
    const forced = { jets: t.jets, adjoint: t.adjoint };
    const autograd =
      batch <= autogradMaxBatch
        ? timeInTurn({ autograd: summaries(() => grnewt.computeHg(paramGroups, fullLoss, x, y, direction)) }).autograd
        : null;
    const profiles = Array.from({ length: 5 }, () =>
      grnewt.tidy(() => {
        const start = process.hrtime.bigint();
        const { profile } = computeHgTaylorProfiled(model, paramGroups, x, y, direction);
        return { ...profile, wall: Number(process.hrtime.bigint() - start) / 1e9 };
      }),
    );
    const stages = Object.fromEntries(STAGES.map((k) => [k, median(profiles.map((p) => p[k])) * 1e3]));
    stages.jsAndNapi = median(profiles.map((p) => p.wall - p.total)) * 1e3;
    const row = {
      model: MODELS[name].label,
      batch,
      S: paramGroups.length,
      forwardBackwardMs: fb,
      taylorMs: taylor,
      jetsMs: forced.jets,
      adjointMs: forced.adjoint,
      autogradMs: autograd,
      taylorStagesMs: stages,
    };
    rows.push(row);
    const f = (v) => v.toFixed(2);
    const autogradCell = autograd === null ? '(left out)'.padStart(20) : `${f(autograd).padStart(12)} (${f(autograd / fb)}×)`;
    console.log(
      `${row.model.padEnd(34)} ${String(batch).padStart(5)} ${String(row.S).padStart(3)} ${f(fb).padStart(11)} ${f(taylor).padStart(10)} (${f(taylor / fb)}×) ${autogradCell}   ${f(forced.jets)} / ${f(forced.adjoint)}`,
    );
    console.log(
      `   taylor stages (ms): ${Object.entries(stages)
        .map(([k, v]) => `${k} ${f(v)}`)
        .join(' · ')}`,
    );
    grnewt.tidy(() => {}); // nothing kept between rows but the model's own tensors, freed with it
  }
}
if (args.json) console.log(JSON.stringify(rows));
