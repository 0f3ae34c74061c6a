// The fast route equals the autograd route (float64, 1e-10): every activation, both losses, every
// partition, `scaling`, `diagonal` and `noregul`, for each built-in model and every built-in layer.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import {
  computeHg,
  computeHgTaylor,
  computeHgTaylorAsync,
  losses,
  models,
  nn,
  partition,
  taylorSupport,
  tensor,
  type Tensor,
} from '../lib';
import type { Module } from '../lib/nn/module';
import type { ParamGroup } from '../lib/method/partition';
import { computeHgTaylorProfiled } from '../lib/method/taylor_route';
import type { Activation } from '../lib/models';
import { expectClose, values } from './helpers';

const f64 = { dtype: 'float64' as const };
const activations: Activation[] = ['tanh', 'relu', 'sigmoid', 'elu', 'identity'];
const partitions = {
  canonical: partition.canonical,
  trivial: partition.trivial,
  wb: partition.wb,
  'blocks-2': (m: models.Perceptron) => partition.blocks(m, 2),
};

function setup(activation: Activation, classification: boolean, scaling = false) {
  g.manualSeed(5);
  const model = new models.Perceptron([5, 6, 4, 3], { activation, classification, scaling, dtype: 'float64' });
  const x = tensor(values(7 * 5, 3, -2, 2), { shape: [7, 5], dtype: 'float64' });
  const y = classification
    ? tensor([0, 1, 2, 2, 1, 0, 1], { dtype: 'int64' })
    : tensor(values(7 * 3, 4), { shape: [7, 3], dtype: 'float64' });
  const fullLoss = (a: Tensor, b: Tensor) => (classification ? losses.nll(model.forward(a), b) : losses.mse(model.forward(a), b));
  return { model, x, y, fullLoss };
}

describe('computeHgTaylor equals computeHg', () => {
  for (const activation of activations) {
    for (const classification of [true, false]) {
      for (const [name, make] of Object.entries(partitions)) {
        it(`${activation}, ${classification ? 'nll' : 'mse'}, ${name}`, () => {
          const { model, x, y, fullLoss } = setup(activation, classification);
          const { paramGroups } = make(model);
          const direction = paramGroups
            .flatMap((grp) => grp.params)
            .map((p, k) => tensor(values(p.numel, 20 + k), { shape: p.shape, ...f64 }));
          const fast = computeHgTaylor(model, paramGroups, x, y, direction);
          const exact = computeHg(paramGroups, fullLoss, x, y, direction);
          for (const k of ['g', 'H', 'order3'] as const) expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
        });
      }
    }
  }

  it('with scaling, diagonal, noregul, and a partial partition', () => {
    const { model, x, y, fullLoss } = setup('tanh', true, true);
    const params = model.parameters();
    const groups = [{ params: [params[0], params[3]] }, { params: [params[4]] }]; // the rest gets no direction
    const direction = [params[0], params[3], params[4]].map((p, k) => tensor(values(p.numel, 40 + k), { shape: p.shape, ...f64 }));
    for (const options of [{}, { diagonal: true }, { noregul: true }]) {
      const fast = computeHgTaylor(model, groups, x, y, direction, options);
      const exact = computeHg(groups, fullLoss, x, y, direction, options);
      for (const k of ['g', 'H', 'order3'] as const) expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
    }
  });

  it('returns the loss it differentiated', () => {
    const { model, x, y, fullLoss } = setup('tanh', true);
    const { paramGroups } = partition.canonical(model);
    const fast = computeHgTaylor(
      model,
      paramGroups,
      x,
      y,
      model.parameters().map((p) => p.detach()),
    );
    expect(fast.loss.item()).toBeCloseTo(fullLoss(x, y).item(), 13);
  });

  it('never writes into x, also when the model starts with an activation', () => {
    g.manualSeed(3);
    const model = new nn.Sequential(new nn.Tanh(), new nn.Linear(5, 3, f64), new nn.Sigmoid(), new nn.Linear(3, 3, f64));
    const x = tensor(values(7 * 5, 3, -2, 2), { shape: [7, 5], ...f64 });
    const before = x.toArray();
    const y = tensor([0, 1, 2, 2, 1, 0, 1], { dtype: 'int64' });
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p, k) => tensor(values(p.numel, 30 + k), { shape: p.shape, ...f64 }));
    const fast = computeHgTaylor(model, paramGroups, x, y, direction, { loss: 'crossEntropy' });
    expect(x.toArray()).toEqual(before);
    const exact = computeHg(paramGroups, (a, b) => losses.crossEntropy(model.forward(a), b), x, y, direction);
    for (const k of ['g', 'H', 'order3'] as const) expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
  });

  it('refuses an x of another dtype or size than the model takes, and a direction of another dtype or with NaN, by name', () => {
    const { model, x, y } = setup('tanh', true);
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p, k) => tensor(values(p.numel, 20 + k), { shape: p.shape, ...f64 }));
    expect(() => computeHgTaylor(model, paramGroups, x.to({ dtype: 'float32' }), y, direction)).toThrow(
      new TypeError("computeHgTaylor: x is float32, the model's parameters float64"),
    );
    expect(() => computeHgTaylor(model, paramGroups, g.zeros([7, 4], f64), y, direction)).toThrow(
      /^computeHgTaylor: x of shape \[7, 4\] does not fit the model at step \d+: mat1 and mat2 shapes cannot be multiplied/,
    );
    const lenet = new models.LeNet([1, 3, 4, 7, 6, 5], { inputSize: 16, dtype: 'float64' });
    const lenetDirection = lenet.parameters().map((p) => g.zeros(p.shape, f64));
    expect(() =>
      computeHgTaylor(
        lenet,
        partition.canonical(lenet).paramGroups,
        g.zeros([2, 1, 4, 4], f64),
        tensor([0, 1], { dtype: 'int64' }),
        lenetDirection,
      ),
    ).toThrow(
      /^computeHgTaylor: x of shape \[2, 1, 4, 4\] does not fit the model at step 0: .*Kernel size can't be greater than actual input size/,
    );
    const float32 = direction.map((d, k) => (k === 1 ? d.to({ dtype: 'float32' }) : d));
    expect(() => computeHgTaylor(model, paramGroups, x, y, float32)).toThrow(
      new TypeError('computeHgTaylor: direction[1] is float32, its parameter float64'),
    );
    const nan = direction.map((d, k) => (k === 2 ? d.mul(NaN) : d));
    expect(() => computeHgTaylor(model, paramGroups, x, y, nan)).toThrow(new RangeError('computeHgTaylor: direction[2] holds NaN or Inf'));
  });

  it('refuses labels out of range and an MSE target of another dtype, by name', () => {
    const { model, x } = setup('tanh', true);
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p) => p.detach());
    const bad = tensor([0, 1, 2, 3, 1, 0, 1], { dtype: 'int64' });
    expect(() => computeHgTaylor(model, paramGroups, x, bad, direction)).toThrow(/labels must be in \[0, 3\), got 3/);
    const regression = setup('tanh', false);
    const rGroups = partition.canonical(regression.model).paramGroups;
    const rDirection = regression.model.parameters().map((p) => p.detach());
    expect(() => computeHgTaylor(regression.model, rGroups, regression.x, regression.y.to({ dtype: 'float32' }), rDirection)).toThrow(
      /dtype/,
    );
  });

  it('refuses an x or an MSE target holding NaN or Inf, by name, in its sync and async forms', async () => {
    const { model, x, y } = setup('tanh', true);
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p) => p.detach());
    const withNaN = x.mul(tensor([1, 1, 1, 1, NaN], { dtype: 'float64' }));
    expect(() => computeHgTaylor(model, paramGroups, withNaN, y, direction)).toThrow(new RangeError('computeHgTaylor: x holds NaN or Inf'));
    await expect(computeHgTaylorAsync(model, paramGroups, withNaN, y, direction)).rejects.toThrow(
      new RangeError('computeHgTaylorAsync: x holds NaN or Inf'),
    );
    expect(() => computeHgTaylorProfiled(model, paramGroups, withNaN, y, direction)).toThrow(
      new RangeError('computeHgTaylorProfiled: x holds NaN or Inf'),
    );
    const regression = setup('tanh', false);
    const rGroups = partition.canonical(regression.model).paramGroups;
    const rDirection = regression.model.parameters().map((p) => p.detach());
    const infTarget = regression.y.mul(tensor([1, Infinity, 1], { dtype: 'float64' }));
    expect(() => computeHgTaylor(regression.model, rGroups, regression.x, infTarget, rDirection)).toThrow(
      new RangeError('computeHgTaylor: y holds NaN or Inf'),
    );
    // Both bad: x is named.
    const rx = regression.x.mul(tensor([Infinity, 1, 1, 1, 1], { dtype: 'float64' }));
    expect(() => computeHgTaylor(regression.model, rGroups, rx, infTarget, rDirection)).toThrow(
      new RangeError('computeHgTaylor: x holds NaN or Inf'),
    );
  });

  it('checks its arguments', () => {
    const { model, x, y } = setup('tanh', true);
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p) => p.detach());
    expect(() => computeHgTaylor({} as never, paramGroups, x, y, direction)).toThrow(/not a built-in model/);
    expect(() => computeHgTaylor(model, paramGroups, x, y, direction.slice(1))).toThrow(
      /direction has 5 tensors, the partition 6 parameters/,
    );
    const other = new models.Perceptron([5, 2]);
    expect(() => computeHgTaylor(model, partition.canonical(other).paramGroups, x, y, other.parameters())).toThrow(
      /not a parameter of the model/,
    );
    expect(() => computeHgTaylor(model, paramGroups, x, y, direction, { loss: 'mse' })).toThrow(/its loss is 'nll'/);
    expect(() => computeHgTaylor(model, paramGroups, x, y, direction, { loss: 'hinge' as never })).toThrow(TypeError);
    expect(() => computeHgTaylor(model, paramGroups, x, x, direction)).toThrow(/int64 class labels/);
    // 'nll' reads log-probabilities: on logits (no log-softmax last) it is refused, not taken as cross-entropy
    const logits = new nn.Sequential(new nn.Linear(5, 3, { dtype: 'float64' }));
    const lGroups = partition.canonical(logits).paramGroups;
    expect(() => computeHgTaylor(logits, lGroups, x, y, logits.parameters(), { loss: 'nll' })).toThrow(
      new RangeError("computeHgTaylor: loss 'nll' needs a model that ends with log-softmax; use 'crossEntropy' for logits"),
    );
    expect(taylorSupport(new nn.Sequential(new nn.Linear(5, 3), new nn.Tanh()))).toEqual({ supported: true });
    // A subclass may override forward, which the steps would not see: it is not taken for its base class.
    const custom = new nn.Sequential(new nn.Linear(5, 3), new (class Square extends nn.Identity {})());
    expect(taylorSupport(custom)).toEqual({ supported: false, reason: expect.stringMatching(/Square/) });
    const unknown = new nn.Sequential(new nn.Linear(5, 3), new nn.LogSoftmax(0));
    expect(taylorSupport(unknown).supported).toBe(false);
    expect(() => computeHgTaylor(unknown, partition.canonical(unknown).paramGroups, x, y, unknown.parameters())).toThrow(/use computeHg/);
  });
});

// Every built-in model and layer: conv (stride, padding, dilation, groups), max-pool (stride, padding),
// flatten, every activation (ELU with α ≠ 1), log-softmax + NLL, logits + cross-entropy, MSE.
describe('computeHgTaylor equals computeHg on every model', () => {
  function image(n: number, c: number, side: number, seed: number) {
    return tensor(values(n * c * side * side, seed, -2, 2), { shape: [n, c, side, side], dtype: 'float64' });
  }
  const labels = (n: number, classes: number) =>
    tensor(
      Array.from({ length: n }, (_, i) => (i * 7) % classes),
      { dtype: 'int64' },
    );
  type Case = { model: Module; x: Tensor; y: Tensor; fullLoss: (a: Tensor, b: Tensor) => Tensor; loss?: 'crossEntropy' | 'mse' };
  // A model ending in logits, with cross-entropy as its loss.
  const onLogits = (model: Module, x: Tensor, y: Tensor): Case => ({
    model,
    x,
    y,
    fullLoss: (a, b) => losses.crossEntropy(model.forward(a), b),
    loss: 'crossEntropy',
  });
  const cases: Record<string, () => Case> = {
    'LeNet (tanh, 16×16)': () => {
      const model = new models.LeNet([1, 3, 4, 7, 6, 5], { inputSize: 16, dtype: 'float64' });
      return { model, x: image(5, 1, 16, 3), y: labels(5, 5), fullLoss: (a, b) => losses.nll(model.forward(a), b) };
    },
    'LeNet (relu, scaling, 20×20)': () => {
      const model = new models.LeNet([2, 3, 4, 7, 6, 5], { inputSize: 20, activation: 'relu', scaling: true, dtype: 'float64' });
      return { model, x: image(4, 2, 20, 4), y: labels(4, 5), fullLoss: (a, b) => losses.nll(model.forward(a), b) };
    },
    'VGG-small (relu)': () => {
      const model = new models.VGG({
        config: [3, 'M', 4, 4, 'M'],
        fcSizes: [6],
        imageSize: 32,
        inChannels: 1,
        numClasses: 4,
        dtype: 'float64',
      });
      return { model, x: image(3, 1, 32, 5), y: labels(3, 4), fullLoss: (a, b) => losses.nll(model.forward(a), b) };
    },
    'VGG-small (elu, scaling)': () => {
      const model = new models.VGG({
        config: [3, 'M', 4, 'M'],
        fcSizes: [5, 6],
        imageSize: 32,
        inChannels: 2,
        numClasses: 3,
        activation: 'elu',
        scaling: true,
        dtype: 'float64',
      });
      return { model, x: image(3, 2, 32, 6), y: labels(3, 3), fullLoss: (a, b) => losses.nll(model.forward(a), b) };
    },
    // Convolutions over 2×2 and 1×1 inputs run as dense matrices on the CPU (taylor_dense_conv.cpp).
    'VGG-small over 4×4, 2×2 and 1×1 inputs (relu)': () => {
      const model = new models.VGG({
        config: [3, 'M', 'M', 'M', 4, 'M', 4, 4, 'M', 3],
        fcSizes: [5],
        imageSize: 32,
        inChannels: 1,
        numClasses: 4,
        dtype: 'float64',
      });
      return { model, x: image(3, 1, 32, 13), y: labels(3, 4), fullLoss: (a, b) => losses.nll(model.forward(a), b) };
    },
    'Sequential of small convolutions (rectangular kernel, padding, dilation; tanh, ELU)': () => {
      g.manualSeed(12);
      const model = new nn.Sequential(
        new nn.Conv2d(2, 3, [2, 3], { padding: [0, 1], dtype: 'float64' }), // 2×2 → 1×2
        new nn.Tanh(),
        new nn.Conv2d(3, 4, 3, { padding: 2, dilation: 2, dtype: 'float64' }), // 1×2 → 1×2
        new nn.ELU(0.7),
        new nn.Flatten(),
        new nn.Linear(8, 3, { dtype: 'float64' }),
      );
      return onLogits(model, image(4, 2, 2, 14), labels(4, 3));
    },
    // Deep enough that the rows reaching the last layers outnumber the classes: the adjoint implementation then
    // pulls the classes back through its last layers instead (its reverse-mode tail, taylor_adjoint.cpp).
    'Sequential relu MLP of 9 layers (reverse-mode tail)': () => {
      g.manualSeed(13);
      const layers: Module[] = [new nn.Linear(4, 8, { dtype: 'float64' })];
      for (let k = 0; k < 7; k++) layers.push(new nn.ReLU(), new nn.Linear(8, 8, { dtype: 'float64' }));
      layers.push(new nn.ReLU(), new nn.Linear(8, 2, { dtype: 'float64' }));
      const model = new nn.Sequential(...layers);
      const x = tensor(values(6 * 4, 15, -2, 2), { shape: [6, 4], dtype: 'float64' });
      return onLogits(model, x, labels(6, 2));
    },
    // Dense matrices too where the output outgrows the input (1×2 → 2×2), strided, without a bias, over 1×N, and
    // as the last layer under MSE.
    'Sequential of small convolutions (1×N, output larger than the input, stride, no bias; MSE on a convolution)': () => {
      g.manualSeed(13);
      const model = new nn.Sequential(
        new nn.Conv2d(2, 3, [1, 3], { padding: [0, 1], dtype: 'float64' }), // 1×2 → 1×2
        new nn.Sigmoid(),
        new nn.Conv2d(3, 2, 3, { padding: 2, stride: 2, bias: false, dtype: 'float64' }), // 1×2 → 2×2
        new nn.ELU(0.4),
        new nn.Conv2d(2, 2, 2, { dtype: 'float64' }), // 2×2 → 1×1
      );
      const x = tensor(values(4 * 2 * 1 * 2, 15, -2, 2), { shape: [4, 2, 1, 2], dtype: 'float64' });
      const y = tensor(values(4 * 2, 16), { shape: [4, 2, 1, 1], dtype: 'float64' });
      return { model, x, y, fullLoss: (a, b) => losses.mse(model.forward(a), b), loss: 'mse' };
    },
    // 128 channels in and out over 8×8 and 4×4 in float64: on the CPU the route runs these convolutions by
    // Winograd's F(2×2, 3×3) (native/core/winograd_conv.cpp) — its rows, its values pass, λ's backward pass
    // and Uᵀλ.
    'Sequential of 128-channel 3×3 convolutions over 8×8 and 4×4 (Winograd)': () => {
      g.manualSeed(14);
      const model = new nn.Sequential(
        new nn.Conv2d(128, 128, 3, { padding: 1, dtype: 'float64' }),
        new nn.ReLU(),
        new nn.MaxPool2d(2),
        new nn.Conv2d(128, 128, 3, { padding: 1, dtype: 'float64' }),
        new nn.Tanh(),
        new nn.Flatten(),
        new nn.Linear(128 * 4 * 4, 3, { dtype: 'float64' }),
      );
      return onLogits(model, image(3, 128, 8, 16), labels(3, 3));
    },
    AutoencoderMLP: () => {
      const model = new models.AutoencoderMLP([6, 4, 3], { activation: 'sigmoid', dtype: 'float64' });
      const x = tensor(values(5 * 6, 7, 0, 1), { shape: [5, 6], dtype: 'float64' });
      return { model, x, y: x, fullLoss: (a, b) => losses.mse(model.forward(a), b) };
    },
    'Sequential of every layer, cross-entropy on logits': () => {
      g.manualSeed(9);
      const model = new nn.Sequential(
        new nn.Conv2d(2, 4, 3, { stride: 2, padding: 1, dtype: 'float64' }),
        new nn.ELU(0.7),
        new nn.Conv2d(4, 4, [3, 2], { dilation: [1, 2], groups: 2, dtype: 'float64' }),
        new nn.Sigmoid(),
        new nn.MaxPool2d(2, { stride: 1, padding: 1 }),
        new nn.Flatten(),
        new nn.Linear(4 * 5 * 5, 5, { dtype: 'float64' }),
        new nn.Tanh(),
        new nn.Identity(),
        new nn.Linear(5, 3, { bias: false, dtype: 'float64' }),
      );
      return onLogits(model, image(4, 2, 11, 8), labels(4, 3));
    },
    // An activation that decreases somewhere (ELU with α < 0) before a max-pool: the pool must see its outputs
    // (monotone activations run after the pool instead, on a quarter of the elements).
    'Sequential, ELU(α < 0) before a max-pool': () => {
      g.manualSeed(11);
      const model = new nn.Sequential(
        new nn.Conv2d(1, 3, 3, { dtype: 'float64' }),
        new nn.ELU(-0.6),
        new nn.MaxPool2d(2),
        new nn.Flatten(),
        new nn.Linear(3 * 4 * 4, 4, { dtype: 'float64' }),
      );
      return onLogits(model, image(4, 1, 10, 12), labels(4, 4));
    },
  };
  const partitionsOf: Record<string, (m: Module) => { paramGroups: ParamGroup[] }> = {
    canonical: partition.canonical,
    trivial: partition.trivial,
    wb: partition.wb,
  };
  // On 2 threads the batch's chunks run in parallel, one per thread, and are added up in order.
  const onThreads = (threads: number, body: () => void) => {
    const before = g.getNumThreads();
    g.setNumThreads(threads);
    try {
      body();
    } finally {
      g.setNumThreads(before);
    }
  };
  for (const [name, make] of Object.entries(cases)) {
    for (const [pname, part] of Object.entries(partitionsOf)) {
      for (const threads of [1, 2])
        it(`${name}, ${pname}, ${threads} thread(s)`, () =>
          onThreads(threads, () => {
            const { model, x, y, fullLoss, loss } = make();
            const { paramGroups } = part(model);
            const direction = paramGroups
              .flatMap((grp) => grp.params)
              .map((p, k) => tensor(values(p.numel, 60 + k), { shape: p.shape, ...f64 }));
            for (const options of [{}, { diagonal: true }, { noregul: true }]) {
              const fast = computeHgTaylor(model, paramGroups, x, y, direction, { ...options, loss });
              const exact = computeHg(paramGroups, fullLoss, x, y, direction, options);
              for (const k of ['g', 'H', 'order3'] as const)
                expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
              expect(fast.loss.item()).toBeCloseTo(fullLoss(x, y).item(), 12);
            }
          }));
    }
  }

  it('computeHgTaylorAsync gives the same numbers and holds the parameters meanwhile', async () => {
    const { model, x, y } = cases['LeNet (tanh, 16×16)']();
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p, k) => tensor(values(p.numel, 80 + k), { shape: p.shape, ...f64 }));
    const pending = computeHgTaylorAsync(model, paramGroups, x, y, direction);
    expect(() => computeHgTaylor(model, paramGroups, x, y, direction)).toThrow(/in use by a pending computeHgTaylorAsync/);
    const slow = await pending;
    const fast = computeHgTaylor(model, paramGroups, x, y, direction);
    for (const k of ['g', 'H', 'order3', 'loss'] as const) expect(slow[k].toArray()).toEqual(fast[k].toArray());
  });

  it('computeHgTaylorAsync runs with the configured thread count from its first call on a pool thread', async () => {
    // A pool thread starts with OpenMP's defaults (every core): a first GEMM there rounded differently.
    const threads = g.getNumThreads();
    g.setNumThreads(1);
    try {
      g.manualSeed(2);
      const model = new models.Perceptron([784, 200, 100, 10]);
      const x = g.randn([300, 784]);
      const y = tensor(
        Array.from({ length: 300 }, (_, i) => i % 10),
        { dtype: 'int64' },
      );
      const { paramGroups } = partition.canonical(model);
      const direction = model.parameters().map((p) => g.randn(p.shape));
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await computeHgTaylorAsync(model, paramGroups, x, y, direction));
      const sync = computeHgTaylor(model, paramGroups, x, y, direction);
      for (const r of results) for (const k of ['g', 'H', 'order3'] as const) expect(r[k].toArray()).toEqual(sync[k].toArray());
    } finally {
      g.setNumThreads(threads);
    }
  });
});
