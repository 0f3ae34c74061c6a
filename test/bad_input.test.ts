// Bad input, all of it (issue list of the robustness work): each case is a typed error naming the argument,
// or, where training can go on, a recorded skip — and never a crash or a NaN written into parameters.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { checkFinite } from '../lib/method/summaries';
import {
  NewtonSummary,
  ReduceDampingOnPlateau,
  computeHg,
  load,
  losses,
  models,
  nesterovLrs,
  optim,
  partition,
  save,
  tensor,
  tidy,
  zeros,
  type NewtonSummaryOptions,
  type Tensor,
} from '../lib';

g.manualSeed(2);
const model = new models.Perceptron([4, 3, 3], { dtype: 'float64' });
const params = model.parameters();
const { paramGroups } = partition.canonical(model);
const x = tensor(
  [
    [1, 2, 3, 4],
    [0, 1, 0, 1],
  ],
  { dtype: 'float64' },
);
const y = tensor([0, 2], { dtype: 'int64' });
const fullLoss = (a: Tensor, b: Tensor) => losses.nll(model.forward(a), b);
const direction = params.map((p) => p.detach().clone());
const disposed = zeros([2]);
disposed.dispose();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-bad-'));

type Case = [string, () => unknown, ErrorConstructor, RegExp];
const errors: Case[] = [
  // wrong shapes, dtypes, devices
  ['matmul shapes', () => zeros([2, 3]).matmul(zeros([4, 5])), RangeError, /matmul: inner dimensions differ: \[2,3\] @ \[4,5\]/],
  [
    'model input of the wrong width',
    () => model.forward(zeros([2, 5], { dtype: 'float64' })),
    RangeError,
    /matmul: inner dimensions differ/,
  ],
  ['float labels', () => losses.nll(model.forward(x), tensor([0, 1])), TypeError, /target must hold int64/],
  ['a device that does not exist here', () => zeros([1], { device: 'cuda' }), TypeError, /no CUDA|device/],
  ['mixed dtypes in matmul', () => zeros([2, 2]).matmul(zeros([2, 2], { dtype: 'float64' })), TypeError, /same dtype/],
  // NaN / Inf in inputs or targets
  [
    'NaN in computeHg inputs',
    () => computeHg(paramGroups, fullLoss, tensor([[NaN, 0, 0, 0]], { dtype: 'float64' }), tensor([1], { dtype: 'int64' }), direction),
    RangeError,
    /computeHg: x holds NaN or Inf/,
  ],
  [
    'Inf in computeHg targets',
    () =>
      computeHg(
        paramGroups,
        (a, b) => losses.mse(model.forward(a), b),
        x,
        tensor(
          [
            [Infinity, 0, 0],
            [0, 0, 0],
          ],
          { dtype: 'float64' },
        ),
        direction,
      ),
    RangeError,
    /computeHg: y holds NaN or Inf/,
  ],
  [
    'NaN in nesterovLrs',
    () =>
      nesterovLrs(tensor([[NaN]], { dtype: 'float64' }), tensor([1], { dtype: 'float64' }), tensor([1], { dtype: 'float64' }), {
        dampingInt: 1,
      }),
    RangeError,
    /NaN or infinite/,
  ],
  // labels out of range
  [
    'label ≥ classes',
    () => losses.nll(model.forward(x), tensor([0, 3], { dtype: 'int64' })),
    RangeError,
    /target\[1\] = 3 is not a class index in 0\.\.2/,
  ],
  ['negative label', () => losses.crossEntropy(model.forward(x), tensor([-1, 0], { dtype: 'int64' })), RangeError, /target\[0\] = -1/],
  // partitions
  ['empty partition', () => computeHg([], fullLoss, x, y, []), TypeError, /paramGroups must be a non-empty array/],
  ['empty subset', () => computeHg([{ params: [] }], fullLoss, x, y, []), RangeError, /paramGroups\[0\] is empty/],
  [
    'overlapping subsets',
    () => computeHg([{ params: [params[0]] }, { params: [params[0]] }], fullLoss, x, y, [direction[0], direction[0]]),
    RangeError,
    /a tensor is in two subsets/,
  ],
  // directions
  [
    'direction of the wrong length',
    () => computeHg(paramGroups, fullLoss, x, y, direction.slice(2)),
    RangeError,
    /direction has 2 tensors, the partition 4 parameters/,
  ],
  [
    'direction of the wrong shape',
    () => computeHg(paramGroups, fullLoss, x, y, [direction[1], ...direction.slice(1)]),
    RangeError,
    /direction\[0\] has shape \[3\], its parameter \[3,4\]/,
  ],
  [
    'direction that is not tensors',
    () => computeHg(paramGroups, fullLoss, x, y, 'u' as never),
    TypeError,
    /direction must be an array of Tensors/,
  ],
  // hg loaders
  ['an empty hg loader', () => stepWith([]), RangeError, /hgLoader yielded no batch/],
  ['an hg loader yielding non-batches', () => stepWith([[x] as never]), TypeError, /hg loader must yield \[x, y\] pairs/],
  [
    'an hg loader with mismatched batches',
    () => stepWith([[x, tensor([0, 1, 2], { dtype: 'int64' })]]),
    RangeError,
    /target must be \[N\] = \[2\]/,
  ],
  // losses
  [
    'a loss that is not a scalar',
    () => computeHg(paramGroups, (a) => model.forward(a), x, y, direction),
    RangeError,
    /the loss must be a scalar/,
  ],
  [
    'a loss with no graph',
    () => computeHg(paramGroups, () => tensor(1, { dtype: 'float64' }), x, y, direction),
    TypeError,
    /the loss has no graph/,
  ],
  // disposed tensors
  ['a disposed tensor in an op', () => disposed.add(1), Error, /add: the tensor has been disposed/],
  ['a disposed tensor as x', () => computeHg(paramGroups, fullLoss, disposed, y, direction), Error, /computeHg: x has been disposed/],
  // hyperparameters
  [
    'periodHg 0',
    () => new NewtonSummary(paramGroups, fullLoss, [[x, y]], { periodHg: 0 }),
    RangeError,
    /periodHg must be an integer \(≥ 1\), got 0/,
  ],
  [
    'damping < 0',
    () => new NewtonSummary(paramGroups, fullLoss, [[x, y]], { damping: -0.1 }),
    RangeError,
    /damping must be a finite number ≥ 0, got -0.1/,
  ],
  [
    'damping NaN',
    () => new NewtonSummary(paramGroups, fullLoss, [[x, y]], { damping: NaN }),
    RangeError,
    /damping must be a finite number ≥ 0, got NaN/,
  ],
  [
    'dampingInt negative',
    () => new NewtonSummary(paramGroups, fullLoss, [[x, y]], { nesterov: { use: true, dampingInt: -1 } }),
    RangeError,
    /nesterov.dampingInt/,
  ],
  ['lr NaN', () => new optim.SGD(params, { lr: NaN }), RangeError, /SGD: lr must be a finite number ≥ 0, got NaN/],
  ['betas out of range', () => new optim.Adam(params, { betas: [1, 0.9] }), RangeError, /betas\[0\] must be in \[0, 1\)/],
  [
    'scheduler factor 0',
    () => new ReduceDampingOnPlateau(new NewtonSummary(paramGroups, fullLoss, [[x, y]]), { factor: 0 }),
    RangeError,
    /factor must be in \(0, 1\)/,
  ],
  // checkpoints
  ['a truncated checkpoint', () => load(truncatedCheckpoint()), Error, /not a valid grnewt checkpoint/],
];

function stepWith(hgLoader: Iterable<[Tensor, Tensor]>) {
  const opt = new NewtonSummary(paramGroups, fullLoss, hgLoader);
  tidy(() => {
    opt.zeroGrad();
    fullLoss(x, y).backward();
  });
  opt.step();
}

function truncatedCheckpoint(): string {
  const file = path.join(dir, 'cut.ckpt');
  save(file, { w: zeros([64]) });
  fs.truncateSync(file, 40);
  return file;
}

describe('bad input gives a typed error naming the argument', () => {
  it.each(errors)('%s', (_, call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});

describe('the finiteness check', () => {
  // One vectorised pass with 16 running sums: every position (first, inside a block, tail after the last
  // full block) and every non-finite kind must be seen; other layouts and dtypes go through ATen's isfinite.
  it('finds a NaN, +Inf or -Inf anywhere, in any layout, and passes large finite values', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const values = Array.from({ length: 1031 }, (_, i) => (i % 7) * 1e30 - 3e30);
      expect(() => checkFinite('check', [['y', tensor(values, { dtype })]])).not.toThrow();
      for (const position of [0, 15, 16, 500, 1023, 1030]) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const withBad = values.slice();
          withBad[position] = bad;
          expect(() => checkFinite('check', [['y', tensor(withBad, { dtype })]])).toThrow('check: y holds NaN or Inf');
        }
      }
      const transposed = tensor(
        [
          [1, 2, 3],
          [4, NaN, 6],
        ],
        { dtype },
      ).transpose(0, 1);
      expect(() => checkFinite('check', [['y', transposed]])).toThrow('check: y holds NaN or Inf');
    }
    expect(() => checkFinite('check', [['y', tensor([1, 2], { dtype: 'int64' })]])).not.toThrow();
  });
  it('checks several tensors in one call and names the first that is not finite', () => {
    const ok = tensor([1, 2]),
      bad = tensor([3, NaN]),
      transposedBad = tensor([
        [1, Infinity],
        [2, 3],
      ]).transpose(0, 1);
    expect(() =>
      checkFinite('check', [
        ['a', ok],
        ['b', ok],
      ]),
    ).not.toThrow();
    expect(() =>
      checkFinite('check', [
        ['a', ok],
        ['b', bad],
        ['c', bad],
      ]),
    ).toThrow('check: b holds NaN or Inf');
    expect(() =>
      checkFinite('check', [
        ['a', ok],
        ['c', transposedBad],
      ]),
    ).toThrow('check: c holds NaN or Inf');
    expect(() =>
      checkFinite('check', [
        ['a', ok],
        ['b', 'not a tensor'],
      ]),
    ).toThrow(TypeError);
  });
});

describe('bad input during training is a recorded skip, never NaN in the parameters', () => {
  const finite = () => params.every((p) => Array.from(p.toArray() as Float64Array).every(Number.isFinite));

  it('a loss that becomes NaN mid-training: NewtonSummary skips the update and says why', () => {
    const opt = new NewtonSummary(paramGroups, fullLoss, [[x, y]], { nesterov: { use: true, dampingInt: 1 } });
    for (const poison of [1, NaN, 1]) {
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).mul(poison).backward();
        opt.step();
      });
    }
    expect(finite()).toBe(true);
    expect(opt.logs.some((l) => /NaN or Inf/.test(l.reason ?? ''))).toBe(true);
  });

  it("a NaN gradient leaves NewtonSummary's updater state as it was, so the next steps train on", () => {
    for (const updater of ['sgd', { name: 'adam' }] as const) {
      // periodHg 1: the NaN step is also one whose learning rates are due (no summaries along a NaN direction)
      const opt = new NewtonSummary(paramGroups, fullLoss, [[x, y]], {
        updater: updater as never,
        periodHg: 1,
        nesterov: { use: true, dampingInt: 1 },
      });
      const stateValues = () =>
        Object.values(opt.stateDict().state).flatMap((s) =>
          Object.values(s).flatMap((v) => (v instanceof g.Tensor ? Array.from(v.toArray() as Float64Array) : [])),
        );
      const run = (poison: number) =>
        tidy(() => {
          opt.zeroGrad();
          fullLoss(x, y).mul(poison).backward();
          opt.step();
        });
      run(1);
      const before = stateValues();
      const paramsBefore = params.map((p) => Array.from(p.toArray() as Float64Array));
      run(NaN);
      expect(stateValues()).toEqual(before);
      expect(params.map((p) => Array.from(p.toArray() as Float64Array))).toEqual(paramsBefore);
      expect(opt.skippedSteps).toBe(1);
      run(1);
      expect(opt.skippedSteps).toBe(1);
      expect(stateValues().every(Number.isFinite)).toBe(true);
      expect(params.map((p) => Array.from(p.toArray() as Float64Array))).not.toEqual(paramsBefore);
    }
  });

  // NewtonSummary on the parameter a with loss k·a (gradient k), no momentum damping and no summary due:
  // step(k) takes one update with that gradient, through the updater alone.
  const steppedByGradient = (a: Tensor, options: NewtonSummaryOptions) => {
    const loss = (k: number) => () => a.mul(k).sum();
    const opt = new NewtonSummary([{ params: [a] }], loss(1), [[zeros([1]), zeros([1])]], {
      momentumDamp: 0,
      periodHg: 1000,
      summaries: 'autograd',
      ...options,
    });
    const step = (k: number) =>
      tidy(() => {
        opt.zeroGrad();
        loss(k)().backward();
        opt.step();
      });
    return { opt, step };
  };

  it("NewtonSummary skips a step whose finite gradient would overflow its updater's state, which stays finite and held", () => {
    // float32, gradient 2e38: the momentum buffer m·buf + g overflows on the second step; Adam's g² on the first.
    for (const updater of ['sgd', { name: 'adam' }] as const) {
      const { opt, step } = steppedByGradient(tensor([1, 1], { requiresGrad: true }), { updater: updater as never });
      if (updater === 'sgd') step(2e38);
      const held = opt.stateDict().state;
      const before = JSON.stringify(Object.values(held).map((s) => Object.values(s).map((v) => (v instanceof g.Tensor ? v.tolist() : v))));
      step(2e38);
      expect([updater, opt.skippedSteps]).toEqual([updater, 1]);
      // the state the caller holds is the optimizer's, unchanged and usable
      expect(JSON.stringify(Object.values(held).map((s) => Object.values(s).map((v) => (v instanceof g.Tensor ? v.tolist() : v))))).toBe(
        before,
      );
      step(1);
      expect(opt.skippedSteps).toBe(1);
      const values = Object.values(opt.stateDict().state).flatMap((s) =>
        Object.values(s).flatMap((v) => (v instanceof g.Tensor ? Array.from(v.toArray() as Float32Array) : [])),
      );
      expect(values.every(Number.isFinite)).toBe(true);
    }
  });

  it('a NewtonSummary step that throws in its summaries still counts, so its state dict loads back', () => {
    let throwNow = false;
    const throwing = (a: Tensor, b: Tensor) => {
      if (throwNow) throw new Error('boom');
      return fullLoss(a, b);
    };
    const opt = new NewtonSummary(paramGroups, throwing, [[x, y]], { periodHg: 1, summaries: 'autograd' });
    const run = () =>
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).backward();
        opt.step();
      });
    run();
    throwNow = true;
    expect(run).toThrow('boom');
    throwNow = false;
    const sd = opt.stateDict();
    expect([sd.step, sd.hgDraws]).toEqual([2, 2]);
    opt.loadStateDict(sd);
    run();
    expect(opt.stateDict().step).toBe(3);
  });

  it('an hg batch holding NaN: the learning rates are kept and the log says why', () => {
    const opt = new NewtonSummary(paramGroups, fullLoss, [
      [tensor([[NaN, 0, 0, 0]], { dtype: 'float64' }), tensor([0], { dtype: 'int64' })],
    ]);
    tidy(() => {
      opt.zeroGrad();
      fullLoss(x, y).backward();
      opt.step();
    });
    expect(opt.logs[0].reason).toMatch(/the hg batch holds NaN or Inf/);
    expect(finite()).toBe(true);
  });

  it('dampingInt = 0 with an indefinite H̄: a recorded skip inside NewtonSummary (a RangeError from nesterovLrs itself)', () => {
    expect(() =>
      nesterovLrs(
        tensor(
          [
            [-1, 0],
            [0, 1],
          ],
          { dtype: 'float64' },
        ),
        tensor([1, 1], { dtype: 'float64' }),
        tensor([1, 1], { dtype: 'float64' }),
        { dampingInt: 0 },
      ),
    ).toThrow(RangeError);
    // L = a² − b² + a + b: along u = ∇L, H̄ = diag(2u_a², −2u_b²) is indefinite.
    const a = tensor([1], { dtype: 'float64', requiresGrad: true }),
      b = tensor([1], { dtype: 'float64', requiresGrad: true });
    const saddle = () => a.pow(2).sub(b.pow(2)).add(a).add(b).sum();
    const opt = new NewtonSummary([{ params: [a] }, { params: [b] }], saddle, [[x, y]], { nesterov: { use: true, dampingInt: 0 } });
    tidy(() => {
      opt.zeroGrad();
      saddle().backward();
      opt.step();
    });
    expect(opt.logs[0].found).toBe(false);
    expect(opt.logs[0].reason).toMatch(/dampingInt = 0 with an H̄ that is not positive definite/);
    expect(opt.lrs()).toEqual([0, 0]);
    expect([a.item(), b.item()]).toEqual([1, 1]);
  });

  // One parameter a (starting at 1) with loss k·a, so its gradient is k; the step of lr would overflow when lr·k
  // passes the dtype's largest value (torch.optim writes Inf there).
  const overflowCase = (dtype: 'float32' | 'float64', k: number) => {
    const a = tensor([1], { dtype, requiresGrad: true });
    const backward = () => a.mul(k).sum().backward();
    return { a, backward };
  };

  it('SGD and Adam skip a step that would overflow a parameter or its state, and count it', () => {
    const cases = [
      { dtype: 'float64', k: 1, make: (a: Tensor) => new optim.SGD([a], { lr: 1e308, momentum: 0.9, nesterov: true }) },
      { dtype: 'float32', k: 1e30, make: (a: Tensor) => new optim.SGD([a], { lr: 1e10 }) },
      // Adam's step is at most about lr, but its second moment (1 − β2)·g² overflows float32 for g = 1e30.
      { dtype: 'float32', k: 1e30, make: (a: Tensor) => new optim.Adam([a], { lr: 1e-3 }) },
      // eps = 0 and a zero gradient: 0/0 in the step.
      { dtype: 'float64', k: 0, make: (a: Tensor) => new optim.Adam([a], { lr: 1e-3, eps: 0 }) },
      // eps = 1e-50 is 0 in float32: the same 0/0.
      { dtype: 'float32', k: 0, make: (a: Tensor) => new optim.Adam([a], { lr: 1e-3, eps: 1e-50 }) },
      // lr beyond float32's largest value: ATen cannot even take the step in float32.
      { dtype: 'float32', k: 1e-30, make: (a: Tensor) => new optim.SGD([a], { lr: 1e39 }) },
      // A negative gradient: the quick bound takes magnitudes (1 + 10·2e38 overflows float32).
      { dtype: 'float32', k: -2e38, make: (a: Tensor) => new optim.SGD([a], { lr: 10 }) },
    ] as const;
    for (const { dtype, k, make } of cases) {
      const { a, backward } = overflowCase(dtype, k);
      const opt = make(a);
      tidy(() => {
        backward();
        opt.step();
      });
      expect([dtype, k, opt.skippedSteps]).toEqual([dtype, k, 1]);
      expect(a.item()).toBe(1);
      // Nothing was written to the state either: it is created by the first step that is taken.
      expect(opt.stateDict().state).toEqual({});
    }
  });

  it('SGD near overflow: a step past the quick bound is tried on copies, and taken when its result is finite', () => {
    // lr = 1e38 is past a quarter of float32's largest value (the bound fails) but lr·g = 1e35 is finite.
    const { a, backward } = overflowCase('float32', 1e-3);
    const opt = new optim.SGD([a], { lr: 1e38 });
    tidy(() => {
      backward();
      opt.step();
    });
    expect(opt.skippedSteps).toBe(0);
    expect(a.item()).toBe(Math.fround(1 - Math.fround(1e38) * Math.fround(1e-3)));
    // Adam with g = 1e20: the bound on g² fails, but (1 − β2)·g·g = 1e37 fits in float32 and the step is taken.
    const big = overflowCase('float32', 1e20);
    const adam = new optim.Adam([big.a], { lr: 1e-3 });
    tidy(() => {
      big.backward();
      adam.step();
    });
    expect(adam.skippedSteps).toBe(0);
    expect(big.a.item()).toBeCloseTo(1 - 1e-3, 6);
    // A first SGD step copies the gradient into the buffer: a momentum beyond float32 is not used yet.
    const first = overflowCase('float32', 1e38);
    const sgd = new optim.SGD([first.a], { lr: 1e-3, momentum: 1e300 });
    tidy(() => {
      first.backward();
      sgd.step();
    });
    expect(sgd.skippedSteps).toBe(0);
    expect(first.a.item()).toBe(Math.fround(1 - Math.fround(1e-3) * Math.fround(1e38)));
  });

  it("SGD with momentum: a step whose new buffer's term (1 − dampening)·g overflows the parameter is skipped", () => {
    // Step 1 (g = 1) makes the buffer 1; step 2 (g = 8e37, finite, below the quick bound's quarter of float32's
    // largest value) makes the buffer 0.9 + 8e37, and p − 10·buffer ≈ −8e38 overflows float32.
    const { a } = overflowCase('float32', 1);
    const opt = new optim.SGD([a], { lr: 10, momentum: 0.9 });
    const step = (k: number) =>
      tidy(() => {
        opt.zeroGrad();
        a.mul(k).sum().backward();
        opt.step();
      });
    step(1);
    expect([a.item(), opt.skippedSteps]).toEqual([-9, 0]);
    step(8e37);
    expect([a.item(), opt.skippedSteps]).toEqual([-9, 1]);
    expect((opt.stateDict().state[0].momentumBuffer as Tensor).item()).toBe(1);
  });

  it("NewtonSummary's momentum updater: a gradient that overflows the buffer's m·buf + g is skipped though m·buf alone is small", () => {
    // float32, momentumDamp 0: buffer 9e37 after step 1 (0.9·9e37 = 8.1e37 passes the quick bound alone),
    // then g = 3e38: 8.1e37 + 3e38 > float32's largest value.
    const { opt, step } = steppedByGradient(tensor([1], { requiresGrad: true }), {});
    step(9e37);
    const skipped = opt.skippedSteps;
    expect((opt.stateDict().state[0].momentumBuffer as Tensor).item()).toBe(Math.fround(9e37));
    step(3e38);
    expect(opt.skippedSteps).toBe(skipped + 1);
    expect((opt.stateDict().state[0].momentumBuffer as Tensor).item()).toBe(Math.fround(9e37));
  });

  it('NewtonSummary skips an update whose negative learning rate (removeNegative: false) overflows the parameter', () => {
    // L = −c·a² + k·a, the ridge-regularised Newton step (ridge 0): η = ḡ/H̄ = −1/(2c) = −5e299, damped ×0.1,
    // is finite but −η·u ≈ 5e308 is not.
    const a = tensor([1], { dtype: 'float64', requiresGrad: true });
    const loss = () => a.pow(2).mul(-1e-300).add(a.mul(1e10)).sum();
    const opt = new NewtonSummary([{ params: [a] }], loss, [[x, y]], {
      nesterov: { use: false },
      removeNegative: false,
      summaries: 'autograd',
    });
    tidy(() => {
      opt.zeroGrad();
      loss().backward();
      opt.step();
    });
    expect(opt.lrs()[0] / -5e298).toBeCloseTo(1, 12);
    expect(opt.logs.at(-1)?.reason).toMatch(/would make a parameter non-finite/);
    expect(opt.skippedSteps).toBe(1);
    expect(a.item()).toBe(1);
  });

  it('NewtonSummary skips an update whose learning rate overflows the parameter, logs why and counts it', () => {
    // L = c·a² + k·a: u = ∇L ≈ k, H̄ = 2c·k², ḡ = k², so η = 1/(2c) = 5e299, damped ×0.1 (the default damping),
    // is finite but η·u ≈ 5e308 is not.
    const a = tensor([1], { dtype: 'float64', requiresGrad: true });
    const loss = () => a.pow(2).mul(1e-300).add(a.mul(1e10)).sum();
    const opt = new NewtonSummary([{ params: [a] }], loss, [[x, y]], { nesterov: { use: true, dampingInt: 0 } });
    tidy(() => {
      opt.zeroGrad();
      loss().backward();
      opt.step();
    });
    expect(opt.lrs()[0] / 5e298).toBeCloseTo(1, 12);
    expect(opt.logs.at(-1)?.reason).toMatch(/would make a parameter non-finite/);
    expect(opt.skippedSteps).toBe(1);
    expect(a.item()).toBe(1);
  });

  it('SGD and Adam skip a step whose gradient holds NaN, and count it', () => {
    for (const opt of [new optim.SGD(params, { lr: 0.1, momentum: 0.9 }), new optim.Adam(params)]) {
      tidy(() => {
        opt.zeroGrad();
        fullLoss(x, y).mul(NaN).backward();
        opt.step();
      });
      expect(opt.skippedSteps).toBe(1);
      expect(finite()).toBe(true);
    }
  });
});
