// Optimizers' loadStateDict accepts exactly what their constructor accepts: every option of every group is
// checked by the constructor's own check (a NaN lr from a checkpoint would make the next step write NaN into
// every parameter), unknown keys (`__proto__` among them) are refused, and per-parameter state is checked.
import { describe, expect, it } from 'vitest';
import { optim, randn, tensor, type Tensor } from '../lib';

type Make = (
  params: Tensor[],
  options?: Record<string, unknown>,
) => {
  paramGroups: Array<Record<string, unknown>>;
  // biome-ignore lint/suspicious/noExplicitAny: each optimizer's own state dict type
  stateDict(): any;
  loadStateDict(sd: unknown): void;
  step(): void;
};
const makers: Array<[string, Make]> = [
  ['SGD', (p, o) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, ...o } as never) as never],
  ['Adam', (p, o) => new optim.Adam(p, { lr: 0.1, ...o } as never) as never],
];
// Values a checkpoint could carry; each option is tried with each of them.
const candidates: unknown[] = [
  NaN,
  Infinity,
  -Infinity,
  -1,
  0,
  0.5,
  1,
  2,
  1e308,
  '0.1',
  null,
  true,
  [],
  [0.9, 0.999],
  [NaN, 0.5],
  [0.5, 1],
  {},
];

function trained(make: Make) {
  const w = randn([3, 2], { requiresGrad: true });
  const opt = make([w]);
  w.mul(w).sum().backward();
  opt.step();
  return { w, opt };
}

describe.each(makers)('%s.loadStateDict', (_name, make) => {
  it('accepts a group option exactly when the constructor accepts it, and never steps into NaN', () => {
    const { opt } = trained(make);
    const options = Object.keys(opt.paramGroups[0]).filter((k) => k !== 'params');
    expect(options.length).toBeGreaterThan(1);
    for (const option of options) {
      for (const value of candidates) {
        const w = randn([3, 2], { requiresGrad: true });
        let constructorAccepts = true;
        try {
          make([w], { [option]: value });
        } catch {
          constructorAccepts = false;
        }
        const target = make([w]);
        const sd = opt.stateDict();
        sd.paramGroups[0] = { ...sd.paramGroups[0], [option]: value };
        let loaded = true;
        try {
          target.loadStateDict(sd);
        } catch (err) {
          loaded = false;
          expect(err).toBeInstanceOf(Error);
        }
        expect([option, value, loaded]).toEqual([option, value, constructorAccepts]);
        // 1e308 passes both checks (as in torch) but overflows any float32 step: that is a range question of
        // the options themselves, not of loading, and is left out of the step check.
        if (loaded && value !== 1e308) {
          w.mul(w).sum().backward();
          target.step();
          expect([option, value, (w.toArray() as Float32Array).every(Number.isFinite)]).toEqual([option, value, true]);
        }
      }
    }
  });

  it('refuses unknown keys, __proto__ included, and leaves the prototype alone', () => {
    const { opt } = trained(make);
    for (const key of ['__proto__', 'constructor', 'nonsense']) {
      const sd = opt.stateDict();
      const group = JSON.parse(JSON.stringify({ ...sd.paramGroups[0], params: [0] }));
      Object.defineProperty(group, key, { value: { lr: NaN, polluted: true }, enumerable: true });
      sd.paramGroups[0] = group;
      const target = make([randn([3, 2], { requiresGrad: true })]);
      expect(() => target.loadStateDict(sd)).toThrow(/unknown option/);
      expect(Object.getPrototypeOf(target.paramGroups[0])).toBe(Object.prototype);
      expect((target.paramGroups[0] as { polluted?: unknown }).polluted).toBeUndefined();
    }
  });

  it('refuses per-parameter state that is not finite, of another shape, or unknown', () => {
    const { opt } = trained(make);
    const stateKeys = Object.keys(opt.stateDict().state[0]);
    const bad: unknown[] = [
      tensor([
        [NaN, 0],
        [0, 0],
        [0, 0],
      ]),
      randn([2, 3]),
      randn([3, 2], { dtype: 'float64' }),
      NaN,
      'x',
      {},
    ];
    for (const key of [...stateKeys, '__proto__', 'extra']) {
      for (const value of bad) {
        const sd = opt.stateDict();
        const entry = { ...sd.state[0] };
        Object.defineProperty(entry, key, { value, enumerable: true, configurable: true, writable: true });
        sd.state[0] = entry;
        const target = make([randn([3, 2], { requiresGrad: true })]);
        expect(() => target.loadStateDict(sd), `${key} = ${String(value)}`).toThrow();
      }
    }
  });

  it('still restores a state dict it wrote, exactly', () => {
    const { opt, w } = trained(make);
    const w2 = tensor(w.toArray() as Float32Array, { shape: [3, 2], requiresGrad: true });
    const copy = make([w2]);
    copy.loadStateDict(opt.stateDict());
    opt.zeroGrad();
    for (const t of [w, w2]) t.mul(t).sum().backward();
    opt.step();
    copy.step();
    expect(w2.toArray()).toEqual(w.toArray());
  });
});

describe('Adam state', () => {
  it('refuses a step count below 1 or fractional, and a negative second moment', () => {
    const { opt } = trained(makers[1][1]);
    for (const patch of [
      { step: 0 },
      { step: 1.5 },
      { step: NaN },
      {
        expAvgSq: tensor([
          [-1, 0],
          [0, 0],
          [0, 0],
        ]),
      },
    ]) {
      const sd = opt.stateDict();
      sd.state[0] = { ...sd.state[0], ...patch };
      expect(() => makers[1][1]([randn([3, 2], { requiresGrad: true })]).loadStateDict(sd)).toThrow(RangeError);
    }
  });
});
