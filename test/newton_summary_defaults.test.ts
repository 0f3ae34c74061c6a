// NewtonSummary as users write it: the fast route found on its own (and refused when fullLoss is another
// function), defaults that train, and misuse named where it happens.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import { NEWTON_SUMMARY_DEFAULTS, NewtonSummary, data, losses, models, nn, optim, partition, tensor, tidy, type Tensor } from '../lib';
import { values } from './helpers';

const f64 = { dtype: 'float64' as const };
const EMBEDDED = path.join(__dirname, '..', 'assets', 'fashion-mnist-subset');

function batches(n: number, size: number, seed: number): Array<[Tensor, Tensor]> {
  return Array.from({ length: n }, (_, b) => {
    const x = tensor(values(size * 4, seed + b, -2, 2), { shape: [size, 4], dtype: 'float64' });
    const xs = x.toArray() as Float64Array;
    const y = tensor(Int32Array.from({ length: size }, (_, i) => (xs[i * 4] + xs[i * 4 + 1] > 0 ? 1 : 0) + (xs[i * 4 + 2] > 1 ? 1 : 0)));
    return [x, y];
  });
}

type Options = ConstructorParameters<typeof NewtonSummary>[3];

/** Trains a small model for 9 steps (3 updates); the final parameters and the optimizer. */
async function train(
  make: () => { model: grnewt.nn.Module; fullLoss: (x: Tensor, y: Tensor) => Tensor },
  options: Options,
  asyncSteps = false,
  hgSize = 32,
) {
  grnewt.manualSeed(5);
  const { model, fullLoss } = make();
  const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, batches(3, hgSize, 70), { periodHg: 3, ...options });
  for (const [x, y] of batches(9, 16, 10)) {
    tidy(() => {
      opt.zeroGrad();
      fullLoss(x, y).backward();
    });
    if (asyncSteps) await opt.stepAsync();
    else opt.step();
  }
  return { params: model.parameters().flatMap((p) => [...(p.toArray() as Float64Array)]), opt };
}

const perceptron = () => {
  const model = new models.Perceptron([4, 5, 3], f64);
  return { model, fullLoss: (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y) };
};

describe("NewtonSummary's summaries route", () => {
  it("'auto' finds the model from the parameters and takes the Taylor route: the explicit Taylor route's steps, sync and async", async () => {
    const auto = await train(perceptron, {});
    const taylor = await (async () => {
      grnewt.manualSeed(5);
      const { model, fullLoss } = perceptron();
      const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, batches(3, 32, 70), {
        periodHg: 3,
        taylor: { model },
      });
      for (const [x, y] of batches(9, 16, 10)) {
        tidy(() => {
          opt.zeroGrad();
          fullLoss(x, y).backward();
        });
        opt.step();
      }
      return model.parameters().flatMap((p) => [...(p.toArray() as Float64Array)]);
    })();
    expect(auto.opt.summariesRoute).toBe('taylor');
    expect(auto.opt.summariesRouteReason).toMatch(/Perceptron's .* Taylor route with loss 'nll' gave the autograd route's summaries/);
    expect(auto.opt.logs[0].summariesRoute?.route).toBe('taylor');
    expect(auto.opt.logs[1].summariesRoute).toBeUndefined();
    expect(auto.params).toEqual(taylor);
    const asyncRun = await train(perceptron, {}, true);
    expect(asyncRun.opt.summariesRoute).toBe('taylor');
    expect(asyncRun.params).toEqual(taylor);
  });

  it("'auto' keeps the autograd route when fullLoss is not the model's loss, and its trajectory is the autograd route's", async () => {
    const decayed = () => {
      const m = perceptron();
      return { model: m.model, fullLoss: (x: Tensor, y: Tensor) => m.fullLoss(x, y).add(m.model.parameters()[0].pow(2).sum().mul(0.01)) };
    };
    const auto = await train(decayed, {});
    expect(auto.opt.summariesRoute).toBe('autograd');
    expect(auto.opt.summariesRouteReason).toMatch(/fullLoss is not its nll loss/);
    const autograd = await train(decayed, { summaries: 'autograd' });
    expect(autograd.opt.summariesRouteReason).toBe("summaries: 'autograd' was asked for");
    expect(auto.params).toEqual(autograd.params);
  });

  it("'auto' compares the routes on the first 64 samples of a larger hg batch; the steps are the chosen route's on whole batches", async () => {
    const decayed = () => {
      const m = perceptron();
      return { model: m.model, fullLoss: (x: Tensor, y: Tensor) => m.fullLoss(x, y).add(m.model.parameters()[0].pow(2).sum().mul(0.01)) };
    };
    for (const [make, route] of [
      [perceptron, 'taylor'],
      [decayed, 'autograd'],
    ] as const) {
      const auto = await train(make, {}, false, 100);
      expect(auto.opt.summariesRoute).toBe(route);
      expect(auto.opt.summariesRouteReason).toMatch(/on the first 64 samples of the first hg batch/);
      const asked = await train(make, route === 'taylor' ? { summaries: 'taylor' } : { summaries: 'autograd' }, false, 100);
      expect(auto.params).toEqual(asked.params);
    }
  });

  it("'auto' picks the Taylor route's loss by the summaries: crossEntropy on logits, mse for regression", async () => {
    const logits = () => {
      const model = new nn.Sequential(new nn.Linear(4, 6, f64), new nn.Tanh(), new nn.Linear(6, 3, f64));
      return { model, fullLoss: (x: Tensor, y: Tensor) => losses.crossEntropy(model.forward(x), y) };
    };
    const ce = await train(logits, {});
    expect(ce.opt.summariesRoute).toBe('taylor');
    expect(ce.opt.summariesRouteReason).toMatch(/loss 'crossEntropy'/);
    expect(
      (await train(logits, { summaries: 'autograd' })).params.every((v, i) => Math.abs(v - ce.params[i]) < 1e-9 * Math.max(1, Math.abs(v))),
    ).toBe(true);

    grnewt.manualSeed(2);
    const model = new nn.Sequential(new nn.Linear(4, 5, f64), new nn.Sigmoid(), new nn.Linear(5, 2, f64));
    const fullLoss = (x: Tensor, y: Tensor) => losses.mse(model.forward(x), y);
    const regression = Array.from(
      { length: 3 },
      (_, b) =>
        [tensor(values(64, b + 1), { shape: [16, 4], ...f64 }), tensor(values(32, b + 9), { shape: [16, 2], ...f64 })] as [Tensor, Tensor],
    );
    const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, regression, { periodHg: 1 });
    tidy(() => fullLoss(...regression[0]).backward());
    opt.step();
    expect(opt.summariesRoute).toBe('taylor');
    expect(opt.summariesRouteReason).toMatch(/loss 'mse'/);
  });

  it('an hg batch of another dtype than the model is named under the Taylor route, in step and stepAsync', async () => {
    const float32Batches = batches(1, 8, 1).map(([x, y]) => [x.to({ dtype: 'float32' }), y] as [Tensor, Tensor]);
    // The model runs the batch itself there: the batch is named, not the first op that fails.
    const model = new models.Perceptron([4, 5, 3], { dtype: 'float64' });
    const converting = (x: Tensor, y: Tensor) => losses.nll(model.forward(x.to({ dtype: 'float64' })), y);
    const message = new TypeError("NewtonSummary: the hg batch's x is float32, the model's parameters float64");
    for (const asyncStep of [false, true]) {
      const opt = new NewtonSummary(partition.canonical(model).paramGroups, converting, float32Batches, {
        summaries: 'taylor',
        taylor: { model },
      });
      tidy(() => converting(...float32Batches[0]).backward());
      if (asyncStep) await expect(opt.stepAsync()).rejects.toThrow(message);
      else expect(() => opt.step()).toThrow(message);
    }
  });

  it("'auto' takes the autograd route, saying why, when the Taylor route refuses the first hg batch", () => {
    const float32Batches = batches(1, 8, 1).map(([x, y]) => [x.to({ dtype: 'float32' }), y] as [Tensor, Tensor]);
    const model = new models.Perceptron([4, 5, 3], { dtype: 'float64' });
    const converting = (x: Tensor, y: Tensor) => losses.nll(model.forward(x.to({ dtype: 'float64' })), y);
    const opt = new NewtonSummary(partition.canonical(model).paramGroups, converting, float32Batches);
    tidy(() => converting(...float32Batches[0]).backward());
    opt.step();
    expect(opt.summariesRoute).toBe('autograd');
    expect(opt.summariesRouteReason).toBe(
      "the parameters are a Perceptron's, but the Taylor route refused the first hg batch (computeHgTaylor: x is float32, the model's parameters float64)",
    );
  });

  it("'auto' decides from the constructor when the parameters belong to no supported model; 'taylor' then refuses", () => {
    const w = tensor(values(12, 3), { shape: [4, 3], ...f64, requiresGrad: true });
    const fullLoss = (x: Tensor, y: Tensor) => losses.nll(x.matmul(w).logSoftmax(1), y);
    const loose = new NewtonSummary([{ params: [w] }], fullLoss, batches(1, 8, 1));
    expect(loose.summariesRoute).toBe('autograd');
    expect(loose.summariesRouteReason).toBe('the parameters do not all belong to one nn.Module');
    expect(() => new NewtonSummary([{ params: [w] }], fullLoss, batches(1, 8, 1), { summaries: 'taylor' })).toThrow(
      /summaries 'taylor': the parameters do not all belong to one nn.Module/,
    );

    class Custom extends grnewt.nn.Module {
      readonly w = this.registerParameter('w', tensor(values(12, 4), { shape: [4, 3], ...f64 }));
      forward(x: Tensor) {
        return x.matmul(this.w).logSoftmax(1);
      }
    }
    const custom = new Custom();
    const opt = new NewtonSummary(partition.canonical(custom).paramGroups, (x, y) => losses.nll(custom.forward(x), y), batches(1, 8, 1));
    expect(opt.summariesRouteReason).toMatch(/belong to a Custom, which the Taylor route does not support/);
  });

  it('a wrapped built-in model is found inside its wrapper, and the check decides', async () => {
    class Wrapper extends grnewt.nn.Module {
      readonly inner = this.registerModule('inner', new models.Perceptron([4, 5, 3], f64));
      forward(x: Tensor) {
        return this.inner.forward(x);
      }
    }
    const run = await train(() => {
      const model = new Wrapper();
      return { model, fullLoss: (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y) };
    }, {});
    expect(run.opt.summariesRoute).toBe('taylor');
  });

  it('a state dict carries the decision: a resumed optimizer does not decide again', async () => {
    const first = await train(perceptron, {});
    const sd = first.opt.stateDict();
    expect(sd.summaries).toEqual({ route: 'taylor', loss: 'nll' });
    const { model, fullLoss } = perceptron();
    const resumed = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, batches(3, 32, 70), { periodHg: 3 });
    expect(resumed.summariesRoute).toBeNull();
    resumed.loadStateDict(sd);
    expect(resumed.summariesRoute).toBe('taylor');
    expect(resumed.summariesRouteReason).toMatch(/restored from a state dict/);
    expect(() => resumed.loadStateDict({ ...sd, summaries: { route: 'fast', loss: null } })).toThrow(
      /summaries.route must be 'taylor' or 'autograd'/,
    );
  });
});

describe("NewtonSummary's defaults", () => {
  it("are the seed README's recommended values, in one exported object that fit() uses too", () => {
    expect(NEWTON_SUMMARY_DEFAULTS).toMatchObject({
      damping: 0.1,
      momentum: 0.9,
      momentumDamp: 0.9,
      momLrs: 0.5,
      periodHg: 10,
      removeNegative: true,
      nesterov: { use: true, dampingInt: 10 },
      summaries: 'auto',
    });
    const c = grnewt.trainConfig().newtonSummary;
    expect([c.damping, c.momentum, c.momentumDamp, c.momLrs, c.periodHg, c.removeNegative, c.nesterov, c.dampingInt, c.summaries]).toEqual([
      0.1,
      0.9,
      0.9,
      0.5,
      10,
      true,
      true,
      10,
      'auto',
    ]);
  });

  it('with no options, train on the embedded Fashion-MNIST subset: the training loss falls over an epoch, every lr finite', () => {
    grnewt.manualSeed(0);
    const train = data.fashionMnist({ split: 'train', root: EMBEDDED });
    const loader = new data.DataLoader(train, { batchSize: 100, shuffle: true, seed: 1 });
    const hgLoader = new data.DataLoader(train, { batchSize: 500, shuffle: true, seed: 2 });
    const model = new models.Perceptron([784, 64, 10]);
    const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
    const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, hgLoader);
    const epochLoss = () => tidy(() => fullLoss(train.x, train.y).item());
    const before = epochLoss();
    for (const [x, y] of loader) {
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).backward();
        opt.step();
      });
    }
    const after = epochLoss();
    expect(opt.summariesRoute).toBe('taylor');
    expect(after).toBeLessThan(0.9 * before); // ln 10 ≈ 2.3 at the start; 20 steps, 2 updates
    expect(opt.lrs().every(Number.isFinite)).toBe(true);
    expect(opt.lrs().some((lr) => lr > 0)).toBe(true);
  });
});

describe('NewtonSummary misuse is named where it happens', () => {
  const setup = () => {
    const { model, fullLoss } = perceptron();
    return { model, fullLoss, groups: partition.canonical(model).paramGroups };
  };

  it('step() before any backward() says to call loss.backward()', async () => {
    const { groups, fullLoss } = setup();
    const opt = new NewtonSummary(groups, fullLoss, batches(1, 8, 1));
    expect(() => opt.step()).toThrow(
      'NewtonSummary.step: no parameter of the groups has a gradient: compute the loss and call loss.backward() before step() (zeroGrad() clears them)',
    );
    await expect(opt.stepAsync()).rejects.toThrow(/NewtonSummary.stepAsync: no parameter of the groups has a gradient/);
    tidy(() => fullLoss(...batches(1, 8, 1)[0]).backward());
    opt.step(); // still usable
  });

  it('the hg loader is checked at construction', () => {
    const { groups, fullLoss } = setup();
    expect(() => new NewtonSummary(groups, fullLoss, 3 as never)).toThrow(/hgLoader must be an iterable of \[x, y\] batches/);
    expect(() => new NewtonSummary(groups, fullLoss, [[tensor([1])]] as never)).toThrow(
      /the hg loader must yield \[x, y\] pairs of Tensors, got \[Tensor\]/,
    );
    expect(() => new NewtonSummary(groups, fullLoss, [['x', 'y']] as never)).toThrow(/must yield \[x, y\] pairs of Tensors/);
    expect(() => new NewtonSummary(groups, fullLoss, (function* () {})())).toThrow('NewtonSummary: hgLoader yielded no batch');
  });

  it("checking a one-shot loader's first batch does not lose it: the same steps as with an array", async () => {
    const withArray = await train(perceptron, { summaries: 'autograd', periodHg: 1 });
    grnewt.manualSeed(5);
    const { model, fullLoss } = perceptron();
    const hg = batches(3, 32, 70);
    const generator = (function* () {
      for (;;) yield* hg;
    })();
    // Which hg batches the summaries were computed on, in order (the autograd route calls fullLoss on them).
    const drawn: number[] = [];
    const recording = (x: Tensor, y: Tensor) => {
      const k = hg.findIndex(([hx]) => hx === x);
      if (k >= 0) drawn.push(k);
      return fullLoss(x, y);
    };
    const opt = new NewtonSummary(partition.canonical(model).paramGroups, recording, generator, { summaries: 'autograd', periodHg: 1 });
    for (const [x, y] of batches(9, 16, 10)) {
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).backward();
        opt.step();
      });
    }
    expect(drawn.slice(0, 4)).toEqual([0, 1, 2, 0]); // the batch read to check the loader is the first one used
    expect(model.parameters().flatMap((p) => [...(p.toArray() as Float64Array)])).toEqual(withArray.params);
  });

  it('unknown option keys are refused with the valid ones listed, at every level', () => {
    const { model, groups, fullLoss } = setup();
    const hg = batches(1, 8, 1);
    expect(() => new NewtonSummary(groups, fullLoss, hg, { lr: 0.1 } as never)).toThrow(
      /NewtonSummary: unknown option "lr"; the options are damping, momentum, momentumDamp, momLrs, periodHg, ridge, nesterov, .*summaries, average, lrsClip, taylor/,
    );
    expect(() => new NewtonSummary(groups, fullLoss, hg, { nesterov: { use: true, dampingint: 10 } } as never)).toThrow(
      /NewtonSummary: nesterov: unknown option "dampingint"; the options are use, dampingInt/,
    );
    expect(() => new NewtonSummary(groups, fullLoss, hg, { average: { kind: 'moving', decay: 0.1 } } as never)).toThrow(
      /average: unknown option "decay"/,
    );
    expect(() => new NewtonSummary(groups, fullLoss, hg, { updater: { name: 'adam', beta: [0.9, 0.9] } } as never)).toThrow(
      /updater: unknown option "beta"/,
    );
    expect(() => new NewtonSummary([{ params: model.parameters(), dampin: 1 } as never], fullLoss, hg)).toThrow(
      /paramGroups\[0\]: unknown option "dampin"/,
    );
    expect(() => new optim.SGD(model.parameters(), { lr: 0.1, momentun: 0.9 } as never)).toThrow(
      /SGD: unknown option "momentun"; the options are lr, momentum, dampening, weightDecay, nesterov/,
    );
    expect(() => new optim.Adam(model.parameters(), { lr: 0.1, beta: [0.9, 0.9] } as never)).toThrow(
      /Adam: unknown option "beta"; the options are lr, betas, eps, weightDecay/,
    );
    expect(() => grnewt.computeHg(groups, fullLoss, hg[0][0], hg[0][1], model.parameters(), { diag: true } as never)).toThrow(
      /computeHg: unknown option "diag"/,
    );
  });

  it('every options object of the public API refuses a misspelt key, naming the function and the key', () => {
    const t = tensor([
      [
        [
          [1, 2],
          [3, 4],
        ],
      ],
    ]);
    const bad = { typo: 1 } as never;
    const table: Array<[string, () => unknown]> = [
      ['tensor', () => tensor([1], bad)],
      ['zeros', () => grnewt.zeros([1], bad)],
      ['randn', () => grnewt.randn([1], bad)],
      ['to', () => t.to(bad)],
      ['backward', () => t.sum().backward(bad)],
      ['conv2d', () => t.conv2d(t, null, bad)],
      ['maxPool2d', () => t.maxPool2d(1, bad)],
      ['Linear', () => new nn.Linear(1, 1, bad)],
      ['Conv2d', () => new nn.Conv2d(1, 1, 1, bad)],
      ['MaxPool2d', () => new nn.MaxPool2d(1, bad)],
      ['Module.to', () => new nn.Linear(1, 1).to(bad)],
      ['Perceptron', () => new models.Perceptron([2, 2], bad)],
      ['LeNet', () => new models.LeNet(undefined, bad)],
      ['VGG', () => new models.VGG(bad)],
      ['AutoencoderMLP', () => new models.AutoencoderMLP([4, 2], bad)],
      ['nesterovLrs', () => grnewt.nesterovLrs(t, t, t, { dampingInt: 1, ...(bad as object) } as never)],
      ['DataLoader', () => new data.DataLoader(new data.TensorDataset(t, t), { batchSize: 1, ...(bad as object) } as never)],
      ['fashionMnist', () => data.fashionMnist({ split: 'train', ...(bad as object) } as never)],
      ['readIdx', () => data.readIdx('x', bad)],
      [
        'ReduceDampingOnPlateau',
        () => new grnewt.ReduceDampingOnPlateau(new NewtonSummary(setup().groups, setup().fullLoss, batches(1, 4, 1)), bad),
      ],
    ];
    for (const [name, call] of table) expect(call, name).toThrow(new RegExp(`^${name}: unknown option "typo"; the options are `));
  });
});

describe("NewtonSummary's state dicts", () => {
  const setup = () => {
    const { model, fullLoss } = perceptron();
    return { model, fullLoss, groups: partition.canonical(model).paramGroups };
  };

  it('restore the hg loader position without replaying its batches: 100,000 draws of a DataLoader at once', () => {
    const { groups, fullLoss } = setup();
    const [x, y] = batches(1, 64, 3)[0];
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 8, shuffle: true, seed: 4 });
    const opt = new NewtonSummary(groups, fullLoss, loader, { summaries: 'autograd' });
    const sd = { ...opt.stateDict(), step: 100_000, hgDraws: 100_000 };
    let made = 0;
    const batch = loader.dataset.batch.bind(loader.dataset);
    loader.dataset.batch = (indices) => {
      made++;
      return batch(indices);
    };
    opt.loadStateDict(sd);
    expect(made).toBe(0); // a replay would have made 100,000 batches (the old code kept them all until it returned)
    // The loader's own epoch counter is its training loop's: the hg draws keep their own (hg_batches.test.ts).
    expect(loader.epoch).toBe(0);
  });

  it('continue the same hg batches as an uninterrupted optimizer (DataLoader and generic iterable alike)', async () => {
    for (const makeLoader of [
      () => new data.DataLoader(new data.TensorDataset(...batches(1, 96, 7)[0]), { batchSize: 32, shuffle: true, seed: 5 }),
      () => {
        const hg = batches(3, 32, 70);
        return { [Symbol.iterator]: () => hg[Symbol.iterator]() };
      },
    ]) {
      const run = (stopAt: number | null) => {
        grnewt.manualSeed(5);
        const { model, fullLoss } = perceptron();
        let opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, makeLoader(), { periodHg: 2, summaries: 'autograd' });
        batches(10, 16, 10).forEach(([x, y], i) => {
          if (i === stopAt) {
            const sd = opt.stateDict();
            opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, makeLoader(), { periodHg: 2, summaries: 'autograd' });
            opt.loadStateDict(sd);
          }
          tidy(() => {
            opt.zeroGrad();
            fullLoss(x, y).backward();
            opt.step();
          });
        });
        return model.parameters().flatMap((p) => [...(p.toArray() as Float64Array)]);
      };
      expect(run(7)).toEqual(run(null));
    }
  });

  it('are checked as strictly as the constructor checks its options', () => {
    const { groups, fullLoss } = setup();
    const opt = new NewtonSummary(groups, fullLoss, batches(2, 8, 1), { summaries: 'autograd' });
    const sd = opt.stateDict();
    const group0 = sd.paramGroups[0];
    expect(() => opt.loadStateDict({ ...sd, paramGroups: [{ ...group0, lr: NaN }, ...sd.paramGroups.slice(1)] })).toThrow(
      /lr must be a finite number, got NaN/,
    );
    expect(() => opt.loadStateDict({ ...sd, paramGroups: [{ ...group0, momLrs: 1 }, ...sd.paramGroups.slice(1)] })).toThrow(
      /momLrs must be in \[0, 1\)/,
    );
    const proto = JSON.parse(`{"__proto__": {"lr": 1}}`);
    expect(() => opt.loadStateDict({ ...sd, paramGroups: [{ ...group0, ...proto }, ...sd.paramGroups.slice(1)] })).toThrow(
      /group 0 has an unknown option "__proto__"/,
    );
    expect(() => opt.loadStateDict({ ...sd, step: 3, hgDraws: 2 ** 53 - 1 })).toThrow(
      /hgDraws \(9007199254740991\) cannot exceed step \(3\)/,
    );
    expect(() => opt.loadStateDict({ ...sd, step: -1 })).toThrow(/step must be an integer \(≥ 0\)/);
    expect(() => opt.loadStateDict({ ...sd, lrsInitialized: 'yes' })).toThrow(/lrsInitialized must be a boolean/);
    expect(() => opt.loadStateDict({ ...sd, average: { count: 1, H: tensor([1]), g: tensor([1]), order3: tensor([1]) } })).toThrow(
      /average.H has shape \[1\], expected \[4,4\]/,
    );
    expect(() => opt.loadStateDict({ ...sd, extra: 1 })).toThrow(/unknown option "extra"/);
    const generic = new NewtonSummary(
      groups,
      fullLoss,
      { [Symbol.iterator]: () => batches(2, 8, 1)[Symbol.iterator]() },
      { summaries: 'autograd' },
    );
    expect(() => generic.loadStateDict({ ...sd, step: 2 ** 40, hgDraws: 2 ** 40 })).toThrow(
      /replaying 1099511627776 hg batches of a loader that is neither a DataLoader nor an array is refused/,
    );
  });

  it('a generic hg loader that throws while replayed leaves the optimizer as it was (it had been half loaded)', () => {
    const { groups, fullLoss } = setup();
    const saved = new NewtonSummary(groups, fullLoss, batches(2, 8, 1), { summaries: 'autograd' }).stateDict();
    const sd = { ...saved, paramGroups: saved.paramGroups.map((g) => ({ ...g, lr: 0.5 })), step: 7, hgDraws: 5, lrsInitialized: true };
    let fail = false;
    const loader = {
      *[Symbol.iterator]() {
        for (const [k, b] of batches(2, 8, 1).entries()) {
          if (fail && k === 1) throw new Error('hg loader failed');
          yield b;
        }
      },
    };
    const opt = new NewtonSummary(groups, fullLoss, loader, { summaries: 'autograd' });
    const before = JSON.stringify(opt.stateDict());
    fail = true;
    expect(() => opt.loadStateDict(sd)).toThrow('hg loader failed');
    expect(JSON.stringify(opt.stateDict())).toBe(before); // its own lrs, step 0, lrsInitialized false, hgDraws 0
    fail = false;
    opt.loadStateDict(sd);
    expect([opt.stateDict().step, opt.stateDict().hgDraws, opt.paramGroups[0].lr]).toEqual([7, 5, 0.5]);
  });
});
