// Every hold on parameters taken by an asynchronous call (lib/core/pending_holds.ts) is released on every path: a failure
// is injected at each stage of computeHgAsync, computeHgTaylorAsync and NewtonSummary.stepAsync, and
// afterwards the same parameters must be usable (a step, a state-dict load, another asynchronous call).
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as g from '../lib';
import { NewtonSummary, computeHgAsync, computeHgTaylorAsync, losses, models, optim, partition, randn, tensor, type Tensor } from '../lib';
import { native } from '../lib/core/native';

function problem() {
  g.manualSeed(3);
  const model = new models.Perceptron([6, 5, 3]);
  const x = randn([16, 6]);
  const y = tensor(Int32Array.from({ length: 16 }, (_, i) => i % 3));
  const fullLoss = (a: Tensor, b: Tensor) => losses.nll(model.forward(a), b);
  const { paramGroups } = partition.canonical(model);
  const direction = model.parameters().map((p) => randn(p.shape));
  return { model, x, y, fullLoss, paramGroups, direction };
}

type Problem = ReturnType<typeof problem>;
const nanX = (p: Problem) => p.x.mul(tensor(NaN));

/** The parameters are free again: an optimizer step, a state-dict load and both asynchronous calls work. */
async function expectReleased(p: Problem) {
  p.fullLoss(p.x, p.y).backward();
  expect(() => new optim.SGD(p.model.parameters(), { lr: 0.01 }).step()).not.toThrow();
  expect(() => p.model.loadStateDict(p.model.stateDict())).not.toThrow();
  await expect(computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction)).resolves.toHaveProperty('H');
  await expect(computeHgTaylorAsync(p.model, p.paramGroups, p.x, p.y, p.direction)).resolves.toHaveProperty('H');
}

afterEach(() => vi.restoreAllMocks());

// Each stage of an asynchronous call, with a failure injected there.
const stages: Array<[string, (p: Problem) => Promise<unknown>]> = [
  [
    'computeHgAsync: the forward pass throws',
    (p) =>
      computeHgAsync(
        p.paramGroups,
        () => {
          throw new Error('forward failed');
        },
        p.x,
        p.y,
        p.direction,
      ),
  ],
  ['computeHgAsync: the loss function returns no tensor', (p) => computeHgAsync(p.paramGroups, (() => 3) as never, p.x, p.y, p.direction)],
  ['computeHgAsync: NaN in the input', (p) => computeHgAsync(p.paramGroups, p.fullLoss, nanX(p), p.y, p.direction)],
  [
    'computeHgAsync: the native call throws synchronously',
    (p) => {
      vi.spyOn(native(), 'computeHgAsync').mockImplementation(() => {
        throw new Error('native failure');
      });
      return computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    },
  ],
  [
    'computeHgAsync: the worker thread rejects',
    (p) => {
      vi.spyOn(native(), 'computeHgAsync').mockImplementation(() => Promise.reject(new Error('worker failure')));
      return computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    },
  ],
  [
    'computeHgAsync: wrapping the result fails',
    (p) => {
      vi.spyOn(native(), 'computeHgAsync').mockImplementation(() => Promise.resolve(null as never));
      return computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    },
  ],
  ['computeHgTaylorAsync: NaN in the input', (p) => computeHgTaylorAsync(p.model, p.paramGroups, nanX(p), p.y, p.direction)],
  [
    'computeHgTaylorAsync: the native call throws synchronously',
    (p) => {
      vi.spyOn(native(), 'taylorHgAsync').mockImplementation(() => {
        throw new Error('native failure');
      });
      return computeHgTaylorAsync(p.model, p.paramGroups, p.x, p.y, p.direction);
    },
  ],
  [
    'computeHgTaylorAsync: the worker thread rejects',
    (p) => {
      vi.spyOn(native(), 'taylorHgAsync').mockImplementation(() => Promise.reject(new Error('worker failure')));
      return computeHgTaylorAsync(p.model, p.paramGroups, p.x, p.y, p.direction);
    },
  ],
  [
    'computeHgTaylorAsync: wrapping the result fails',
    (p) => {
      vi.spyOn(native(), 'taylorHgAsync').mockImplementation(() => Promise.resolve(undefined as never));
      return computeHgTaylorAsync(p.model, p.paramGroups, p.x, p.y, p.direction);
    },
  ],
];

describe('holds on parameters are released on every path', () => {
  for (const [stage, call] of stages) {
    it(stage, async () => {
      const p = problem();
      await expect(call(p)).rejects.toThrow();
      vi.restoreAllMocks();
      await expectReleased(p);
    });
  }

  it('NewtonSummary.stepAsync after a transient failure of its summaries keeps working', async () => {
    const p = problem();
    let failing = true;
    const fullLoss = (a: Tensor, b: Tensor) => {
      if (failing) throw new Error('transient');
      return p.fullLoss(a, b);
    };
    const opt = new NewtonSummary(p.paramGroups, fullLoss, [[p.x, p.y]], { periodHg: 1, momentum: 0.9 });
    p.fullLoss(p.x, p.y).backward();
    await expect(opt.stepAsync()).rejects.toThrow('transient');
    failing = false;
    await expect(opt.stepAsync()).resolves.toBeUndefined();
    expect(() => opt.step()).not.toThrow();
    await expectReleased(p);
  });

  it('NewtonSummary.stepAsync with a hg batch holding NaN skips the update and releases everything', async () => {
    const p = problem();
    const opt = new NewtonSummary(p.paramGroups, p.fullLoss, [[nanX(p), p.y]], { periodHg: 1 });
    p.fullLoss(p.x, p.y).backward();
    await opt.stepAsync();
    expect(opt.logs.at(-1)?.reason).toMatch(/NaN or Inf/);
    await expectReleased(p);
  });
});
