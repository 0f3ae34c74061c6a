#!/usr/bin/env node
// npm run bench: speed ratios measured in one process, with warm-up and medians, never wall-clock limits.
// Today: the N-API overhead of one tiny op called from Node, against the same loop written in C++.
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

const perOp = (s) => (s / iterations) * 1e9;
const results = {
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, libtorch: grnewt.torchVersion(), threads: grnewt.getNumThreads() },
  iterations,
  repeats,
  addNs: { cpp: perOp(cpp), node: perOp(nodeGc), nodeDispose: perOp(nodeDispose) },
  ratios: { nodeOverCpp: nodeGc / cpp, nodeDisposeOverCpp: nodeDispose / cpp },
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
}
