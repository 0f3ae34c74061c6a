#!/usr/bin/env node
// The seed README's example on Fashion-MNIST, next to Adam: a 784-200-100-10 tanh Perceptron, batches of
// 100, trained for a few epochs by NewtonSummary (its defaults are the seed's hyperparameters) and by Adam
// (lr 1e-3) from the same initialisation, then evaluated on the 10,000 test images.
//   node examples/fashion-mnist.mjs [--epochs 3] [--threads N (default: grnewt.recommendedThreads())] [--limit N]
import { parseArgs } from 'node:util';
import grnewt from '../dist/index.js';

const { data, models, losses, partition, optim, NewtonSummary, tidy } = grnewt;
const { values: args } = parseArgs({
  options: { epochs: { type: 'string', default: '3' }, threads: { type: 'string' }, limit: { type: 'string' } },
});
const epochs = Number(args.epochs);
grnewt.setNumThreads(args.threads ? Number(args.threads) : grnewt.recommendedThreads().threads);

const train = data.fashionMnist({ split: 'train', limit: args.limit ? Number(args.limit) : undefined });
const test = data.fashionMnist({ split: 'test' });
console.log(`Fashion-MNIST: ${train.length} training and ${test.length} test images; ${epochs} epochs, ${grnewt.getNumThreads()} threads`);

grnewt.manualSeed(0);
const initial = new models.Perceptron([784, 200, 100, 10]).stateDict();

function accuracy(model) {
  return tidy(() => grnewt.noGrad(() => grnewt.accuracy(model.forward(test.x), test.y)));
}

function run(name, makeOptimizer) {
  const model = new models.Perceptron([784, 200, 100, 10]);
  model.loadStateDict(initial);
  const fullLoss = (x, target) => losses.nll(model.forward(x), target);
  const optimizer = makeOptimizer(model, fullLoss);
  const loader = new data.DataLoader(train, { batchSize: 100, shuffle: true, seed: 1 });
  const start = Date.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    let sum = 0;
    for (const [x, target] of loader) {
      sum += tidy(() => {
        optimizer.zeroGrad();
        const loss = fullLoss(x, target);
        loss.backward();
        optimizer.step();
        return loss.item();
      });
      x.dispose();
      target.dispose();
    }
    const lrs = optimizer.lrs
      ? `  lrs ${optimizer
          .lrs()
          .map((v) => v.toExponential(1))
          .join(' ')}`
      : '';
    console.log(
      `${name.padEnd(14)} epoch ${epoch}  train loss ${(sum / loader.length).toFixed(4)}  test accuracy ${accuracy(model).toFixed(4)}  ${((Date.now() - start) / 1000).toFixed(1)} s${lrs}`,
    );
  }
  return { name, accuracy: accuracy(model), seconds: (Date.now() - start) / 1000 };
}

const results = [
  run('NewtonSummary', (model, fullLoss) => {
    const hgLoader = new data.DataLoader(train, { batchSize: 1000, shuffle: true, seed: 2 });
    const { paramGroups } = partition.canonical(model);
    return new NewtonSummary(paramGroups, fullLoss, hgLoader); // the seed's values are the defaults
  }),
  run('Adam', (model) => new optim.Adam(model.parameters(), { lr: 1e-3 })),
];
console.log('\noptimizer       test accuracy   time');
for (const r of results) console.log(`${r.name.padEnd(15)} ${r.accuracy.toFixed(4).padStart(13)}   ${r.seconds.toFixed(1)} s`);
