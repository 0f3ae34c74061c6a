#!/usr/bin/env node
// The README's training loop written the plainest way — no tidy, no dispose, default NewtonSummary options —
// over Fashion-MNIST; prints live native tensors and RSS at the end of each epoch. Nothing here calls gc():
// memory must stay flat by itself.
//   node scripts/plain-loop.mjs [--epochs 8] [--limit N] [--root DIR]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const grnewt = require('../dist/index.js');
const { values: args } = parseArgs({
  options: { epochs: { type: 'string', default: '8' }, limit: { type: 'string' }, root: { type: 'string' } },
});
const { data, models, losses, partition, NewtonSummary } = grnewt;

const options = { split: 'train', ...(args.root ? { root: args.root } : {}), ...(args.limit ? { limit: Number(args.limit) } : {}) };
const train = data.fashionMnist(options);
const dataLoader = new data.DataLoader(train, { batchSize: 100, shuffle: true, seed: 1 });
const hgLoader = new data.DataLoader(train, { batchSize: 1000, shuffle: true, seed: 2 });
const model = new models.Perceptron([784, 200, 100, 10]);
const fullLoss = (x, target) => losses.nll(model.forward(x), target);
const optimizer = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, hgLoader);
const rows = [];
for (let epoch = 0; epoch < Number(args.epochs); epoch++) {
  const start = Date.now();
  for (const [x, target] of dataLoader) {
    optimizer.zeroGrad();
    const loss = fullLoss(x, target);
    loss.backward();
    optimizer.step();
  }
  const m = grnewt.memory();
  const row = {
    epoch: epoch + 1,
    liveTensors: m.liveTensors,
    tensorMiB: m.bytes / 2 ** 20,
    cachedMiB: m.allocator.cachedBytes / 2 ** 20,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    seconds: (Date.now() - start) / 1000,
  };
  rows.push(row);
  console.log(
    `epoch ${row.epoch}: live tensors ${row.liveTensors}, tensor memory ${row.tensorMiB.toFixed(1)} MiB, allocator cache ${row.cachedMiB.toFixed(1)} MiB, JS heap ${row.heapMiB.toFixed(1)} MiB, RSS ${row.rssMiB.toFixed(0)} MiB (${row.seconds.toFixed(1)} s)`,
  );
}
const first = rows[0],
  last = rows.at(-1);
console.log(
  `after epoch 1 → ${last.epoch}: live tensors ×${(last.liveTensors / first.liveTensors).toFixed(2)}, RSS ×${(last.rssMiB / first.rssMiB).toFixed(2)}`,
);
if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
