#!/usr/bin/env node
// Soak test: trains NewtonSummary the way the README does (tidy per step) for many steps and reports the
// growth of resident memory and of live native tensors after a warm-up. Goal: < 5 % RSS growth and a
// constant tensor count.
//   node --expose-gc scripts/soak.mjs [--steps 20000] [--warmup 2000]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const g = require('../dist/index.js');
const { values: args } = parseArgs({
  options: { steps: { type: 'string', default: '20000' }, warmup: { type: 'string', default: '2000' } },
});
const steps = Number(args.steps),
  warmup = Number(args.warmup);

g.setNumThreads(1);
g.manualSeed(0);
const train = g.data.fashionMnist({
  split: 'train',
  root: require('node:path').join(__dirname_(), '..', 'assets', 'fashion-mnist-subset'),
});
const loader = new g.data.DataLoader(train, { batchSize: 50, shuffle: true, seed: 1 });
const hgLoader = new g.data.DataLoader(train, { batchSize: 200, shuffle: true, seed: 2 });
const model = new g.models.Perceptron([784, 64, 10]);
const fullLoss = (x, y) => g.losses.nll(model.forward(x), y);
const opt = new g.NewtonSummary(g.partition.canonical(model).paramGroups, fullLoss, hgLoader); // the README's defaults

function sample() {
  globalThis.gc?.();
  return { rss: process.memoryUsage().rss, tensors: g.memory().liveTensors };
}

let step = 0,
  base,
  last;
const started = Date.now();
outer: for (;;) {
  for (const [x, y] of loader) {
    g.tidy(() => {
      opt.zeroGrad();
      fullLoss(x, y).backward();
      opt.step();
    });
    x.dispose();
    y.dispose();
    step++;
    if (step === warmup) base = sample();
    if (step > warmup && step % 1000 === 0) {
      last = sample();
      console.log(
        `step ${step}: rss ${(last.rss / 2 ** 20).toFixed(1)} MiB (${(((last.rss - base.rss) / base.rss) * 100).toFixed(2)} % since step ${warmup}), live tensors ${last.tensors} (${last.tensors - base.tensors >= 0 ? '+' : ''}${last.tensors - base.tensors})`,
      );
    }
    if (step >= steps) break outer;
  }
}
const growth = ((last.rss - base.rss) / base.rss) * 100;
console.log(
  `soak: ${steps} steps in ${((Date.now() - started) / 1000).toFixed(0)} s; after warm-up: RSS ${growth >= 0 ? '+' : ''}${growth.toFixed(2)} %, live tensors ${last.tensors - base.tensors >= 0 ? '+' : ''}${last.tensors - base.tensors}${globalThis.gc ? '' : ' (run with --expose-gc for steadier numbers)'}`,
);
process.exitCode = growth < 5 && last.tensors === base.tensors ? 0 : 1;

function __dirname_() {
  return require('node:path').dirname(new URL(import.meta.url).pathname);
}
