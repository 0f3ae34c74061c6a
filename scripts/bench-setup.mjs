// The benchmark's workloads: a model, a batch, a direction and the three operations compared — one forward+backward, computeHg (autograd
// route) and computeHgTaylor (Taylor route) — on the same data, dtype and threads.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const grnewt = require('../dist/index.js');
const { computeHgTaylorProfiled } = require('../dist/method/taylor_route.js');

/** The middle value (the upper one of an even count). */
export function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Median seconds of `repeats` calls of `fn`, after one warm-up call. */
export function time(fn, repeats) {
  fn();
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return median(times);
}

/**
 * Median seconds of `repeats` calls of each of `a` and `b`, alternated (a, b, a, b, …) after one warm-up call
 * of each, so that a slow spell of a shared machine weighs on both sides of their ratio alike; and the ratio
 * b/a of each adjacent pair, whose spread says how far the machine's noise moves the ratio of the medians.
 */
export function timeAlternated(a, b, repeats) {
  a();
  b();
  const ta = [],
    tb = [];
  for (let r = 0; r < repeats; r++) {
    for (const [fn, times] of [
      [a, ta],
      [b, tb],
    ]) {
      const start = process.hrtime.bigint();
      fn();
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  return { a: median(ta), b: median(tb), pairRatios: tb.map((t, r) => t / ta[r]) };
}

/** The lower and upper quartiles of `xs` (the middle half of the values lies between them). */
export function quartiles(xs) {
  const sorted = [...xs].sort((p, q) => p - q);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
  return [at(0.25), at(0.75)];
}

export const MODELS = {
  perceptron: {
    label: 'Perceptron 784-200-100-10 tanh',
    make: (dtype) => new grnewt.models.Perceptron([784, 200, 100, 10], { dtype }),
    input: [784],
  },
  lenet: {
    label: 'LeNet 28×28 tanh',
    make: (dtype) => new grnewt.models.LeNet([1, 6, 16, 120, 84, 10], { inputSize: 28, dtype }),
    input: [1, 28, 28],
  },
  vgg11: { label: 'VGG-11 32×32 relu', make: (dtype) => new grnewt.models.VGG({ config: 'A', imageSize: 32, dtype }), input: [3, 32, 32] },
};

/** Model, batch, canonical partition and a direction, all seeded; and the three operations on them. */
export function workload(modelName, dtype, batch) {
  grnewt.manualSeed(0);
  const model = MODELS[modelName].make(dtype);
  const x = grnewt.randn([batch, ...MODELS[modelName].input], { dtype });
  const y = grnewt.tensor(
    Array.from({ length: batch }, (_, i) => (i * 7) % 10),
    { dtype: 'int64' },
  );
  const fullLoss = (a, b) => grnewt.losses.nll(model.forward(a), b);
  const { paramGroups } = grnewt.partition.canonical(model);
  const direction = model.parameters().map((p) => grnewt.randn(p.shape, { dtype }).mul(1e-2));
  const disposeAll = (r) => Object.values(r).forEach((t) => t.dispose());
  return {
    model,
    S: paramGroups.length,
    ops: {
      forwardBackward: () =>
        grnewt.tidy(() => {
          model.zeroGrad();
          fullLoss(x, y).backward();
        }),
      autograd: () => grnewt.tidy(() => disposeAll(grnewt.computeHg(paramGroups, fullLoss, x, y, direction))),
      taylor: () => grnewt.tidy(() => disposeAll(grnewt.computeHgTaylor(model, paramGroups, x, y, direction))),
      // The Taylor route with its native stage timings (the profile's seconds, by stage), and `wall`: the whole
      // call's seconds as JS sees it, so that wall − total is what the JS side and the N-API crossing add.
      taylorProfiled: () =>
        grnewt.tidy(() => {
          const start = process.hrtime.bigint();
          const { profile, ...hg } = computeHgTaylorProfiled(model, paramGroups, x, y, direction);
          disposeAll(hg);
          return { ...profile, wall: Number(process.hrtime.bigint() - start) / 1e9 };
        }),
    },
  };
}
