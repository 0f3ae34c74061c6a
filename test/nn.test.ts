// Modules and losses: names, shapes, initialisation, state dicts, conversions; loss values by hand.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { losses, models, nn, tensor, type Tensor } from '../lib';
import { expectClose } from './helpers';

const f64 = { dtype: 'float64' as const };

describe('nn modules', () => {
  it("Linear computes x Wᵀ + b with torch's shapes and U(±1/√in) initialisation", () => {
    g.manualSeed(0);
    const layer = new nn.Linear(400, 30);
    expect(layer.weight.shape).toEqual([30, 400]);
    expect(layer.bias!.shape).toEqual([30]);
    const w = Array.from(layer.weight.toArray() as Float32Array);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(1 / 20);
    const variance = w.reduce((s, x) => s + x * x, 0) / w.length; // U(−a, a): a²/3
    expect(variance).toBeCloseTo(1 / 400 / 3, 4);
    const small = new nn.Linear(2, 1, { dtype: 'float64' });
    small.loadStateDict({ weight: tensor([[2, -1]], f64), bias: tensor([0.5], f64) });
    expectClose(
      small
        .forward(
          tensor(
            [
              [1, 1],
              [3, 2],
            ],
            f64,
          ),
        )
        .toArray(),
      [1.5, 4.5],
    );
    expect(new nn.Linear(2, 2, { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weight']);
  });

  it('a module used at two places: its parameters listed once, the state dict under both names (as torch)', () => {
    g.manualSeed(3);
    const shared = new nn.Linear(3, 3, f64);
    const net = new nn.Sequential(shared, new nn.Tanh(), shared, new nn.Linear(3, 2, f64));
    expect(net.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '3.weight', '3.bias']);
    expect(net.parameters()[0]).toBe(shared.weight);
    expect(Object.keys(net.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '3.weight', '3.bias']);
    const state = Object.fromEntries(Object.entries(net.stateDict()).map(([k, v]) => [k, v.mul(2)]));
    net.loadStateDict(state);
    expectClose(shared.weight.toArray(), state['0.weight'].toArray());
    // Its partitions hold each tensor once, so the summaries accept them; both routes agree.
    const x = tensor(
      Array.from({ length: 12 }, (_, i) => Math.sin(i)),
      { shape: [4, 3], ...f64 },
    );
    const y = tensor(
      Array.from({ length: 8 }, (_, i) => Math.cos(i)),
      { shape: [4, 2], ...f64 },
    );
    const { paramGroups } = g.partition.canonical(net);
    expect(paramGroups.map((group) => group.params.length)).toEqual([1, 1, 1, 1]);
    const direction = net.parameters().map((p) => p.detach().mul(0.1));
    const autograd = g.computeHg(paramGroups, (a, b) => losses.mse(net.forward(a), b), x, y, direction);
    const taylor = g.computeHgTaylor(net, paramGroups, x, y, direction);
    expectClose(taylor.H.toArray(), autograd.H.toArray(), 1e-10, 1e-14);
    expectClose(taylor.g.toArray(), autograd.g.toArray(), 1e-10, 1e-14);
  });

  it('Sequential chains modules and names parameters by position', () => {
    const net = new nn.Sequential(new nn.Linear(3, 4), new nn.Tanh(), new nn.Linear(4, 2), new nn.LogSoftmax(1));
    expect(net.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const out = net.forward(g.randn([5, 3]));
    expect(out.shape).toEqual([5, 2]);
    expectClose(out.exp().sum(1).toArray(), [1, 1, 1, 1, 1], 1e-5);
  });

  it("Perceptron has the reference's names, initialisation and log-softmax output", () => {
    g.manualSeed(1);
    const p = new models.Perceptron([784, 200, 100, 10]);
    expect(p.namedParameters().map(([n, t]) => `${n} ${t.shape}`)).toEqual([
      'layers.0.weight 200,784',
      'layers.0.bias 200',
      'layers.1.weight 100,200',
      'layers.1.bias 100',
      'layers.2.weight 10,100',
      'layers.2.bias 10',
    ]);
    const std = (t: Tensor) => Math.sqrt(Array.from(t.toArray() as Float32Array).reduce((s, x) => s + x * x, 0) / t.numel);
    expect(std(p.layers.at(0).parameters()[0])).toBeCloseTo(1 / Math.sqrt(784), 3); // σ_w/√fan_in
    expect(std(p.layers.at(0).parameters()[1])).toBeCloseTo(1, 1); // σ_b
    const out = p.forward(g.randn([4, 1, 28, 28]));
    expect(out.shape).toEqual([4, 10]);
    expectClose(out.exp().sum(1).toArray(), [1, 1, 1, 1], 1e-5);
    const scaled = new models.Perceptron([50, 20, 3], { scaling: true, sigmaW: 2, sigmaB: 0, classification: false, activation: 'relu' });
    expect(std(scaled.layers.at(0).parameters()[0])).toBeCloseTo(2, 0);
    expect(Array.from(scaled.layers.at(0).parameters()[1].toArray()).every((b) => b === 0)).toBe(true);
    expect(() => new models.Perceptron([3, 2], { activation: 'gelu' as never })).toThrow(
      /activation must be one of tanh, relu, sigmoid, elu, identity/,
    );
    expect(() => new models.Perceptron([3])).toThrow(/at least 2 sizes/);
  });

  it('stateDict/loadStateDict round-trip into another model, in place', () => {
    const a = new models.Perceptron([4, 3, 2], f64),
      b = new models.Perceptron([4, 3, 2], f64);
    const weightObject = b.parameters()[0];
    b.loadStateDict(a.stateDict());
    expect(b.parameters()[0]).toBe(weightObject);
    a.parameters().forEach((p, k) => expect(b.parameters()[k].toArray()).toEqual(p.toArray()));
    expect(() => b.loadStateDict({})).toThrow(/missing: \["layers.0.weight"/);
    const sd = a.stateDict();
    sd['layers.0.bias'] = tensor([1, 2], f64);
    expect(() => b.loadStateDict(sd)).toThrow("loadStateDict: layers.0.bias has shape [2], the model's is [3]");
    expect(() => b.loadStateDict({ ...a.stateDict(), extra: tensor(1) })).toThrow(/unexpected: \["extra"\]/);
  });

  it('to() converts parameters in place; zeroGrad drops gradients; train/eval propagate', () => {
    const m = new models.Perceptron([3, 2, 2]);
    const w = m.parameters()[0];
    losses.nll(m.forward(g.randn([2, 3])), tensor([0, 1], { dtype: 'int64' })).backward();
    expect(w.grad).not.toBeNull();
    m.zeroGrad();
    expect(w.grad).toBeNull();
    m.to({ dtype: 'float64' });
    expect(m.parameters()[0]).toBe(w);
    expect(w.dtype).toBe('float64');
    expect(w.requiresGrad).toBe(true);
    expect(m.forward(g.randn([2, 3], f64)).dtype).toBe('float64');
    m.eval();
    expect(m.training).toBe(false);
    expect(m.layers.at(0).training).toBe(false);
    m.train();
    expect(m.layers.at(1).training).toBe(true);
  });

  it("Conv2d and MaxPool2d have torch's shapes", () => {
    const conv = new nn.Conv2d(1, 6, 5, { padding: 2 });
    expect(conv.weight.shape).toEqual([6, 1, 5, 5]);
    const y = new nn.Sequential(conv, new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten()).forward(g.randn([3, 1, 28, 28]));
    expect(y.shape).toEqual([3, 6 * 14 * 14]);
  });

  it("torch's default initialisation is centred: U(−b, b), b = 1/√fan_in, fan_in = in/groups·kh·kw for a convolution", () => {
    // U(0, b) has the same second moment b²/3 as U(−b, b): the mean and both extremes tell them apart.
    g.manualSeed(1);
    const w = Array.from(new nn.Linear(100, 50).weight.toArray() as Float32Array);
    const b = 1 / 10;
    expect(Math.min(...w)).toBeLessThan(-0.95 * b);
    expect(Math.max(...w)).toBeGreaterThan(0.95 * b);
    expect(Math.abs(w.reduce((s, x) => s + x, 0) / w.length)).toBeLessThan(0.05 * b); // σ of the mean: b/√(3·5000) ≈ 0.008·b
    // groups 8: each filter sees 8/8 = 1 input channel, fan_in = 1·3·3 = 9, b = 1/3 (not 1/√72 ≈ 0.118)
    const conv = Array.from(new nn.Conv2d(8, 64, 3, { groups: 8 }).weight.toArray() as Float32Array);
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(1 / 3);
    expect(Math.max(...conv.map(Math.abs))).toBeGreaterThan(0.95 / 3);
  });

  it("defaults as torch's: MaxPool2d floors the output size, LogSoftmax takes dim 1, Flatten keeps an empty batch", () => {
    expect(new nn.MaxPool2d(2).forward(g.zeros([1, 1, 5, 5])).shape).toEqual([1, 1, 2, 2]);
    // [1, 2, 1, 3]: the log-probabilities sum to one over dim 1 (2 entries), not over the last dim
    const x = tensor([0.5, -1, 2, 0, 3, 1], { shape: [1, 2, 1, 3], dtype: 'float64' });
    const p = Array.from(new nn.LogSoftmax().forward(x).exp().toArray() as Float64Array);
    expectClose(
      [0, 1, 2].map((k) => p[k] + p[k + 3]),
      [1, 1, 1],
      1e-15,
    );
    expect(new nn.Flatten().forward(g.zeros([0, 3, 4])).shape).toEqual([0, 12]);
    expect(new nn.Flatten().forward(g.zeros([2, 3, 4])).shape).toEqual([2, 12]);
  });

  it('a hand-written module works like the built-in ones', () => {
    class Affine extends nn.Module {
      readonly scale = this.registerParameter('scale', tensor([2], f64));
      forward(x: Tensor) {
        return x.mul(this.scale);
      }
    }
    const m = new Affine();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['scale']);
    expect(m.scale.requiresGrad).toBe(true);
    expect(() => (m as unknown as { registerParameter: (n: string, t: Tensor) => void }).registerParameter('scale', tensor(1))).toThrow(
      /already registered/,
    );
  });
});

describe('a module tree and its state dict', () => {
  class Holder extends nn.Module {
    readonly w = this.registerParameter('w', tensor([1, 2], f64));
    add(name: string, m: nn.Module) {
      return this.registerModule(name, m);
    }
    forward(x: Tensor) {
      return x.mul(this.w);
    }
  }

  it('refuses a module inside itself (every walk of the tree never ended: a stack overflow)', () => {
    const a = new Holder(),
      b = new Holder();
    expect(() => a.add('self', a)).toThrow(/registerModule: self must not be this module or one that contains it/);
    a.add('b', b);
    expect(() => b.add('a', a)).toThrow(RangeError);
    const c = new Holder();
    b.add('c', c);
    expect(() => c.add('a', a)).toThrow(/modules form a tree/);
    // A module shared by two parents is a tree still (as torch's): its parameters are listed once.
    const shared = new Holder();
    a.add('s1', shared);
    b.add('s2', shared);
    expect(a.parameters()).toHaveLength(4);
  });

  it('names a missing parameter even when it is called like an Object.prototype member', () => {
    class Named extends nn.Module {
      readonly t = this.registerParameter('toString', tensor([1], f64));
      forward(x: Tensor) {
        return x;
      }
    }
    expect(() => new Named().loadStateDict({})).toThrow('keys do not match the model (missing: ["toString"], unexpected: [])');
  });

  it('never writes NaN or Inf into a parameter, and leaves every parameter as it was', () => {
    const m = new models.Perceptron([2, 3, 1], f64);
    const before = m.parameters().map((p) => p.toArray());
    for (const bad of [NaN, Infinity, -Infinity]) {
      const sd = m.stateDict();
      sd['layers.0.bias'] = tensor([0, 0, 0], f64);
      sd['layers.1.bias'] = tensor([bad], f64);
      expect(() => m.loadStateDict(sd)).toThrow('loadStateDict: layers.1.bias must be finite, got a tensor holding NaN or Inf');
      expect(m.parameters().map((p) => p.toArray())).toEqual(before);
    }
  });
});

describe('float64 values beyond float32 (they became Infinity in the parameters)', () => {
  it('loadStateDict into a float32 model refuses them by name, and changes nothing; in range, it converts', () => {
    const m = new models.Perceptron([2, 1]);
    const before = m.parameters().map((p) => p.toArray());
    const sd = { 'layers.0.weight': tensor([[1e300, 1]], f64), 'layers.0.bias': tensor([0], f64) };
    expect(() => m.loadStateDict(sd)).toThrow(
      "loadStateDict: layers.0.weight holds float64 values beyond the model's float32 range (they would become Infinity)",
    );
    expect(m.parameters().map((p) => p.toArray())).toEqual(before);
    m.loadStateDict({ 'layers.0.weight': tensor([[3.5, -1]], f64), 'layers.0.bias': tensor([2n]) });
    expect(m.parameters().map((p) => [p.dtype, Array.from(p.toArray() as Float32Array)])).toEqual([
      ['float32', [3.5, -1]],
      ['float32', [2]],
    ]);
  });

  it('Module.to float32 refuses them by name and leaves the whole model float64', () => {
    const m = new models.Perceptron([2, 1], f64);
    m.parameters()[1].assign(tensor([-1e300], f64), true);
    const before = m.parameters().map((p) => p.toArray());
    expect(() => m.to({ dtype: 'float32' })).toThrow(
      "Module.to: layers.0.bias holds values beyond float32's range (they would become Infinity); the model is unchanged",
    );
    expect(m.parameters().map((p) => p.dtype)).toEqual(['float64', 'float64']);
    expect(m.parameters().map((p) => p.toArray())).toEqual(before);
    m.parameters()[1].assign(tensor([1e30], f64), true);
    expect(m.to({ dtype: 'float32' }).parameters()[1].toArray()).toEqual(Float32Array.from([1e30]));
  });
});

describe('losses (mean reduction)', () => {
  const logits = tensor(
    [
      [1, 2, 3],
      [1, 0, -1],
    ],
    f64,
  );
  const target = tensor([2, 0], { dtype: 'int64' });
  const lse = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
  it('nll and crossEntropy', () => {
    const expected = (-(3 - lse([1, 2, 3])) - (1 - lse([1, 0, -1]))) / 2;
    expectClose(losses.crossEntropy(logits, target).toArray(), [expected], 1e-12);
    expectClose(losses.nll(logits.logSoftmax(1), target).toArray(), [expected], 1e-12);
  });
  it('mse and bce', () => {
    expectClose(losses.mse(tensor([1, 2], f64), tensor([0, 4], f64)).toArray(), [2.5], 1e-12);
    const p = [0.9, 0.2],
      t = [1, 0];
    expectClose(losses.bce(tensor(p, f64), tensor(t, f64)).toArray(), [-(Math.log(0.9) + Math.log(0.8)) / 2], 1e-12);
    expectClose(losses.bce(tensor([0], f64), tensor([1], f64)).toArray(), [100], 1e-12); // log clamped at −100
  });
  it('reject labels out of range, float labels and mismatched shapes', () => {
    expect(() => losses.nll(logits, tensor([3, 0], { dtype: 'int64' }))).toThrow('nll: target[0] = 3 is not a class index in 0..2');
    expect(() => losses.nll(logits, tensor([-1, 0], { dtype: 'int64' }))).toThrow(RangeError);
    expect(() => losses.crossEntropy(logits, tensor([1, 0]))).toThrow(/target must hold int64 class indices, got float32/);
    expect(() => losses.nll(logits, tensor([1], { dtype: 'int64' }))).toThrow(/target must be \[N\] = \[2\]/);
    expect(() => losses.mse(tensor([1, 2]), tensor([1]))).toThrow('mse: input [2] and target [1] must have the same shape');
    expect(() => losses.bce(tensor([0.5, 1.2], f64), tensor([1, 0], f64))).toThrow(
      'bce: input must hold probabilities in [0, 1], got values in [0.5, 1.2]',
    );
  });
});
