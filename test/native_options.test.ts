// The exports with more than three scalar settings take one options object, read by key (native/addon/
// js_options.h). Each key is required: leaving one out, giving it the wrong type, or an integer out of its
// range is a JS error that names the export and the key, thrown before anything is changed.
import { describe, expect, it } from 'vitest';
import { ones, randn, type Tensor } from '../lib';
import { native } from '../lib/core/native';
import { declaredExports } from './native_declaration';

const n = native();
const h = (t: Tensor) => t.handle('test');

/** A parameter with a gradient, so the optimizer updates have something to apply. */
function param(): Tensor {
  const p = randn([3], { requiresGrad: true });
  p.mul(p).sum().backward();
  return p;
}

interface Case {
  /** A complete, valid options object. */
  valid: Record<string, unknown>;
  /** The integer keys and their range's bounds. */
  integers: Record<string, [number, number]>;
  /** Calls the export with `options`; returns the parameter it would change (if any), to check it is untouched. */
  call: (options: Record<string, unknown>) => { run: () => unknown; param?: Tensor };
}

const linearSteps = () => [{ kind: 'linear', weight: h(randn([3, 4], { requiresGrad: true })), dweight: h(ones([3, 4])), weightGroup: 0 }];
const taylorCall = (name: 'taylorHg' | 'taylorHgProfile' | 'taylorHgAsync'): Case => ({
  valid: { loss: 'mse', groups: 1, noregul: false, diagonal: false },
  integers: { groups: [1, 2147483647] },
  call: (options) => ({ run: () => n[name](linearSteps() as never, h(randn([2, 4])), h(randn([2, 3])), options as never) }),
});

/** An optimizer export's case: called on a fresh parameter with a gradient, which must stay untouched when refused. */
const onParam = (
  valid: Case['valid'],
  integers: Case['integers'],
  run: (p: Tensor, options: Record<string, unknown>) => unknown,
): Case => ({
  valid,
  integers,
  call: (options) => {
    const p = param();
    return { param: p, run: () => run(p, options) };
  },
});
// The update rules' settings, shared by each rule and its overflow check.
const SGD_VALID = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: false };
const ADAM_MOMENTS_VALID = { step: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const ADAM_VALID = { ...ADAM_MOMENTS_VALID, lr: 0.1, weightDecay: 0.01 };
const STEP_RANGE: Case['integers'] = { step: [1, 2 ** 53 - 1] };

const CASES: Record<string, Case> = {
  sgdStep: onParam(SGD_VALID, {}, (p, o) => n.sgdStep(h(p), null, o as never)),
  sgdStepStaysFinite: onParam(SGD_VALID, {}, (p, o) => n.sgdStepStaysFinite(h(p), null, o as never)),
  adamStep: onParam(ADAM_VALID, STEP_RANGE, (p, o) => n.adamStep(h(p), null, null, o as never)),
  adamStepStaysFinite: onParam(ADAM_VALID, STEP_RANGE, (p, o) => n.adamStepStaysFinite(h(p), null, null, o as never)),
  adamDirection: onParam(ADAM_MOMENTS_VALID, STEP_RANGE, (p, o) => n.adamDirection(h(p), null, null, o as never)),
  adamDirectionStaysFinite: onParam(ADAM_MOMENTS_VALID, STEP_RANGE, (p, o) => n.adamDirectionStaysFinite(h(p), null, null, o as never)),
  // A valid call joins a real group of one (on a port picked at random, unlikely to be taken), then leaves it.
  distributedInit: {
    valid: {
      backend: 'gloo',
      rank: 0,
      worldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: 30000 + Math.floor(Math.random() * 20000),
      timeoutMs: 10000,
      localRank: -1,
    },
    integers: {
      rank: [0, 2147483646],
      worldSize: [1, 2147483647],
      masterPort: [1, 65535],
      timeoutMs: [1, 2147483647],
      localRank: [-1, 2147483647],
    },
    call: (options) => ({ run: () => n.distributedInit(options as never).then(() => n.distributedDestroy()) }),
  },
  taylorHg: taylorCall('taylorHg'),
  taylorHgProfile: taylorCall('taylorHgProfile'),
  taylorHgAsync: taylorCall('taylorHgAsync'),
};

/** A value of another type than `v`'s. */
const wrongType = (v: unknown): unknown => (typeof v === 'number' ? String(v) : typeof v === 'boolean' ? 1 : 7);
const kindOf = (v: unknown) => (typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : 'a string');

/** Runs the call expecting `error` matching `message`, and checks the parameter kept its values. */
function expectRefused(c: Case, options: Record<string, unknown>, error: typeof TypeError | typeof RangeError, message: RegExp) {
  const { run, param: p } = c.call(options);
  const before = p ? Array.from(p.toArray() as Float32Array) : [];
  expect(run).toThrow(error);
  expect(run).toThrow(message);
  if (p) expect(Array.from(p.toArray() as Float32Array)).toEqual(before);
}

describe('native options objects are read by key, each key named in its error', () => {
  it('every export declared with an options object is in this table', () => {
    const withOptions = declaredExports()
      .filter((m) => m.parameters.includes('options'))
      .map((m) => m.name);
    expect(withOptions.sort()).toEqual(Object.keys(CASES).sort());
  });

  for (const [name, c] of Object.entries(CASES)) {
    describe(name, () => {
      it('a valid options object is accepted', async () => {
        const result = c.call(c.valid).run();
        if (result instanceof Promise) await result;
      });

      it('options that are not an object: TypeError', () => {
        for (const bad of [undefined, null, 1, 'options', [], () => 0]) {
          expectRefused(c, bad as never, TypeError, new RegExp(`^${name}: options must be an object, got`));
        }
      });

      for (const key of Object.keys(c.valid)) {
        it(`options.${key} missing: TypeError naming it`, () => {
          const { [key]: _, ...rest } = c.valid;
          const expected = key in c.integers ? 'an integer' : kindOf(c.valid[key]);
          expectRefused(c, rest, TypeError, new RegExp(`^${name}: options\\.${key} is missing \\(${expected}\\)$`));
        });

        it(`options.${key} of the wrong type: TypeError naming it`, () => {
          const bad = wrongType(c.valid[key]);
          const expected = key in c.integers ? 'an integer' : kindOf(c.valid[key]);
          expectRefused(
            c,
            { ...c.valid, [key]: bad },
            TypeError,
            new RegExp(`^${name}: options\\.${key} must be ${expected}, got ${kindOf(bad)}$`),
          );
          expectRefused(c, { ...c.valid, [key]: null }, TypeError, new RegExp(`^${name}: options\\.${key} must be ${expected}, got null$`));
        });
      }

      for (const [key, [min, max]] of Object.entries(c.integers)) {
        it(`options.${key} out of ${min}..${max} or not an integer: RangeError naming it`, () => {
          for (const v of [min - 1, max + 2, 2 ** 64, -(2 ** 64), 1.5, NaN, Infinity]) {
            expectRefused(
              c,
              { ...c.valid, [key]: v },
              RangeError,
              new RegExp(`^${name}: options\\.${key} must be an integer in ${min}\\.\\.${max}, got `),
            );
          }
        });
      }
    });
  }

  it("taylorHg's loss must be one it knows, named as options.loss", () => {
    expectRefused(
      CASES.taylorHg,
      { ...CASES.taylorHg.valid, loss: 'nll' },
      TypeError,
      /^taylorHg: options\.loss must be 'crossEntropy' or 'mse', got 'nll'$/,
    );
  });

  it('a getter that throws on a key: that error, and the parameter unchanged', () => {
    const options = { ...CASES.sgdStep.valid };
    Object.defineProperty(options, 'weightDecay', {
      get: () => {
        throw new Error('getter failed');
      },
    });
    expectRefused(CASES.sgdStep, options, Error, /getter failed/);
  });
});
