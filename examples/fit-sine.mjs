#!/usr/bin/env node
// A small training example with grnewt's tensors alone: a 1-32-1 tanh network learns sin(x) on [-π, π]
// by full-batch gradient descent with hand-written updates. (NewtonSummary on Fashion-MNIST:
// examples/fashion-mnist.mjs and `npx grnewt train`.)
import grnewt from '../dist/index.js';

grnewt.manualSeed(0);
const n = 256;
const xs = Float64Array.from({ length: n }, (_, i) => -Math.PI + (2 * Math.PI * i) / (n - 1));
const x = grnewt.tensor(xs, { shape: [n, 1], dtype: 'float64' });
const y = grnewt.tensor(xs.map(Math.sin), { shape: [n, 1], dtype: 'float64' });

const hidden = 32;
const init = (shape, scale) => {
  const t = grnewt.randn(shape, { dtype: 'float64' }).mul(scale).detach();
  t.requiresGrad = true;
  return t;
};
let params = {
  w1: init([1, hidden], 1.0),
  b1: init([hidden], 0.1),
  w2: init([hidden, 1], 1 / Math.sqrt(hidden)),
  b2: init([1], 0.0),
};

const forward = (p) => x.matmul(p.w1).add(p.b1).tanh().matmul(p.w2).add(p.b2);
const lr = 0.03; // the largest curvature along the output weights is ~ hidden·E[h²]: keep lr·that < 2
const steps = 3000;
console.log(`fitting sin(x) with a 1-${hidden}-1 tanh network, ${steps} steps of gradient descent (lr ${lr})`);
for (let step = 0; step <= steps; step++) {
  // tidy frees each step's temporaries at once instead of leaving them to the garbage collector
  const done = grnewt.tidy(() => {
    const loss = forward(params).sub(y).pow(2).mean();
    if (step % 500 === 0) console.log(`step ${String(step).padStart(4)}  mse ${loss.item().toExponential(3)}`);
    if (step === steps) return true;
    loss.backward();
    // θ ← θ − lr·∇θ, as new leaves (tensors here are immutable; the optimizers update in place natively)
    params = Object.fromEntries(
      Object.entries(params).map(([name, p]) => {
        const next = grnewt.keep(p.sub(p.grad.mul(lr)).detach());
        next.requiresGrad = true;
        p.dispose();
        return [name, next];
      }),
    );
    return false;
  });
  if (done) break;
}
const final = forward(params).sub(y).pow(2).mean().item();
console.log(final < 1e-2 ? `done: mse ${final.toExponential(3)}` : `did not converge: mse ${final}`);
process.exitCode = final < 1e-2 ? 0 : 1;
