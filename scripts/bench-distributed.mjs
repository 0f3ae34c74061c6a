// One rank of bench.mjs's section 6 (several processes): momentum SGD on a 784-200-100-10 Perceptron, float32,
// global batch 100 split across the ranks, 1 thread per process; prints one JSON line: steps/s of the whole
// training step, and the time of the step's gradient allreduce alone (266,610 float32 numbers, flattened).
// WORLD_SIZE unset or 1: one process, no process group.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const grnewt = require('../dist/index.js');
const steps = Number(process.argv[2] ?? 60),
  warmup = 10;
const size = Number(process.env.WORLD_SIZE ?? 1);
grnewt.setNumThreads(1);
if (size > 1) await grnewt.distributed.init();
const distributed = size > 1;
grnewt.manualSeed(0);
const model = new grnewt.models.Perceptron([784, 200, 100, 10], { classification: true });
const x = grnewt.randn([100 / size, 784]),
  y = grnewt.tensor(BigInt64Array.from({ length: 100 / size }, (_, i) => BigInt(i % 10)));
const opt = new grnewt.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, distributed });
const step = () => {
  opt.zeroGrad();
  grnewt.tidy(() => grnewt.losses.nll(model.forward(x), y).backward());
  opt.step();
};
for (let i = 0; i < warmup; i++) step();
if (distributed) await grnewt.distributed.barrier();
let start = process.hrtime.bigint();
for (let i = 0; i < steps; i++) step();
const stepSeconds = Number(process.hrtime.bigint() - start) / 1e9 / steps;
let allreduceMs = 0;
if (distributed) {
  const grads = model.parameters().map((p) => p.grad);
  await grnewt.distributed.barrier();
  start = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await grnewt.distributed.allReduce(grads, 'mean');
  allreduceMs = Number(process.hrtime.bigint() - start) / 1e6 / steps;
  await grnewt.distributed.barrier();
  await grnewt.distributed.destroy();
}
console.log(JSON.stringify({ rank: Number(process.env.RANK ?? 0), size, stepsPerSecond: 1 / stepSeconds, allreduceMs }));
