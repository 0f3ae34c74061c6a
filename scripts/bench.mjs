#!/usr/bin/env node
// npm run bench: speed ratios measured in one process, with warm-up and medians, never wall-clock limits.
//   1. the N-API overhead of one tiny op called from Node, against the same loop written in C++;
//   2. computeHg (autograd route) and computeHgTaylor (fast route) against one forward+backward of the
//      same model and batch.
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const grnewt = require('../dist/index.js');
const { native } = require('../dist/native.js');

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    iterations: { type: 'string', default: '100000' },
    repeats: { type: 'string', default: '7' },
    batch: { type: 'string', default: '1000' },
  },
});
const iterations = Number(args.iterations);
const repeats = Number(args.repeats);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function measure(fn) {
  fn(); // warm-up
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return median(times);
}

const a = grnewt.ones([4]);
const b = grnewt.ones([4]);
const cpp = measure(() => native().benchAddLoop(iterations));
const nodeGc = measure(() => {
  for (let i = 0; i < iterations; i++) a.add(b);
});
const nodeDispose = measure(() => {
  for (let i = 0; i < iterations; i++) a.add(b).dispose();
});

// computeHg / forward+backward: 784-200-100-10 tanh Perceptron, float32, canonical partition.
grnewt.manualSeed(0);
const batch = Number(args.batch);
const model = new grnewt.models.Perceptron([784, 200, 100, 10]);
const x = grnewt.randn([batch, 784]);
const y = grnewt.tensor(Int32Array.from({ length: batch }, (_, i) => i % 10));
const fullLoss = (a, b) => grnewt.losses.nll(model.forward(a), b);
const { paramGroups } = grnewt.partition.canonical(model);
const direction = model.parameters().map((p) => grnewt.randn(p.shape));
const summaryRepeats = Math.max(3, Math.floor(repeats / 2));
const measureFew = (fn) => {
  fn();
  const times = [];
  for (let r = 0; r < summaryRepeats; r++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return median(times);
};
const forwardBackward = measureFew(() => grnewt.tidy(() => {
  model.zeroGrad();
  fullLoss(x, y).backward();
}));
const hg = measureFew(() => grnewt.tidy(() => {
  const r = grnewt.computeHg(paramGroups, fullLoss, x, y, direction);
  Object.values(r).forEach((t) => t.dispose());
}));
const taylor = measureFew(() => grnewt.tidy(() => {
  const r = grnewt.computeHgTaylor(model, paramGroups, x, y, direction);
  Object.values(r).forEach((t) => t.dispose());
}));

const perOp = (s) => (s / iterations) * 1e9;
const results = {
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, libtorch: grnewt.torchVersion(), threads: grnewt.getNumThreads() },
  iterations,
  repeats,
  addNs: { cpp: perOp(cpp), node: perOp(nodeGc), nodeDispose: perOp(nodeDispose) },
  summaries: { model: '784-200-100-10 tanh, float32, canonical (S = 6)', batch, forwardBackwardMs: forwardBackward * 1e3, computeHgMs: hg * 1e3, computeHgTaylorMs: taylor * 1e3 },
  ratios: { nodeOverCpp: nodeGc / cpp, nodeDisposeOverCpp: nodeDispose / cpp, computeHgOverForwardBackward: hg / forwardBackward, computeHgTaylorOverForwardBackward: taylor / forwardBackward },
};

if (args.json) {
  console.log(JSON.stringify(results));
} else {
  const m = results.machine;
  console.log(`grnewt bench — ${m.cpu}, ${m.cores} cores, Node ${m.node}, libtorch ${m.libtorch}, ${m.threads} intra-op thread(s)`);
  console.log(`tiny op (add of two 4-element float32 tensors), ${iterations} iterations, median of ${repeats}:`);
  console.log(`  C++ loop                      ${results.addNs.cpp.toFixed(0).padStart(6)} ns/op   1.00×`);
  console.log(`  Node loop (freed by GC)       ${results.addNs.node.toFixed(0).padStart(6)} ns/op   ${results.ratios.nodeOverCpp.toFixed(2)}×`);
  console.log(`  Node loop (dispose() each)    ${results.addNs.nodeDispose.toFixed(0).padStart(6)} ns/op   ${results.ratios.nodeDisposeOverCpp.toFixed(2)}×`);
  console.log(`summaries, ${results.summaries.model}, batch ${batch}, median of ${summaryRepeats}:`);
  console.log(`  forward+backward              ${results.summaries.forwardBackwardMs.toFixed(1).padStart(7)} ms      1.00×`);
  console.log(`  computeHg (autograd route)    ${results.summaries.computeHgMs.toFixed(1).padStart(7)} ms   ${results.ratios.computeHgOverForwardBackward.toFixed(2).padStart(6)}×`);
  console.log(`  computeHgTaylor (fast route)  ${results.summaries.computeHgTaylorMs.toFixed(1).padStart(7)} ms   ${results.ratios.computeHgTaylorOverForwardBackward.toFixed(2).padStart(6)}×`);
}
