// SGD and Adam against hand-computed steps with torch.optim's semantics.
import { describe, expect, it } from 'vitest';
import { nn, optim, Tensor, tensor, tidy } from '../lib';
import { expectClose, withGrad } from './helpers';

const f64 = { dtype: 'float64' as const, requiresGrad: true };

describe('optim.SGD', () => {
  it('plain: p ← p − lr·g', () => {
    const p = tensor([1, -2], f64);
    const opt = new optim.SGD([p], { lr: 0.1 });
    withGrad(p, 1);
    opt.step();
    expectClose(p.toArray(), [0.9, -1.8], 1e-15);
  });

  it('momentum, dampening and weight decay over three steps', () => {
    const p = tensor([1], f64);
    // dampening 0.3, not 0.5: the gradient's factor 1 − dampening must differ from dampening itself.
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 });
    let x = 1,
      buf = 0;
    for (let step = 0; step < 3; step++) {
      withGrad(p, 2);
      opt.step();
      const d = 2 * x + 0.01 * x;
      buf = step === 0 ? d : 0.9 * buf + (1 - 0.3) * d; // torch: the first buffer is the gradient itself
      x -= 0.1 * buf;
      expectClose(p.toArray(), [x], 1e-14);
    }
  });

  it('nesterov uses g + m·buf', () => {
    const p = tensor([1], f64);
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
    let x = 1,
      buf = 0;
    for (let step = 0; step < 3; step++) {
      withGrad(p, 1);
      opt.step();
      const g = x;
      buf = step === 0 ? g : 0.9 * buf + g;
      x -= 0.1 * (g + 0.9 * buf);
      expectClose(p.toArray(), [x], 1e-14);
    }
    expect(() => new optim.SGD([p], { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    // torch.optim.SGD refuses Nesterov with dampening too ("Nesterov momentum requires a momentum and zero dampening")
    expect(() => new optim.SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(
      'SGD: nesterov needs momentum > 0 and dampening = 0',
    );
  });

  it('loading a state dict without state drops the momentum buffers: the next step starts a new buffer, as a first step', () => {
    const p = tensor([1], f64);
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    const fresh = new optim.SGD([tensor([0], f64)], { lr: 0.1, momentum: 0.9 }).stateDict();
    for (let k = 0; k < 2; k++) {
      withGrad(p, 1);
      opt.step();
    }
    opt.loadStateDict(fresh);
    expect(opt.stateDict().state).toEqual({});
    const x = p.toArray()[0];
    withGrad(p, 1); // g = x; the buffer starts as g itself, so the step is lr·x (with the old buffer, lr·(0.9·buf + x))
    opt.step();
    expectClose(p.toArray(), [x - 0.1 * x], 1e-15, 0);
  });

  it("the state dict numbers parameters across groups, as torch's (the second group's first parameter is 1)", () => {
    const [a, b, c] = [tensor([1], f64), tensor([2], f64), tensor([3], f64)];
    const opt = new optim.SGD([{ params: [a] }, { params: [b, c], lr: 0.5 }], { lr: 0.1, momentum: 0.9 });
    for (const p of [a, b, c]) withGrad(p, 1);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0], [1, 2]]);
    expect(Object.keys(sd.state)).toEqual(['0', '1', '2']);
    // each buffer is its own parameter's first gradient (g = x before the step)
    expect([0, 1, 2].map((i) => (sd.state[i].momentumBuffer as Tensor).toArray()[0])).toEqual([1, 2, 3]);
  });

  it('per-group options, parameters without gradient untouched, options checked', () => {
    const a = tensor([1], f64),
      b = tensor([1], f64),
      unused = tensor([5], f64);
    const opt = new optim.SGD([{ params: [a] }, { params: [b, unused], lr: 0.5 }], { lr: 0.1 });
    withGrad(a, 1);
    withGrad(b, 1);
    opt.step();
    expectClose(a.toArray(), [0.9], 1e-15);
    expectClose(b.toArray(), [0.5], 1e-15);
    expect(unused.toArray()[0]).toBe(5);
    expect(() => new optim.SGD([a], { lr: -1 })).toThrow('SGD: lr must be a finite number ≥ 0, got -1');
    expect(() => new optim.SGD([a, a], { lr: 1 })).toThrow(/two parameter groups/);
    expect(() => new optim.SGD([], { lr: 1 })).toThrow(TypeError);
  });
});

describe('optim.Adam', () => {
  it('two steps with bias correction and weight decay', () => {
    const p = tensor([1, -0.5], f64);
    const [lr, b1, b2, eps, wd] = [0.01, 0.9, 0.999, 1e-8, 0.1];
    const opt = new optim.Adam([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    let x = [1, -0.5];
    const m = [0, 0],
      v = [0, 0];
    for (let t = 1; t <= 2; t++) {
      withGrad(p, 3);
      opt.step();
      x = x.map((xi, i) => {
        const g = 3 * xi + wd * xi;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
        return xi - ((lr / (1 - b1 ** t)) * m[i]) / denom;
      });
      expectClose(p.toArray(), x, 1e-12);
    }
  });

  it('weight decay is added to the gradient (a constant gradient, so that the decay changes the direction, not only its scale)', () => {
    const p = tensor([1, -0.5], f64);
    const [lr, b1, b2, eps, wd] = [0.1, 0.9, 0.999, 1e-8, 0.5];
    const gc = [0.3, 0.2];
    const opt = new optim.Adam([p], { lr, weightDecay: wd });
    let x = [1, -0.5];
    const m = [0, 0],
      v = [0, 0];
    for (let t = 1; t <= 3; t++) {
      p.clearGrad();
      p.mul(tensor(gc, { dtype: 'float64' }))
        .sum()
        .backward();
      opt.step();
      x = x.map((xi, i) => {
        const g = gc[i] + wd * xi;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        return xi - ((lr / (1 - b1 ** t)) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps);
      });
      expectClose(p.toArray(), x, 1e-12, 0);
    }
  });

  it("defaults are torch.optim.Adam's: lr 1e-3, betas (0.9, 0.999), eps 1e-8", () => {
    // Gradients of 1e-8…5e-6, so that eps changes the steps, varying so that both betas do. Expected values:
    // Python's torch 1.13, torch.optim.Adam([p]) (no options), float64, p = [0.5, -0.25, 2], p.grad set to these
    // gradients before each of three steps; repr() of p after each.
    const p = tensor([0.5, -0.25, 2], f64);
    const opt = new optim.Adam([p]);
    const gradients = [
      [1e-7, -3e-6, 4e-8],
      [2e-7, 5e-6, -1e-8],
      [-1e-7, 1e-6, 3e-8],
    ];
    const expected = [
      [0.4990909090909091, -0.2490033222591362, 1.9992],
      [0.49818313135582376, -0.2492961732794387, 1.9988504522031643],
      [0.49779078512276465, -0.24962690482761615, 1.99835077736596],
    ];
    gradients.forEach((g, k) => {
      p.clearGrad();
      p.mul(tensor(g, { dtype: 'float64' }))
        .sum()
        .backward();
      opt.step();
      expectClose(p.toArray(), expected[k], 1e-13, 0);
    });
  });

  it("a parameter without gradient is not stepped and its step count does not advance (torch's: no state until its first gradient)", () => {
    const [a, b] = [tensor([1], f64), tensor([1], f64)];
    const opt = new optim.Adam([a, b], { lr: 0.1 });
    a.clearGrad();
    a.mul(2).sum().backward();
    opt.step();
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    a.clearGrad();
    a.mul(-1).sum().backward();
    b.clearGrad();
    b.mul(3).sum().backward();
    opt.step();
    // b's first step: m̂ = 3, v̂ = 9, so b = 1 − 0.1·3/(3 + 1e-8); a's second step as torch.optim.Adam computes it
    // (Python's torch 1.13: 0.8733662967024315 after grads 2 then −1 at lr 0.1).
    expectClose(b.toArray(), [1 - (0.1 * 3) / (3 + 1e-8)], 1e-15, 0);
    expectClose(a.toArray(), [0.8733662967024315], 1e-14, 0);
    expect(opt.stateDict().state[1].step).toBe(1);
  });

  it('keeps its state when steps run inside tidy (state tensors belong to the optimizer)', () => {
    for (const make of [(q: Tensor) => new optim.Adam([q]), (q: Tensor) => new optim.SGD([q], { lr: 0.1, momentum: 0.9 })]) {
      const [inside, outside] = [tensor([1, 2], f64), tensor([1, 2], f64)];
      const [a, b] = [make(inside), make(outside)];
      for (let i = 0; i < 3; i++) {
        tidy(() => {
          withGrad(inside, 1);
          a.step();
        });
        withGrad(outside, 1);
        b.step();
      }
      expect(inside.toArray()).toEqual(outside.toArray());
      expect(inside.toArray()[0]).toBeLessThan(1);
    }
  });

  it('state dict round trip continues identically', () => {
    const p = tensor([1, 2], f64),
      q = tensor([1, 2], f64);
    const a = new optim.Adam([p], { lr: 0.1 });
    withGrad(p, 1);
    a.step();
    const b = new optim.Adam([q], { lr: 0.1 });
    q.assign(p, true);
    b.loadStateDict(a.stateDict());
    withGrad(p, 1);
    withGrad(q, 1);
    a.step();
    b.step();
    expect(q.toArray()).toEqual(p.toArray());
  });
});

describe('optimizers after Module.to', () => {
  // The state follows its parameter to the new dtype (as torch's loadStateDict casts it): the next step equals
  // the one of an optimizer given that state converted by hand.
  const makers = {
    Adam: (ps: Tensor[]) => new optim.Adam(ps, { lr: 0.1 }),
    SGD: (ps: Tensor[]) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9 }),
  };
  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: a float32 state becomes float64 with its parameters, and the step is the converted state's`, () => {
      const moved = new nn.Linear(3, 2, { dtype: 'float32' });
      const opt = make(moved.parameters());
      moved.parameters().forEach((p) => withGrad(p, 1));
      opt.step();
      moved.to({ dtype: 'float64' });
      const twin = new nn.Linear(3, 2, { dtype: 'float64' });
      twin.parameters().forEach((p, k) => p.assign(moved.parameters()[k], true));
      const reference = make(twin.parameters());
      const sd = opt.stateDict();
      const converted = Object.fromEntries(
        Object.entries(sd.state).map(([k, s]) => [
          k,
          Object.fromEntries(Object.entries(s).map(([n, v]) => [n, v instanceof Tensor ? v.to({ dtype: 'float64' }) : v])),
        ]),
      );
      reference.loadStateDict({ ...sd, state: converted });
      for (const m of [moved, twin]) m.parameters().forEach((p) => withGrad(p, 1));
      opt.step();
      reference.step();
      moved.parameters().forEach((p, k) => {
        expect(p.dtype).toBe('float64');
        expect(p.toArray()).toEqual(twin.parameters()[k].toArray());
      });
      for (const s of Object.values(opt.stateDict().state))
        for (const v of Object.values(s)) if (v instanceof Tensor) expect(v.dtype).toBe('float64');
    });
  }
});

describe('options changed between steps', () => {
  it('a group option set to a bad value is named by the step, before anything changes', () => {
    const p = tensor([1, 2], f64);
    const opt = new optim.Adam([p], { lr: 0.1 });
    withGrad(p, 1);
    opt.paramGroups[0].lr = 'x' as never;
    expect(() => opt.step()).toThrow(new TypeError('Adam.step: paramGroups[0]: lr must be a number, got "x"'));
    opt.paramGroups[0].lr = Number.NaN;
    expect(() => opt.step()).toThrow(/^Adam\.step: paramGroups\[0\]: lr must be a finite number/);
    expect(p.toArray()).toEqual(Float64Array.from([1, 2]));
    opt.paramGroups[0].lr = 0.1;
    opt.step();
    expect(p.toArray()[0]).toBeLessThan(1);
  });
});

describe('params changed between steps', () => {
  it('a tensor listed twice or something not a Tensor is named, before anything changes (it was stepped twice, or "p.clearGrad is not a function")', () => {
    for (const make of [(ps: Tensor[]) => new optim.SGD(ps, { lr: 0.1 }), (ps: Tensor[]) => new optim.Adam(ps, { lr: 0.1 })]) {
      const p = tensor([1, 2], f64);
      const opt = make([p]);
      const name = opt instanceof optim.SGD ? 'SGD' : 'Adam';
      withGrad(p, 1);
      opt.paramGroups[0].params.push(p);
      expect(() => opt.step()).toThrow(`${name}.step: paramGroups[0].params[1] is listed twice: it would be stepped twice`);
      expect(p.toArray()).toEqual(Float64Array.from([1, 2]));
      opt.paramGroups[0].params.splice(1, 1, 5 as never);
      expect(() => opt.zeroGrad()).toThrow(`${name}.zeroGrad: paramGroups[0].params[1] must be a Tensor, got 5`);
      // A tensor appended (as torch's add_param_group allows) is stepped as the others are.
      const q = tensor([3], f64);
      opt.paramGroups[0].params.splice(1, 1, q);
      withGrad(q, 1);
      opt.step();
      expect(q.toArray()[0]).toBeLessThan(3);
    }
  });
});
