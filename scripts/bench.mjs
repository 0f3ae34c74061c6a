#!/usr/bin/env node
// npm run bench [-- --json] [-- --quick]: speed and memory ratios measured in one process, with warm-up and
// medians; both sides of every ratio use the same data, dtype and
// threads. Never wall-clock limits.
//   1. the N-API overhead of one tiny op called from Node, against the same loop written in C++;
//   2. computeHg (autograd route) and computeHgTaylor (Taylor route) against one forward+backward of the same
//      model and batch: Perceptron and LeNet, batch 1000, canonical partition, float32/float64, 1 and 2 threads;
//   3. a training loop: NewtonSummary (periodHg 10, batch 100, hg batch 1000) steps/s against momentum SGD's;
//   4. the peak memory of each summaries route against forward+backward's;
//   5. a wide partition: VGG-11 on 32×32 inputs, batch 64, canonical partition (22 subsets): time and peak
//      memory of both routes against one forward+backward;
//   6. several processes (c10d, Gloo on 127.0.0.1): momentum SGD steps/s on 1 and 2 processes (1 thread each,
//      global batch 100) and the time of a step's gradient allreduce (scripts/bench-distributed.mjs).
// Section 2 also prints where the Taylor route's time goes, by stage (native timers, taylor::Profile), and
// every ratio with a target says whether it meets it.
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { grnewt, median, MODELS, quartiles, time, timeAlternated, workload } from './bench-setup.mjs';

const { native } = await import('../dist/core/native.js');
const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    'no-vgg': { type: 'boolean', default: false },
  },
});
const quick = args.quick;
const say = (line) => {
  if (!args.json) console.log(line);
};

const fmt = (x, digits = 2) => x.toFixed(digits);
const threadCounts = [1, 2].filter((t) => t <= os.cpus().length);
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  libtorch: grnewt.torchVersion(),
  platform: `${os.platform()} ${os.release()}`,
};
say(
  `grnewt bench — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}, libtorch ${machine.libtorch}`,
);
// Issue 16's targets: Taylor route / one forward+backward (1 thread, and no worse with 2), peak memory ratios.
const TARGETS = {
  taylorOverForwardBackward: { perceptron: 1.5, lenet: 2.0 },
  newtonOverSgdStepsPerSecond: 0.7,
  peakMemoryOverForwardBackward: 2.5,
  vgg11: { taylorOverForwardBackward: 3, taylorOverAutogradMemory: 1 },
};
const results = { machine, targets: TARGETS };
const verdict = (ratio, target) => (ratio <= target ? `met, ≤ ${target}×` : `NOT met, target ≤ ${target}×`);
// Where the alternated pairs' ratios straddle the target (their middle half, or with only three pairs all of
// them), the verdict is the machine's noise as much as the code's: say so, with that range.
const spread = (ratios) => [Math.min(...ratios), Math.max(...ratios)];
const withinNoise = (low, high, target) =>
  low <= target && target < high ? ` (within noise: pairs ${low.toFixed(2)}–${high.toFixed(2)}×)` : '';

// 1. tiny op
{
  grnewt.setNumThreads(1);
  const iterations = quick ? 20000 : 100000,
    repeats = quick ? 3 : 7;
  const a = grnewt.ones([4]),
    b = grnewt.ones([4]);
  const cpp = time(() => native().benchAddLoop(iterations), repeats);
  const gc = time(() => {
    for (let i = 0; i < iterations; i++) a.add(b);
  }, repeats);
  const disposed = time(() => {
    for (let i = 0; i < iterations; i++) a.add(b).dispose();
  }, repeats);
  const ns = (s) => (s / iterations) * 1e9;
  results.tinyOp = {
    iterations,
    cppNs: ns(cpp),
    nodeNs: ns(gc),
    nodeDisposeNs: ns(disposed),
    nodeOverCpp: gc / cpp,
    nodeDisposeOverCpp: disposed / cpp,
  };
  say(`\n1. tiny op (add of two 4-element float32 tensors), 1 thread, median of ${repeats} × ${iterations}:`);
  say(
    `   C++ loop ${fmt(ns(cpp), 0)} ns/op · Node, freed by GC ${fmt(ns(gc), 0)} ns/op (${fmt(gc / cpp)}×) · Node, dispose() each ${fmt(ns(disposed), 0)} ns/op (${fmt(disposed / cpp)}×)`,
  );
}

// 2. summaries against forward+backward, and where the Taylor route's time goes
results.summaries = [];
say(
  '\n2. summaries / one forward+backward, batch 1000, canonical partition (targets, Taylor: ≤ 1.5× Perceptron, ≤ 2.0× LeNet; 2 threads no worse than 1)',
);
say('   model                              dtype    threads  fwd+bwd ms  autograd ms (ratio)  taylor ms (ratio)   verdict');
const STAGES = ['layers', 'allocation', 'bias', 'elementwise', 'pool', 'loss', 'values', 'sources'];
const medianProfile = (profiles) => Object.fromEntries(Object.keys(profiles[0]).map((k) => [k, median(profiles.map((p) => p[k]))]));
for (const modelName of ['perceptron', 'lenet']) {
  for (const dtype of ['float32', 'float64']) {
    const w = workload(modelName, dtype, 1000);
    for (const threads of threadCounts) {
      grnewt.setNumThreads(threads);
      const repeats = quick ? 3 : 9;
      const { a: fb, b: taylor, pairRatios } = timeAlternated(w.ops.forwardBackward, w.ops.taylor, repeats);
      const [low, high] = quartiles(pairRatios);
      const autograd = time(w.ops.autograd, quick ? 1 : 3);
      const profiles = Array.from({ length: repeats }, () => w.ops.taylorProfiled());
      const stages = medianProfile(profiles);
      const target = TARGETS.taylorOverForwardBackward[modelName];
      const row = {
        model: MODELS[modelName].label,
        S: w.S,
        dtype,
        threads,
        forwardBackwardMs: fb * 1e3,
        autogradMs: autograd * 1e3,
        taylorMs: taylor * 1e3,
        autogradRatio: autograd / fb,
        taylorRatio: taylor / fb,
        pairRatioQuartiles: [low, high],
        target,
        met: taylor / fb <= target,
        stagesMs: {
          ...Object.fromEntries(STAGES.map((k) => [k, stages[k] * 1e3])),
          nativeOther: (stages.total - STAGES.reduce((a, k) => a + stages[k], 0)) * 1e3,
          jsAndNapi: median(profiles.map((p) => p.wall - p.total)) * 1e3,
        },
        peakRows: stages.peakRows,
        profiledMs: stages.wall * 1e3,
      };
      const single = results.summaries.find((r) => r.model === row.model && r.dtype === dtype && r.threads === 1);
      if (single) row.noWorseThanOneThread = row.taylorRatio <= single.taylorRatio;
      results.summaries.push(row);
      const scaling = single ? (row.noWorseThanOneThread ? ', ≤ 1 thread' : ', WORSE than 1 thread') : '';
      say(
        `   ${`${row.model} (S = ${w.S})`.padEnd(35)} ${dtype}  ${String(threads).padStart(7)}  ${fmt(fb * 1e3, 1).padStart(10)}  ${fmt(autograd * 1e3, 1).padStart(11)} (${fmt(row.autogradRatio)}×)  ${fmt(taylor * 1e3, 1).padStart(9)} (${fmt(row.taylorRatio)}×)  ${verdict(row.taylorRatio, target)}${scaling}${withinNoise(low, high, target)}`,
      );
    }
  }
}
say("\n   where the Taylor route's time goes (ms, medians; layers = GEMMs/convolutions over the jet rows, allocation = new rows");
say('   allocated and zeroed, elementwise = the jet kernel (with the adjoint implementation, its contractions with λ too), loss = the');
say("   loss head and assembly, values = the adjoint implementation's plain forward pass and backward pass of λ, sources = its");
say('   contractions Uᵀλ at the layers, JS+N-API = the call minus its native time; % of the profiled call. On 2 threads the');
say("   profiled call runs the batch's chunks one after another, each op on both threads (stage timers are one thread's), where the");
say('   timed call above runs one chunk per thread)');
say(`   ${'model'.padEnd(32)} dtype    thr ${[...STAGES, 'other', 'JS+N-API'].map((k) => k.padStart(12)).join('')}  rows`);
for (const r of results.summaries) {
  const cells = [...STAGES.map((k) => r.stagesMs[k]), r.stagesMs.nativeOther, r.stagesMs.jsAndNapi].map((ms) =>
    `${fmt(ms, 1)} ${fmt((100 * ms) / r.profiledMs, 0).padStart(2)}%`.padStart(12),
  );
  say(`   ${r.model.padEnd(32)} ${r.dtype}  ${String(r.threads).padStart(3)}  ${cells.join('')}  ${r.peakRows}`);
}

// 3. training loop: NewtonSummary against momentum SGD
results.training = [];
say(
  "\n3. training steps/s, Perceptron 784-200-100-10 float32, batch 100; NewtonSummary with the seed README's values (its defaults: periodHg 10), hg batch 1000",
);
{
  grnewt.manualSeed(1);
  const batchesOf = (n, size) =>
    Array.from({ length: n }, (_, i) => [
      grnewt.randn([size, 784]),
      grnewt.tensor(
        Array.from({ length: size }, (_, k) => (k * 3 + i) % 10),
        { dtype: 'int64' },
      ),
    ]);
  const train = batchesOf(10, 100),
    hg = batchesOf(3, 1000);
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
  const newton = (options) => (model, fullLoss) =>
    new grnewt.NewtonSummary(grnewt.partition.canonical(model).paramGroups, fullLoss, hg, options(model));
  for (const threads of threadCounts) {
    grnewt.setNumThreads(threads);
    const repeats = quick ? 1 : 3;
    const sgd =
      steps /
      time(
        loop((model) => new grnewt.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 })),
        repeats,
      );
    // The two loops whose ratio has a target run alternated, as section 2's pairs do (one after the other, this
    // VM's drift alone moved their ratio 0.73–0.97× between runs).
    const { a: plainSeconds, b: taylorSeconds } = timeAlternated(
      loop(newton(() => undefined)),
      loop(newton((model) => ({ taylor: { model } }))),
      quick ? 1 : 5,
    );
    const plain = steps / plainSeconds,
      taylor = steps / taylorSeconds;
    const autograd = steps / time(loop(newton(() => ({ summaries: 'autograd' }))), repeats);
    const row = {
      threads,
      sgdStepsPerSecond: sgd,
      newtonDefaultStepsPerSecond: plain,
      newtonTaylorStepsPerSecond: taylor,
      newtonAutogradStepsPerSecond: autograd,
      defaultOverTaylor: plain / taylor,
      taylorOverSgd: taylor / sgd,
      autogradOverSgd: autograd / sgd,
    };
    results.training.push(row);
    say(
      `   ${threads} thread(s): SGD ${fmt(sgd, 0)} steps/s · NewtonSummary, no options ${fmt(plain, 0)} (${fmt(plain / sgd)}× SGD, ${fmt(row.defaultOverTaylor)}× the explicit Taylor loop; target ≥ 0.9×) · taylor: { model } ${fmt(taylor, 0)} (${fmt(row.taylorOverSgd)}×) · summaries: 'autograd' ${fmt(autograd, 0)} (${fmt(row.autogradOverSgd)}×)`,
    );
  }
}

// 4. peak memory: the most tensor memory in use during one call, above what was in use before it (counted
// exactly by grnewt's CPU allocator).
results.memory = [];
say('\n4. peak tensor memory during one call, above the memory in use before it, batch 1000 (target, Taylor: ≤ 2.5× forward+backward)');
const MiB = (b) => fmt(b / 2 ** 20, 1);
if (!grnewt.memory().allocator.enabled) say("   (not measured: GRNEWT_CPU_CACHE=0 turned grnewt's allocator off)");
const peakOf = (w, op) => {
  const before = grnewt.memory().allocator.inUseBytes;
  grnewt.resetPeakMemory();
  w.ops[op]();
  return grnewt.memory().allocator.peakBytes - before;
};
for (const modelName of ['perceptron', 'lenet']) {
  for (const dtype of ['float32', 'float64']) {
    if (!grnewt.memory().allocator.enabled) break;
    grnewt.setNumThreads(1);
    const w = workload(modelName, dtype, 1000);
    const peak = (op) => {
      w.ops[op](); // warm-up
      return peakOf(w, op);
    };
    const fb = peak('forwardBackward'),
      autograd = peak('autograd'),
      taylor = peak('taylor');
    const row = {
      model: MODELS[modelName].label,
      dtype,
      forwardBackwardBytes: fb,
      autogradBytes: autograd,
      taylorBytes: taylor,
      autogradRatio: autograd / fb,
      taylorRatio: taylor / fb,
      met: taylor / fb <= TARGETS.peakMemoryOverForwardBackward,
    };
    results.memory.push(row);
    say(
      `   ${row.model.padEnd(32)} ${dtype}: fwd+bwd ${MiB(fb)} MiB · autograd ${MiB(autograd)} MiB (${fmt(row.autogradRatio)}×) · taylor ${MiB(taylor)} MiB (${fmt(row.taylorRatio)}×) ${verdict(row.taylorRatio, TARGETS.peakMemoryOverForwardBackward)}`,
    );
  }
}

// fn() with the environment variable `name` set to `value` (the addon reads it at every call), then as it was.
function withEnv(name, value, fn) {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

// 5. a wide partition: VGG-11, 22 subsets (253 pairs): forward+backward and the chosen Taylor route alternated after
// a warm-up of each (a first call pays one-time costs: the allocator's cache, oneDNN's primitives for new shapes),
// the other implementation and the autograd route once each (tens of seconds), peak memory counted during the timed call.
if (!args['no-vgg']) {
  say(
    '\n5. VGG-11 (config A, fc 4096-4096) on 32×32, batch 64, canonical partition, float32, 1 thread (then 2); forward+backward and the Taylor route:',
  );
  say('   medians of 3 alternated calls (memory from the last), the other implementation and the autograd route: one call each');
  say("   (targets, Taylor: time ≤ 3× forward+backward, peak memory ≤ the autograd route's)");
  grnewt.setNumThreads(1);
  const w = workload('vgg11', 'float32', 64);
  const measure = (op) => {
    const before = grnewt.memory().allocator.inUseBytes;
    grnewt.resetPeakMemory();
    const start = process.hrtime.bigint();
    const profile = w.ops[op]();
    return { seconds: Number(process.hrtime.bigint() - start) / 1e9, bytes: grnewt.memory().allocator.peakBytes - before, profile };
  };
  w.ops.forwardBackward(); // warm-ups
  w.ops.taylor();
  // The shared VM drifts by tens of percent between calls seconds apart: alternate the two sides of the ratio.
  const fbs = [],
    taylors = [];
  for (let r = 0; r < (quick ? 1 : 3); r++) {
    fbs.push(measure('forwardBackward'));
    taylors.push(measure('taylorProfiled'));
  }
  const middle = (runs) => [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];
  const fb = { ...middle(fbs), bytes: fbs.at(-1).bytes },
    taylor = { ...middle(taylors), bytes: taylors.at(-1).bytes };
  const autograd = measure('autograd');
  // The Taylor route's other implementation, all rows forward (the choice above is the adjoint one here;
  // GRNEWT_TAYLOR_ROUTE forces one, native/method/taylor_route_choice.cpp).
  const jets = withEnv('GRNEWT_TAYLOR_ROUTE', 'jets', () => measure('taylorProfiled'));
  // The chosen route without Winograd's 3×3 convolutions (native/core/winograd_conv.cpp): ATen's convolutions
  // everywhere, after a warm-up of its own (oneDNN builds its primitives for the shapes it meets first).
  const direct = withEnv('GRNEWT_WINOGRAD', '0', () => {
    w.ops.taylor();
    return measure('taylorProfiled');
  });
  const { profile } = taylor;
  const timeRatio = taylor.seconds / fb.seconds,
    memoryRatio = taylor.bytes / autograd.bytes;
  results.vgg11 = {
    S: w.S,
    forwardBackwardMs: fb.seconds * 1e3,
    autogradMs: autograd.seconds * 1e3,
    taylorMs: taylor.seconds * 1e3,
    forwardBackwardBytes: fb.bytes,
    autogradBytes: autograd.bytes,
    taylorBytes: taylor.bytes,
    taylorTimeRatio: timeRatio,
    taylorOverAutogradMemory: memoryRatio,
    profile,
    taylorJetsMs: jets.seconds * 1e3,
    taylorJetsTimeRatio: jets.seconds / fb.seconds,
    taylorJetsBytes: jets.bytes,
    taylorWithoutWinogradMs: direct.seconds * 1e3,
    taylorWithoutWinogradTimeRatio: direct.seconds / fb.seconds,
  };
  say(
    `   time: fwd+bwd ${fmt(fb.seconds * 1e3, 0)} ms · autograd ${fmt(autograd.seconds * 1e3, 0)} ms (${fmt(autograd.seconds / fb.seconds)}×) · taylor ${fmt(taylor.seconds * 1e3, 0)} ms (${fmt(timeRatio)}×) ${verdict(timeRatio, 3)}${withinNoise(...spread(taylors.map((t, r) => t.seconds / fbs[r].seconds)), 3)}`,
  );
  say(`   (taylor by all rows forward, the jets implementation: ${fmt(jets.seconds * 1e3, 0)} ms, ${fmt(jets.seconds / fb.seconds)}×)`);
  say(
    `   (taylor without Winograd's 3×3 convolutions, GRNEWT_WINOGRAD=0: ${fmt(direct.seconds * 1e3, 0)} ms, ${fmt(direct.seconds / fb.seconds)}×)`,
  );
  if (grnewt.memory().allocator.enabled)
    say(
      `   peak memory: fwd+bwd ${MiB(fb.bytes)} MiB · autograd ${MiB(autograd.bytes)} MiB · taylor ${MiB(taylor.bytes)} MiB (${fmt(memoryRatio)}× autograd's) ${verdict(memoryRatio, 1)} · jets implementation ${MiB(jets.bytes)} MiB`,
    );
  say(
    `   taylor stages (ms): ${STAGES.map((k) => `${k} ${fmt(profile[k] * 1e3, 0)}`).join(' · ')} · native total ${fmt(profile.total * 1e3, 0)} · most rows ${profile.peakRows}`,
  );
  // The same pair on more threads: the Taylor route runs one chunk of the batch per thread.
  for (const threads of threadCounts.filter((t) => t > 1)) {
    grnewt.setNumThreads(threads);
    w.ops.forwardBackward(); // warm-up of this thread count
    const pairs = Array.from({ length: quick ? 1 : 3 }, () => [measure('forwardBackward').seconds, measure('taylor').seconds]);
    const fbMs = median(pairs.map(([f]) => f)) * 1e3,
      taylorMs = median(pairs.map(([, t]) => t)) * 1e3;
    results.vgg11[`threads${threads}`] = { forwardBackwardMs: fbMs, taylorMs, taylorTimeRatio: taylorMs / fbMs };
    say(
      `   ${threads} threads: fwd+bwd ${fmt(fbMs, 0)} ms · taylor ${fmt(taylorMs, 0)} ms (${fmt(taylorMs / fbMs)}×) ${verdict(taylorMs / fbMs, 3)}`,
    );
  }
  grnewt.setNumThreads(1);
}

// 6. several processes: each rank a child process running scripts/bench-distributed.mjs.
{
  const { spawn } = await import('node:child_process');
  const net = await import('node:net');
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
  const script = new URL('./bench-distributed.mjs', import.meta.url).pathname,
    steps = quick ? 30 : 100;
  const rankRun = (rank, size) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [script, String(steps)], {
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(size), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (code) =>
        code === 0
          ? resolve(JSON.parse(out.trim().split('\n').at(-1)))
          : reject(new Error(`bench-distributed rank ${rank} exited with ${code}`)),
      );
    });
  const one = await rankRun(0, 1);
  const two = await Promise.all([rankRun(0, 2), rankRun(1, 2)]);
  results.distributed = { steps, oneProcess: one, twoProcesses: two };
  say(
    `\n6. several processes (Gloo, 127.0.0.1): momentum SGD, Perceptron 784-200-100-10 float32, global batch 100, 1 thread per process, ${steps} steps`,
  );
  say(
    `   1 process: ${fmt(one.stepsPerSecond, 1)} steps/s · 2 processes: ${fmt(two[0].stepsPerSecond, 1)} steps/s (${fmt(two[0].stepsPerSecond / one.stepsPerSecond)}×) · the gradient allreduce alone (266,610 numbers): ${fmt(two[0].allreduceMs)} ms per step`,
  );
}

if (args.json) console.log(JSON.stringify(results));
