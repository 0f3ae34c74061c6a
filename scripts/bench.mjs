#!/usr/bin/env node
// npm run bench [-- --json] [-- --quick]: speed and memory ratios measured in one process, with warm-up and
// medians; both sides of every ratio use the same data, dtype and
// threads. Never wall-clock limits.
//   1. the N-API overhead of one tiny op called from Node, against the same loop written in C++;
//   2. computeHg (autograd route) and computeHgTaylor (Taylor route) against one forward+backward of the same
//      model and batch: Perceptron and LeNet, batch 1000, canonical partition, float32/float64, 1 and 2 threads;
//   3. a training loop: NewtonSummary (periodHg 10, batch 100, hg batch 1000) steps/s against momentum SGD's;
//   4. the peak memory of each summaries route against forward+backward's.
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { grnewt, MODELS, time, workload } from './bench-setup.mjs';

const { native } = await import('../dist/native.js');
const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } } });
const quick = args.quick;
const say = (line) => { if (!args.json) console.log(line); };

const fmt = (x, digits = 2) => x.toFixed(digits);
const threadCounts = [1, 2].filter((t) => t <= os.cpus().length);
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version,
  libtorch: grnewt.torchVersion(), platform: `${os.platform()} ${os.release()}`,
};
say(`grnewt bench — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}, libtorch ${machine.libtorch}`);
const results = { machine, targets: { taylorOverForwardBackward: 2.5, newtonOverSgdStepsPerSecond: 0.7, peakMemoryOverForwardBackward: 3 } };

// 1. tiny op
{
  grnewt.setNumThreads(1);
  const iterations = quick ? 20000 : 100000, repeats = quick ? 3 : 7;
  const a = grnewt.ones([4]), b = grnewt.ones([4]);
  const cpp = time(() => native().benchAddLoop(iterations), repeats);
  const gc = time(() => { for (let i = 0; i < iterations; i++) a.add(b); }, repeats);
  const disposed = time(() => { for (let i = 0; i < iterations; i++) a.add(b).dispose(); }, repeats);
  const ns = (s) => (s / iterations) * 1e9;
  results.tinyOp = { iterations, cppNs: ns(cpp), nodeNs: ns(gc), nodeDisposeNs: ns(disposed), nodeOverCpp: gc / cpp, nodeDisposeOverCpp: disposed / cpp };
  say(`\n1. tiny op (add of two 4-element float32 tensors), 1 thread, median of ${repeats} × ${iterations}:`);
  say(`   C++ loop ${fmt(ns(cpp), 0)} ns/op · Node, freed by GC ${fmt(ns(gc), 0)} ns/op (${fmt(gc / cpp)}×) · Node, dispose() each ${fmt(ns(disposed), 0)} ns/op (${fmt(disposed / cpp)}×)`);
}

// 2. summaries against forward+backward
results.summaries = [];
say('\n2. summaries / one forward+backward, batch 1000, canonical partition (target: Taylor ≤ 2.5× on the Perceptron)');
say('   model                              dtype    threads  fwd+bwd ms  autograd ms (ratio)  taylor ms (ratio)');
for (const modelName of Object.keys(MODELS)) {
  for (const dtype of ['float32', 'float64']) {
    const w = workload(modelName, dtype, 1000);
    for (const threads of threadCounts) {
      grnewt.setNumThreads(threads);
      const repeats = quick ? 2 : 5;
      const fb = time(w.ops.forwardBackward, repeats);
      const autograd = time(w.ops.autograd, quick ? 1 : 3);
      const taylor = time(w.ops.taylor, repeats);
      const row = { model: MODELS[modelName].label, S: w.S, dtype, threads, forwardBackwardMs: fb * 1e3, autogradMs: autograd * 1e3, taylorMs: taylor * 1e3, autogradRatio: autograd / fb, taylorRatio: taylor / fb };
      results.summaries.push(row);
      say(`   ${(row.model + ` (S = ${w.S})`).padEnd(35)} ${dtype}  ${String(threads).padStart(7)}  ${fmt(fb * 1e3, 1).padStart(10)}  ${fmt(autograd * 1e3, 1).padStart(11)} (${fmt(row.autogradRatio)}×)  ${fmt(taylor * 1e3, 1).padStart(9)} (${fmt(row.taylorRatio)}×)`);
    }
  }
}

// 3. training loop: NewtonSummary against momentum SGD
results.training = [];
say('\n3. training steps/s, Perceptron 784-200-100-10 float32, batch 100; NewtonSummary with the seed README\'s values (its defaults: periodHg 10), hg batch 1000');
{
  grnewt.manualSeed(1);
  const batchesOf = (n, size) => Array.from({ length: n }, (_, i) => [grnewt.randn([size, 784]), grnewt.tensor(Array.from({ length: size }, (_, k) => (k * 3 + i) % 10), { dtype: 'int64' })]);
  const train = batchesOf(10, 100), hg = batchesOf(3, 1000);
  const steps = quick ? 30 : 100;
  const loop = (make) => {
    const model = new grnewt.models.Perceptron([784, 200, 100, 10]);
    const fullLoss = (a, b) => grnewt.losses.nll(model.forward(a), b);
    const opt = make(model, fullLoss);
    let k = 0;
    return () => {
      for (let i = 0; i < steps; i++, k++) {
        const [x, y] = train[k % train.length];
        grnewt.tidy(() => {
          opt.zeroGrad();
          fullLoss(x, y).backward();
          opt.step();
        });
      }
    };
  };
  // The seed README's loop as a user writes it (no options: the defaults are its values, and the route is
  // found on its own), against the same loop asking for the Taylor route, and momentum SGD.
  const newton = (options) => (model, fullLoss) => new grnewt.NewtonSummary(grnewt.partition.canonical(model).paramGroups, fullLoss, hg, options(model));
  for (const threads of threadCounts) {
    grnewt.setNumThreads(threads);
    const repeats = quick ? 1 : 3;
    const sgd = steps / time(loop((model) => new grnewt.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 })), repeats);
    const plain = steps / time(loop(newton(() => undefined)), repeats);
    const taylor = steps / time(loop(newton((model) => ({ taylor: { model } }))), repeats);
    const autograd = steps / time(loop(newton(() => ({ summaries: 'autograd' }))), repeats);
    const row = {
      threads, sgdStepsPerSecond: sgd, newtonDefaultStepsPerSecond: plain, newtonTaylorStepsPerSecond: taylor, newtonAutogradStepsPerSecond: autograd,
      defaultOverTaylor: plain / taylor, taylorOverSgd: taylor / sgd, autogradOverSgd: autograd / sgd,
    };
    results.training.push(row);
    say(`   ${threads} thread(s): SGD ${fmt(sgd, 0)} steps/s · NewtonSummary, no options ${fmt(plain, 0)} (${fmt(plain / sgd)}× SGD, ${fmt(row.defaultOverTaylor)}× the explicit Taylor loop; target ≥ 0.9×) · taylor: { model } ${fmt(taylor, 0)} (${fmt(row.taylorOverSgd)}×) · summaries: 'autograd' ${fmt(autograd, 0)} (${fmt(row.autogradOverSgd)}×)`);
  }
}

// 4. peak memory: the most tensor memory in use during one call, above what was in use before it (counted
// exactly by grnewt's CPU allocator).
results.memory = [];
say('\n4. peak tensor memory during one call, above the memory in use before it, batch 1000 (target: ≤ 3× forward+backward)');
const MiB = (b) => fmt(b / 2 ** 20, 1);
if (!grnewt.memory().allocator.enabled) say('   (not measured: GRNEWT_CPU_CACHE=0 turned grnewt\'s allocator off)');
for (const modelName of Object.keys(MODELS)) {
  for (const dtype of ['float32', 'float64']) {
    if (!grnewt.memory().allocator.enabled) break;
    grnewt.setNumThreads(1);
    const w = workload(modelName, dtype, 1000);
    const peak = (op) => {
      w.ops[op](); // warm-up
      const before = grnewt.memory().allocator.inUseBytes;
      grnewt.resetPeakMemory();
      w.ops[op]();
      return grnewt.memory().allocator.peakBytes - before;
    };
    const fb = peak('forwardBackward'), autograd = peak('autograd'), taylor = peak('taylor');
    const row = { model: MODELS[modelName].label, dtype, forwardBackwardBytes: fb, autogradBytes: autograd, taylorBytes: taylor, autogradRatio: autograd / fb, taylorRatio: taylor / fb };
    results.memory.push(row);
    say(`   ${row.model.padEnd(32)} ${dtype}: fwd+bwd ${MiB(fb)} MiB · autograd ${MiB(autograd)} MiB (${fmt(row.autogradRatio)}×) · taylor ${MiB(taylor)} MiB (${fmt(row.taylorRatio)}×)`);
  }
}

if (args.json) console.log(JSON.stringify(results));
