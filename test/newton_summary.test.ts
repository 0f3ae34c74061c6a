// NewtonSummary: the seed README's example trains; the paper's invariance property; checkpoints resume the
// same trajectory; failures keep the previous learning rates; logs stay bounded; damping reduction.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import {
  NewtonSummary,
  ReduceDampingOnPlateau,
  data,
  load,
  losses,
  models,
  nn,
  optim,
  partition,
  save,
  tensor,
  tidy,
  zeros,
  type Tensor,
} from '../lib';
import { EMBEDDED_ROOT } from '../lib/app/train/datasets';
import { values } from './helpers';

const f64 = { dtype: 'float64' as const };
// Debian's Fashion-MNIST when installed, else the subset shipped in assets/: its 2000 training examples are the
// full set's first 2000, so the README example below trains on the same data either way and never skips.
const fashionRoot = fs.existsSync(path.join(data.FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz'))
  ? data.FASHION_MNIST_ROOT
  : EMBEDDED_ROOT;

/** A fixed list of batches from a small synthetic classification problem. */
function batches(n: number, size: number, seed: number, dtype: 'float32' | 'float64' = 'float64'): Array<[Tensor, Tensor]> {
  return Array.from({ length: n }, (_, b) => {
    const x = tensor(values(size * 4, seed + b, -2, 2), { shape: [size, 4], dtype });
    const xs = x.toArray() as Float64Array;
    const y = tensor(Int32Array.from({ length: size }, (_, i) => (xs[i * 4] + xs[i * 4 + 1] > 0 ? 1 : 0) + (xs[i * 4 + 2] > 1 ? 1 : 0)));
    return [x, y];
  });
}

describe('NewtonSummary', () => {
  it('the seed README example, translated, trains a Perceptron on a Fashion-MNIST subset', () => {
    grnewt.manualSeed(0);
    const train = data.fashionMnist({ split: 'train', root: fashionRoot, limit: 2000 });
    expect(train.length).toBe(2000);
    const dataLoader = new data.DataLoader(train, { batchSize: 100, shuffle: true, seed: 1 });
    const hgLoader = new data.DataLoader(train, { batchSize: 500, shuffle: true, seed: 2 });
    const model = new models.Perceptron([784, 64, 10]);
    const lossFn = losses.nll;
    const fullLoss = (x: Tensor, target: Tensor) => lossFn(model.forward(x), target);
    const { paramGroups } = partition.canonical(model);
    const optimizer = new NewtonSummary(paramGroups, fullLoss, hgLoader, {
      damping: 0.1,
      nesterov: { use: true, dampingInt: 10 },
      periodHg: 10,
      momLrs: 0.5,
      removeNegative: true,
      momentum: 0.9,
      momentumDamp: 0.9,
    });
    const epochLoss: number[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      let sum = 0;
      for (const [x, target] of dataLoader) {
        sum += tidy(() => {
          optimizer.zeroGrad();
          const loss = lossFn(model.forward(x), target);
          loss.backward();
          optimizer.step();
          return loss.item();
        });
      }
      epochLoss.push(sum / dataLoader.length);
    }
    expect(epochLoss[2]).toBeLessThan(epochLoss[0]);
    expect(epochLoss[2]).toBeLessThan(0.8 * epochLoss[0]);
    expect(optimizer.lrs().every((lr) => Number.isFinite(lr) && lr >= 0)).toBe(true);
    expect(optimizer.logs.length).toBe(6);
    expect(optimizer.logs.some((l) => l.found)).toBe(true);
  });

  it('is invariant to θ = c·φ + b with one c per subset (momentum 0), where SGD is not', () => {
    grnewt.manualSeed(3);
    const base = new models.Perceptron([4, 5, 3], { dtype: 'float64' });
    const scales = [3, 0.2, 5, 0.5];
    const offsets = base.parameters().map((p, k) => tensor(values(p.numel, 40 + k), { shape: p.shape, dtype: 'float64' }));

    /** The same network, its k-th parameter tensor written c_k·φ_k + b_k. */
    class Reparameterised extends nn.Module {
      readonly phi: Tensor[];
      constructor() {
        super();
        this.phi = base.parameters().map((p, k) => this.registerParameter(`phi${k}`, p.detach().sub(offsets[k]).div(scales[k]).clone()));
      }
      forward(x: Tensor): Tensor {
        const [w0, b0, w1, b1] = this.phi.map((f, k) => f.mul(scales[k]).add(offsets[k]));
        return x.matmul(w0.transpose(0, 1)).add(b0).tanh().matmul(w1.transpose(0, 1)).add(b1).logSoftmax(1);
      }
    }
    const train = batches(6, 32, 100),
      hg = batches(3, 64, 200);
    const run = (model: nn.Module, makeOpt: (m: nn.Module, loss: (x: Tensor, y: Tensor) => Tensor) => optim.Optimizer<object>) => {
      const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
      const opt = makeOpt(model, fullLoss);
      return train.map(([x, y]) =>
        tidy(() => {
          opt.zeroGrad();
          const loss = fullLoss(x, y);
          loss.backward();
          opt.step();
          return loss.item();
        }),
      );
    };
    const newton = (m: nn.Module, loss: (x: Tensor, y: Tensor) => Tensor) =>
      new NewtonSummary(partition.canonical(m).paramGroups, loss, hg, { damping: 0.5, nesterov: { use: true, dampingInt: 1 } });
    const sgd = (m: nn.Module) => new optim.SGD(m.parameters(), { lr: 0.05 });

    const plain = new models.Perceptron([4, 5, 3], { dtype: 'float64' });
    plain.loadStateDict(base.stateDict());
    const direct = run(plain, newton);
    const reparameterised = run(new Reparameterised(), newton);
    for (let t = 0; t < direct.length; t++) expect(Math.abs(reparameterised[t] - direct[t])).toBeLessThan(1e-9 * Math.abs(direct[t]));
    expect(direct.at(-1)!).toBeLessThan(direct[0]);

    plain.loadStateDict(base.stateDict());
    const sgdDirect = run(plain, sgd);
    const sgdReparameterised = run(new Reparameterised(), sgd);
    expect(Math.abs(sgdReparameterised.at(-1)! - sgdDirect.at(-1)!)).toBeGreaterThan(1e-3);
  });

  it('resumes from a checkpoint file on the same trajectory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-ckpt-'));
    const train = batches(20, 16, 300);
    const hgData = new data.TensorDataset(...batches(1, 256, 400)[0]);
    const setup = (seed: number) => {
      grnewt.manualSeed(seed);
      const model = new models.Perceptron([4, 6, 3], { dtype: 'float64' });
      const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
      const hgLoader = new data.DataLoader(hgData, { batchSize: 64, shuffle: true, seed: 5 });
      const opt = new NewtonSummary(partition.wb(model).paramGroups, fullLoss, hgLoader, {
        damping: 0.3,
        momentum: 0.9,
        momentumDamp: 0.3,
        momLrs: 0.6,
        periodHg: 3,
        nesterov: { use: true, dampingInt: 5 },
        average: { kind: 'moving', factor: 0.7, warmup: 2 },
      });
      return { model, opt, fullLoss };
    };
    const trainOn = (s: ReturnType<typeof setup>, bs: Array<[Tensor, Tensor]>) => {
      for (const [x, y] of bs)
        tidy(() => {
          s.opt.zeroGrad();
          s.fullLoss(x, y).backward();
          s.opt.step();
        });
    };
    const first = setup(1);
    trainOn(first, train.slice(0, 10));
    const file = path.join(dir, 'run.ckpt');
    save(file, { model: first.model.stateDict(), optimizer: first.opt.stateDict(), epoch: 1 });
    trainOn(first, train.slice(10));

    const resumed = setup(2); // another initialisation, overwritten by the checkpoint
    const checkpoint = load(file);
    expect(checkpoint.epoch).toBe(1);
    resumed.model.loadStateDict(checkpoint.model);
    resumed.opt.loadStateDict(checkpoint.optimizer);
    trainOn(resumed, train.slice(10));
    first.model.parameters().forEach((p, k) => expect(resumed.model.parameters()[k].toArray()).toEqual(p.toArray()));
    expect(resumed.opt.lrs()).toEqual(first.opt.lrs());
  });

  it('keeps the previous learning rates when none can be found, says why, and never writes NaN', () => {
    grnewt.manualSeed(4);
    const model = new models.Perceptron([4, 3, 3], { dtype: 'float64' });
    const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
    const [x, y] = batches(1, 8, 7)[0];
    // A linear model under MSE has no third derivative: D = 0, and the Nesterov problem has no solution.
    const linear = new nn.Sequential(new nn.Linear(4, 2, { dtype: 'float64' }));
    const squared = (a: Tensor, b: Tensor) => losses.mse(linear.forward(a), b);
    const target = tensor(values(16, 9), { shape: [8, 2], dtype: 'float64' });
    const opt = new NewtonSummary(partition.canonical(linear).paramGroups, squared, [[x, target]], {
      nesterov: { use: true, dampingInt: 1 },
    });
    const before = linear.parameters().map((p) => p.toArray());
    opt.zeroGrad();
    squared(x, target).backward();
    opt.step();
    expect(opt.lrs()).toEqual([0, 0]);
    expect(opt.logs[0].found).toBe(false);
    expect(opt.logs[0].reason).toMatch(/D = 0/);
    linear.parameters().forEach((p, k) => expect(p.toArray()).toEqual(before[k]));
    // noregul makes D = 0 on every model: with the Nesterov step it is refused up front, as is a ridge it would ignore.
    const groups = partition.canonical(model).paramGroups;
    expect(() => new NewtonSummary(groups, fullLoss, [[x, y]], { noregul: true })).toThrow(
      /^NewtonSummary: noregul: true leaves D = 0, where the Nesterov step has no solution/,
    );
    expect(() => new NewtonSummary(groups, fullLoss, [[x, y]], { ridge: 1 })).toThrow(
      'NewtonSummary: ridge applies only with nesterov: { use: false }; the Nesterov step takes none',
    );
    expect(() => new NewtonSummary(groups, fullLoss, [[x, y]], { lrsClip: ['0.001', '0.002'] as never })).toThrow(
      /lrsClip must be \[min, max\], two numbers/,
    );
    expect(() => new NewtonSummary(groups, fullLoss, [[x, y]], { lrsClip: [null, 0.001] as never })).toThrow(/lrsClip must be/);
    expect(new NewtonSummary(groups, fullLoss, [[x, y]], { noregul: true, nesterov: { use: false } })).toBeDefined();

    const nanGrad = new NewtonSummary(groups, fullLoss, [[x, y]], { nesterov: { use: false }, ridge: 1 });
    opt.zeroGrad();
    fullLoss(x, y).mul(NaN).backward();
    nanGrad.step();
    model.parameters().forEach((p) => expect(Array.from(p.toArray() as Float64Array).every(Number.isFinite)).toBe(true));
    expect(nanGrad.logs.at(-1)!.found).toBe(false);
  });

  it('keeps at most historyLength log entries, with the solver diagnostics', () => {
    const model = new models.Perceptron([4, 3, 3], { dtype: 'float64' });
    const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
    const train = batches(8, 16, 500);
    const opt = new NewtonSummary(partition.trivial(model).paramGroups, fullLoss, train, {
      historyLength: 3,
      periodHg: 1,
      nesterov: { use: true, dampingInt: 2 },
      updater: { name: 'adam' },
    });
    for (const [x, y] of train)
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).backward();
        opt.step();
      });
    expect(opt.logs.map((l) => l.step)).toEqual([5, 6, 7]);
    const last = opt.logs.at(-1)!;
    expect(last.H).toHaveLength(1);
    expect(last.solver.branch).toMatch(/positive-definite|indefinite|hard-case/);
  });

  it('takes the same steps with the Taylor route (taylor option), sync and async, and checks its loss', async () => {
    const run = async (taylor: boolean, async_: boolean) => {
      grnewt.manualSeed(3);
      const model = new models.Perceptron([4, 5, 3], f64);
      const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
      const train = batches(12, 16, 40),
        hg = batches(4, 32, 90);
      const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, hg, {
        momentum: 0.9,
        periodHg: 3,
        nesterov: { use: true, dampingInt: 10 },
        taylor: taylor ? { model } : undefined,
      });
      for (const [x, y] of train) {
        tidy(() => {
          opt.zeroGrad();
          fullLoss(x, y).backward();
        });
        if (async_) await opt.stepAsync();
        else opt.step();
      }
      return { params: model.parameters().flatMap((p) => [...(p.toArray() as Float64Array)]), logs: opt.logs.length };
    };
    const exact = await run(false, false);
    expect(exact.logs).toBe(4);
    for (const async_ of [false, true]) {
      const fast = await run(true, async_);
      expect(fast.logs).toBe(4);
      fast.params.forEach((v, i) => expect(Math.abs(v - exact.params[i])).toBeLessThan(1e-9 * Math.max(1, Math.abs(v))));
    }

    const model = new models.Perceptron([4, 5, 3], f64);
    const groups = partition.canonical(model).paramGroups;
    const decayed = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y).add(model.parameters()[0].pow(2).sum());
    const opt = new NewtonSummary(groups, decayed, batches(1, 8, 5), { taylor: { model } });
    tidy(() => decayed(...batches(1, 8, 6)[0]).backward());
    expect(() => opt.step()).toThrow(/fullLoss gives \S+ on the first hg batch, and no loss of the model's Taylor route does \(nll \S+\)/);
    // Logits and int64 labels: the MSE candidate refuses the labels; that is said, not the default loss's dtype error.
    const logits = new models.Perceptron([4, 5, 3], { ...f64, classification: false });
    const penalised = (x: Tensor, y: Tensor) => losses.crossEntropy(logits.forward(x), y).add(logits.parameters()[0].pow(2).sum());
    const asked = new NewtonSummary(partition.canonical(logits).paramGroups, penalised, batches(1, 8, 5), { summaries: 'taylor' });
    tidy(() => penalised(...batches(1, 8, 6)[0]).backward());
    expect(() => asked.step()).toThrow(/no loss of the model's Taylor route does \(crossEntropy \S+, mse refuses these labels\)/);
    const given = new NewtonSummary(partition.canonical(logits).paramGroups, penalised, batches(1, 8, 5), {
      taylor: { model: logits, loss: 'crossEntropy' },
    });
    expect(() => given.step()).toThrow(/Taylor route's loss is .* but fullLoss gives/);
    const custom = new nn.Sequential(new nn.Linear(4, 3, f64), new (class Cube extends nn.Tanh {})());
    expect(() => new NewtonSummary(partition.canonical(custom).paramGroups, decayed, [], { taylor: { model: custom } })).toThrow(
      /taylor: the Sequential holds a Cube/,
    );
  });

  it('checks its options', () => {
    const model = new models.Perceptron([4, 3, 3]);
    const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
    const groups = partition.canonical(model).paramGroups;
    expect(() => new NewtonSummary(groups, fullLoss, [], { periodHg: 0 })).toThrow(
      'NewtonSummary: periodHg must be an integer (≥ 1), got 0',
    );
    expect(() => new NewtonSummary(groups, fullLoss, [], { damping: -1 })).toThrow(/damping must be a finite number ≥ 0/);
    expect(() => new NewtonSummary(groups, fullLoss, 3 as never)).toThrow(/hgLoader must be an iterable/);
    expect(() => new NewtonSummary(groups, fullLoss, batches(1, 4, 1), { updater: 'lbfgs' as never })).toThrow(/updater must be/);
    expect(() => new NewtonSummary(groups, fullLoss, [])).toThrow('NewtonSummary: hgLoader yielded no batch');
  });
});

describe('ReduceDampingOnPlateau', () => {
  it("scales every group's damping and lr by factor after `patience` epochs without improvement", () => {
    const model = new models.Perceptron([2, 2]);
    const opt = new NewtonSummary(partition.wb(model).paramGroups, () => tensor(0), [[tensor([[1, 2]]), tensor([0], { dtype: 'int64' })]], {
      damping: 1,
    });
    opt.paramGroups.forEach((g) => (g.lr = 0.5));
    const sched = new ReduceDampingOnPlateau(opt, { factor: 0.4, patience: 2 }); // 0.4, not 0.5: a swap with 1 − factor shows
    expect([1, 0.9, 0.95, 0.95].map((m) => sched.step(m))).toEqual([false, false, false, false]);
    expect(sched.step(0.91)).toBe(true); // three epochs without beating 0.9
    expect(opt.paramGroups.map((g) => [g.damping, g.lr])).toEqual([
      [0.4, 0.2],
      [0.4, 0.2],
    ]);
    expect(() => new ReduceDampingOnPlateau(opt, { factor: 1 })).toThrow(/factor must be in \(0, 1\)/);
  });

  const plateau = (damping: number) => {
    const model = new models.Perceptron([2, 2]);
    const opt = new NewtonSummary(
      partition.trivial(model).paramGroups,
      () => tensor(0),
      [[tensor([[1, 2]]), tensor([0], { dtype: 'int64' })]],
      {
        damping,
      },
    );
    opt.paramGroups[0].lr = 0.5;
    return opt;
  };

  // Each sequence traced by hand with torch's ReduceLROnPlateau rules: improved → best = x, bad = 0, else bad + 1;
  // in cooldown → cooldown − 1 and bad = 0; bad > patience → reduce, cooldown = its setting, bad = 0. Improvement:
  // min/rel x < best·(1 − t), min/abs x < best − t, max/rel x > best·(1 + t), max/abs x > best + t.
  const traced = (damping: number, options: ConstructorParameters<typeof ReduceDampingOnPlateau>[1], metrics: number[]) => {
    const opt = plateau(damping);
    opt.paramGroups[0].lr = 0.8;
    const sched = new ReduceDampingOnPlateau(opt, options);
    const reduced = metrics.map((m) => sched.step(m));
    return { reduced, damping: opt.paramGroups[0].damping, lr: opt.paramGroups[0].lr };
  };

  it('min/rel with a cooldown: bad calls in the cooldown are not counted, the threshold is relative to the best', () => {
    // 9.5 and 9.2 are not below 10·0.9: reduced at the 2nd bad call; 100, 100 in the cooldown; two more bad calls
    // reduce again; 8.9 < 9 improves.
    const t = traced(
      1,
      { mode: 'min', thresholdMode: 'rel', threshold: 0.1, patience: 1, cooldown: 2, factor: 0.5 },
      [10, 9.5, 9.2, 100, 100, 100, 100, 8.9],
    );
    expect(t.reduced).toEqual([false, false, true, false, false, false, true, false]);
    expect([t.damping, t.lr]).toEqual([0.25, 0.2]);
  });

  it('min/abs without a cooldown: the count of bad calls starts over after a reduction', () => {
    // 4.6 and 4.55 are not below 5 − 0.5; after the reduction one more bad call (4.55) is within patience; 4.4 improves.
    const t = traced(1, { mode: 'min', thresholdMode: 'abs', threshold: 0.5, patience: 1, factor: 0.5 }, [5, 4.6, 4.55, 4.55, 4.4]);
    expect(t.reduced).toEqual([false, false, true, false, false]);
    // A NaN neither improves nor counts against: the same sequence with NaNs between gives the same reductions.
    const n = traced(1, { mode: 'min', thresholdMode: 'abs', threshold: 0.5, patience: 1, factor: 0.5 }, [
      5,
      Number.NaN,
      4.6,
      Number.NaN,
      4.55,
    ]);
    expect(n.reduced).toEqual([false, false, false, false, true]);
    expect([t.damping, t.lr]).toEqual([0.5, 0.4]);
  });

  it('max/abs and max/rel: the metric improves upwards; minDamping floors the damping (the lr scaled by the same ratio)', () => {
    // abs, t = 0.5: 1 improves on −∞; 1.4 ≤ 1.5 reduces; 2 improves; 2.4 ≤ 2.5 reduces to max(0.25, 0.3) = 0.3; 0 cannot go lower.
    const abs = traced(
      1,
      { mode: 'max', thresholdMode: 'abs', threshold: 0.5, patience: 0, factor: 0.5, minDamping: 0.3 },
      [1, 1.4, 2, 2.4, 0],
    );
    expect(abs.reduced).toEqual([false, true, false, true, false]);
    expect(abs.damping).toBe(0.3);
    expect(abs.lr).toBeCloseTo((0.8 * 0.5 * 0.3) / 0.5, 15);
    // rel, t = 0.1: 10.5 ≤ 10·1.1 reduces; 12 > 11 improves.
    const rel = traced(1, { mode: 'max', thresholdMode: 'rel', threshold: 0.1, patience: 0, factor: 0.5 }, [10, 10.5, 12]);
    expect(rel.reduced).toEqual([false, true, false]);
  });

  it('defaults: mode min, rel threshold 1e-4, patience 10, factor 0.1', () => {
    // 0.99995 is not below 1·(1 − 1e-4): the 11th bad call reduces.
    const t = traced(1, undefined, [1, ...new Array(11).fill(0.99995)]);
    expect(t.reduced).toEqual([...new Array(11).fill(false), true]);
    expect(t.damping).toBeCloseTo(0.1, 15);
    expect(t.lr).toBeCloseTo(0.08, 15);
  });

  it('never raises a damping already below minDamping (it raised it, and the lr with it)', () => {
    const opt = plateau(0.1);
    const sched = new ReduceDampingOnPlateau(opt, { patience: 0, minDamping: 1 });
    expect([sched.step(1), sched.step(1)]).toEqual([false, false]); // a plateau, but nothing to reduce
    expect([opt.paramGroups[0].damping, opt.paramGroups[0].lr]).toEqual([0.1, 0.5]);
  });

  it('refuses a NaN best from a state dict (nothing improved on it: the damping shrank at every plateau check)', () => {
    const sched = new ReduceDampingOnPlateau(plateau(1), { patience: 0 });
    expect(() => sched.loadStateDict({ best: NaN, badEpochs: 0, cooldownLeft: 0 })).toThrow(
      'ReduceDampingOnPlateau.loadStateDict: best must be a number or ±Infinity, got NaN',
    );
    sched.loadStateDict({ best: Infinity, badEpochs: 0, cooldownLeft: 0 });
    expect(sched.step(0.5)).toBe(false);
  });
});

describe('a parameter the loss does not use', () => {
  it("an unused layer's subsets get no learning rate; the others train (they got none either: H̄ was singular there)", () => {
    grnewt.manualSeed(6);
    class WithAux extends nn.Module {
      readonly body = this.registerModule(
        'body',
        new nn.Sequential(new nn.Linear(4, 6, { dtype: 'float64' }), new nn.Tanh(), new nn.Linear(6, 3, { dtype: 'float64' })),
      );
      readonly aux = this.registerModule('aux', new nn.Linear(6, 2, { dtype: 'float64' })); // an auxiliary head, unused here
      forward(x: Tensor): Tensor {
        return this.body.forward(x);
      }
    }
    const model = new WithAux();
    const fullLoss = (a: Tensor, b: Tensor) => losses.crossEntropy(model.forward(a), b);
    const train = batches(6, 16, 40);
    const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, train, { periodHg: 1 });
    const lossOf = () => tidy(() => train.reduce((sum, [x, y]) => sum + fullLoss(x, y).item(), 0));
    const before = lossOf();
    for (const [x, y] of train) {
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).backward();
      });
      opt.step();
    }
    const lrs = opt.lrs();
    expect(lrs.slice(4)).toEqual([0, 0]);
    expect(lrs.slice(0, 4).every((v) => v > 0)).toBe(true);
    expect(lossOf()).toBeLessThan(before);
  });

  it("its gradient counts as zero in the updater's state: a zero momentum buffer, zero Adam moments, the parameter unmoved", () => {
    for (const updater of ['sgd', { name: 'adam' }] as const) {
      const used = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
      const unused = tensor([3, 4], { dtype: 'float64', requiresGrad: true });
      const loss = () => used.pow(3).sum(); // cubic: a third-order term, so that the Nesterov step finds a learning rate
      const opt = new NewtonSummary([{ params: [used] }, { params: [unused] }], loss, [[zeros([1]), zeros([1])]], {
        updater: updater as never,
        summaries: 'autograd',
      });
      for (let k = 0; k < 2; k++)
        tidy(() => {
          opt.zeroGrad();
          loss().backward();
          opt.step();
        });
      const state = opt.stateDict().state[1];
      const names = updater === 'sgd' ? ['momentumBuffer'] : ['expAvg', 'expAvgSq'];
      for (const name of names) expect([name, Array.from((state[name] as Tensor).toArray() as Float64Array)]).toEqual([name, [0, 0]]);
      expect(Array.from(unused.toArray() as Float64Array)).toEqual([3, 4]);
      expect(Array.from(used.toArray() as Float64Array)).not.toEqual([1, 2]);
    }
  });
});
