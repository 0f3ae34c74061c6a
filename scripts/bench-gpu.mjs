#!/usr/bin/env node
// node scripts/bench-gpu.mjs [--device cuda] [--batches 256,1024] [--models perceptron,lenet,vgg11] [--repeats 5]
// Summaries / one forward+backward on one device (a GPU by default), float32, canonical partition: the
// Taylor route and the autograd route against a forward+backward of the same model and batch. Each timing
// ends by reading a scalar that depends on the work, so queued GPU kernels are waited for. Ratios only.
import { parseArgs } from 'node:util';
import { grnewt, time as seconds } from './bench-setup.mjs';

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    batches: { type: 'string', default: '256,1024' },
    models: { type: 'string', default: 'perceptron,lenet,vgg11' },
    repeats: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
});
const device = args.device,
  repeats = Number(args.repeats);

const MODELS = {
  perceptron: { label: 'Perceptron 784-200-100-10 tanh', make: () => new grnewt.models.Perceptron([784, 200, 100, 10]), input: [784] },
  lenet: { label: 'LeNet 28×28 tanh', make: () => new grnewt.models.LeNet([1, 6, 16, 120, 84, 10], { inputSize: 28 }), input: [1, 28, 28] },
  vgg11: { label: 'VGG-11 32×32 relu', make: () => new grnewt.models.VGG(), input: [3, 32, 32] },
};

/** Median milliseconds (the warm-up also creates the CUDA context and loads the kernels). */
const time = (fn) => seconds(fn, repeats) * 1e3;

console.log(
  `grnewt GPU bench — device ${device}, libtorch ${grnewt.torchVersion()}, Node ${process.version}, float32, median of ${repeats}`,
);
console.log('model                              batch   S  fwd+bwd ms  taylor ms (ratio)  autograd ms (ratio)');
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
    const fb = time(forwardBackward);
    const taylor = time(summaries(() => grnewt.computeHgTaylor(model, paramGroups, x, y, direction)));
    const autograd = time(summaries(() => grnewt.computeHg(paramGroups, fullLoss, x, y, direction)));
    const row = { model: MODELS[name].label, batch, S: paramGroups.length, forwardBackwardMs: fb, taylorMs: taylor, autogradMs: autograd };
    rows.push(row);
    const f = (v) => v.toFixed(2);
    console.log(
      `${row.model.padEnd(34)} ${String(batch).padStart(5)} ${String(row.S).padStart(3)} ${f(fb).padStart(11)} ${f(taylor).padStart(10)} (${f(taylor / fb)}×) ${f(autograd).padStart(12)} (${f(autograd / fb)}×)`,
    );
    grnewt.tidy(() => {}); // nothing kept between rows but the model's own tensors, freed with it
  }
}
if (args.json) console.log(JSON.stringify(rows));
