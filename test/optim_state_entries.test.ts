// A loaded optimizer state is the updater's own, whole: NewtonSummary's per-parameter state is its updater's
// (momentumBuffer, or Adam's step, expAvg and expAvgSq), checked as SGD and Adam check theirs; Adam's three
// values come together (a step count without its moments, or moments without it, made a silently different
// update, or an error from the native step); and a refused state dict leaves the optimizer as it was.
import { describe, expect, it } from 'vitest';
import { NewtonSummary, Tensor, losses, manualSeed, models, optim, partition, randn, tensor, tidy } from '../lib';

function batch(seed: number): [Tensor, Tensor] {
  manualSeed(seed);
  return [
    randn([16, 4], { dtype: 'float64' }),
    tensor(
      Int32Array.from({ length: 16 }, (_, i) => i % 3),
      { dtype: 'int64' },
    ),
  ];
}

function newtonSummary(updater: 'sgd' | { name: 'adam' }) {
  manualSeed(1);
  const model = new models.Perceptron([4, 5, 3], { classification: true, dtype: 'float64' });
  const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
  const [x, y] = batch(2);
  const opt = new NewtonSummary(partition.wb(model).paramGroups, fullLoss, [[x, y]], { periodHg: 1, updater, summaries: 'autograd' });
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      fullLoss(x, y).backward();
      opt.step();
    });
  step();
  return { model, opt, step };
}

describe("NewtonSummary's per-parameter state", () => {
  it("is the SGD updater's momentumBuffer Tensor, nothing else", () => {
    const { opt } = newtonSummary('sgd');
    for (const entry of [{ foo: 5 }, { momentumBuffer: 5 }, { expAvg: opt.stateDict().state[0].momentumBuffer }]) {
      const sd = opt.stateDict();
      sd.state[0] = entry as never;
      expect(() => opt.loadStateDict(sd), JSON.stringify(Object.keys(entry))).toThrow(
        /state 0\.\w+: SGD's state is a momentumBuffer Tensor/,
      );
    }
  });

  it("is the Adam updater's step, expAvg and expAvgSq, checked as Adam checks them, all three together", () => {
    const { opt } = newtonSummary({ name: 'adam' });
    const cases: Array<[(s: Record<string, unknown>) => void, RegExp]> = [
      [(s) => delete s.step, /state 0 lacks step: Adam's state is step, expAvg and expAvgSq together/],
      [(s) => delete s.expAvgSq, /state 0 lacks expAvgSq/],
      [(s) => (s.step = 1.5), /state 0\.step must be an integer/],
      [(s) => (s.step = 2 ** 53 - 1), /state 0\.step must be an integer ≤ 9007199254740990/],
      [(s) => (s.expAvgSq = (s.expAvgSq as Tensor).neg().sub(1)), /state 0\.expAvgSq holds negative values/],
      [(s) => (s.momentumBuffer = s.expAvg), /Adam's state is step, expAvg and expAvgSq, got "momentumBuffer"/],
    ];
    for (const [patch, message] of cases) {
      const sd = opt.stateDict();
      sd.state[0] = { ...sd.state[0] };
      patch(sd.state[0] as Record<string, unknown>);
      expect(() => opt.loadStateDict(sd)).toThrow(message);
    }
  });

  it('still loads back what it saved, for either updater', () => {
    for (const updater of ['sgd', { name: 'adam' }] as const) {
      const a = newtonSummary(updater);
      const b = newtonSummary(updater);
      b.opt.loadStateDict(a.opt.stateDict());
      a.step();
      b.step();
      expect(b.model.parameters().map((p) => p.toArray())).toEqual(a.model.parameters().map((p) => p.toArray()));
    }
  });

  it('is left as it was when a later field of the state dict is refused', () => {
    const { opt } = newtonSummary('sgd');
    const before = opt.lrs();
    const buffer = (opt.stateDict().state[0].momentumBuffer as Tensor).toArray();
    const sd = opt.stateDict();
    const changed = {
      ...sd,
      state: { 0: { momentumBuffer: (sd.state[0].momentumBuffer as Tensor).add(1) } },
      paramGroups: sd.paramGroups.map((g) => ({ ...g, lr: 0.5 })),
      summaries: { route: 'bogus', loss: null },
    };
    expect(() => opt.loadStateDict(changed as never)).toThrow(/summaries\.route must be 'taylor' or 'autograd'/);
    expect(opt.lrs()).toEqual(before);
    expect((opt.stateDict().state[0].momentumBuffer as Tensor).toArray()).toEqual(buffer);
  });
});

describe("Adam's state of a parameter", () => {
  function adam() {
    const w = randn([3, 2], { requiresGrad: true });
    const opt = new optim.Adam([w], { lr: 0.1 });
    w.mul(w).sum().backward();
    opt.step();
    return opt;
  }

  it('is refused unless its three values come together', () => {
    for (const missing of ['step', 'expAvg', 'expAvgSq']) {
      const sd = adam().stateDict();
      sd.state[0] = { ...sd.state[0] };
      delete sd.state[0][missing];
      expect(() => adam().loadStateDict(sd), missing).toThrow(new RegExp(`state 0 lacks ${missing}`));
    }
  });

  it("is refused from torch's layout too when a moment is None", () => {
    const sd = adam().stateDict();
    const torch = {
      state: { 0: { step: tensor([3]), exp_avg: sd.state[0].expAvg, exp_avg_sq: null } },
      param_groups: [{ params: [0], lr: 0.1 }],
    };
    expect(() => adam().loadStateDict(torch as never)).toThrow(/state 0 lacks expAvgSq/);
  });

  it('may be empty (a parameter not stepped yet)', () => {
    const sd = adam().stateDict();
    sd.state = {};
    expect(() => adam().loadStateDict(sd)).not.toThrow();
  });
});

describe('the state dict taken after Module.to', () => {
  it("holds the state in the parameters' new dtype, so that it loads back (its own optimizer refused it)", () => {
    for (const make of [
      (ps: Tensor[]) => new optim.Adam(ps, { lr: 0.1 }),
      (ps: Tensor[]) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9 }),
    ]) {
      const trained = () => {
        manualSeed(3);
        const model = new models.Perceptron([3, 2], { dtype: 'float32' });
        const opt = make(model.parameters());
        const [x, y] = [randn([4, 3]), tensor([0, 1, 0, 1], { dtype: 'int64' })];
        losses.nll(model.forward(x), y).backward();
        opt.step();
        model.to({ dtype: 'float64' }); // the state used to follow only at the next step
        const next = () => {
          opt.zeroGrad();
          losses.nll(model.forward(x.to({ dtype: 'float64' })), y).backward();
          opt.step();
          return model.parameters().map((p) => p.toArray());
        };
        return { opt, next };
      };
      const reference = trained().next();
      const { opt, next } = trained();
      const sd = opt.stateDict();
      for (const entry of Object.values(sd.state))
        for (const v of Object.values(entry as Record<string, unknown>)) if (v instanceof Tensor) expect(v.dtype).toBe('float64');
      opt.loadStateDict(sd);
      expect(next()).toEqual(reference);
    }
  });
});
