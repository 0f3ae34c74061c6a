// Off-thread work: computeHgAsync and NewtonSummary.stepAsync keep the event loop free, give the same
// numbers as their synchronous twins, refuse concurrent use of the same parameters, and reject with typed errors.
import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import {
  NewtonSummary,
  computeHg,
  computeHgAsync,
  losses,
  memory,
  models,
  optim,
  partition,
  randn,
  tensor,
  tidy,
  type Tensor,
} from '../lib';
import { native } from '../lib/core/native';

function problem(batch: number, sizes = [784, 200, 100, 10]) {
  grnewt.manualSeed(11);
  const model = new models.Perceptron(sizes);
  const x = randn([batch, sizes[0]]);
  const y = tensor(Int32Array.from({ length: batch }, (_, i) => i % sizes.at(-1)!));
  const fullLoss = (a: Tensor, b: Tensor) => losses.nll(model.forward(a), b);
  const { paramGroups } = partition.canonical(model);
  const direction = model.parameters().map((p) => randn(p.shape));
  return { model, x, y, fullLoss, paramGroups, direction };
}

/** setInterval ticks while `work` runs. */
async function ticksDuring(work: () => unknown): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  await new Promise((r) => setTimeout(r, 5));
  ticks = 0;
  await work();
  const during = ticks;
  clearInterval(timer);
  return during;
}

describe('computeHgAsync', () => {
  it('equals computeHg', async () => {
    const p = problem(64, [20, 10, 3]);
    const sync = computeHg(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    const async = await computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    for (const k of ['H', 'g', 'order3'] as const) expect(async[k].toArray()).toEqual(sync[k].toArray());
  });

  it('leaves the event loop free (timer ticks during the call), where the sync call blocks it', async () => {
    const p = problem(3000);
    const blocked = await ticksDuring(() => computeHg(p.paramGroups, p.fullLoss, p.x, p.y, p.direction));
    const free = await ticksDuring(() => computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction));
    expect(blocked).toBe(0);
    expect(free).toBeGreaterThan(10);
  });

  it('refuses a second call or an optimizer step on the same parameters while pending', async () => {
    const p = problem(512, [50, 20, 3]);
    const first = computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    await expect(computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction)).rejects.toThrow(/in use by a pending computeHgAsync/);
    const sgd = new optim.SGD(p.model.parameters(), { lr: 0.1 });
    expect(() => sgd.step()).toThrow(/SGD.step: a parameter is in use by a pending computeHgAsync/);
    expect(() => p.model.loadStateDict(p.model.stateDict())).toThrow(/in use/);
    await first;
    expect(() => sgd.step()).not.toThrow(); // released once settled
    await expect(computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction)).resolves.toHaveProperty('H');
  });

  it('refuses requiresGrad changed on a parameter while pending (the worker read it as it changed: a bare libtorch error)', async () => {
    const p = problem(512, [50, 20, 3]);
    const [w] = p.model.parameters();
    const pending = computeHgAsync(p.paramGroups, p.fullLoss, p.x, p.y, p.direction);
    expect(() => {
      w.requiresGrad = false;
    }).toThrow(/requiresGrad: a parameter is in use by a pending computeHgAsync/);
    expect(w.requiresGrad).toBe(true);
    await expect(pending).resolves.toHaveProperty('H');
  });

  it('rejects with the typed error raised on the worker thread', async () => {
    const p = problem(8, [4, 3, 2]);
    const w = p.paramGroups[0].params[0];
    const loss = p.fullLoss(p.x, p.y);
    const h = (t: Tensor) => t.handle('test');
    await expect(
      native().computeHgAsync(h(loss), [[h(w)], [h(w)]], [[h(p.direction[0])], [h(p.direction[0])]], false, false),
    ).rejects.toThrow(RangeError);
    await expect(
      native().computeHgAsync(h(loss), [[h(w)], [h(w)]], [[h(p.direction[0])], [h(p.direction[0])]], false, false),
    ).rejects.toThrow(/appears twice/);
  });
});

describe('NewtonSummary.stepAsync', () => {
  const run = async (useAsync: boolean, startedInTidy = false) => {
    const p = problem(40, [6, 5, 3]);
    const batches = [0, 1, 2, 3].map(
      (i) => [randn([16, 6]), tensor(Int32Array.from({ length: 16 }, (_, k) => (k + i) % 3))] as [Tensor, Tensor],
    );
    // A DataLoader as the hg loader: its batches are made during the step (an array's are the caller's).
    const hgLoader = new grnewt.data.DataLoader(
      new grnewt.data.TensorDataset(randn([32, 6]), tensor(Int32Array.from({ length: 32 }, (_, k) => k % 3))),
      {
        batchSize: 16,
      },
    );
    const opt = new NewtonSummary(p.paramGroups, p.fullLoss, hgLoader, {
      periodHg: 2,
      momentum: 0.9,
      nesterov: { use: true, dampingInt: 3 },
    });
    for (const [x, y] of batches) {
      let pending: Promise<void> | undefined;
      tidy(() => {
        opt.zeroGrad();
        p.fullLoss(x, y).backward();
        if (startedInTidy) pending = opt.stepAsync(); // the scope ends while the step is pending
      });
      if (startedInTidy) await pending;
      else if (useAsync) await opt.stepAsync();
      else opt.step();
    }
    return { params: p.model.parameters().map((t) => Array.from(t.toArray() as Float32Array)), lrs: opt.lrs(), opt, p };
  };

  it('follows exactly the trajectory of step()', async () => {
    const [a, b] = [await run(false), await run(true)];
    expect(b.params).toEqual(a.params);
    expect(b.lrs).toEqual(a.lrs);
  });

  it('started inside tidy() and awaited after it: the same trajectory (the scope freed what the step still needed)', async () => {
    const a = await run(false);
    const b = await run(true, true);
    expect(b.params).toEqual(a.params);
    expect(b.lrs).toEqual(a.lrs);
    expect(b.opt.logs.length).toBe(2);
  });

  it('holds the parameters until it settles: a state dict loaded meanwhile is refused, not overwritten by the update', async () => {
    // The first step with new learning rates chooses the route on this thread: the step was pending across an
    // await with its parameters free, and the zeros loaded then were overwritten by θ − lr·u.
    for (const summaries of ['auto', 'taylor', 'autograd'] as const) {
      const p = problem(16, [6, 5, 3]);
      const opt = new NewtonSummary(p.paramGroups, p.fullLoss, [[p.x, p.y]], { periodHg: 1, summaries });
      p.fullLoss(p.x, p.y).backward();
      const zeros = Object.fromEntries(Object.entries(p.model.stateDict()).map(([k, t]) => [k, t.mul(0)]));
      const pending = opt.stepAsync();
      expect(() => p.model.loadStateDict(zeros)).toThrow(/loadStateDict: a parameter is in use by a pending NewtonSummary.stepAsync/);
      expect(() => p.model.to({ dtype: 'float64' })).toThrow(/Module.to: a parameter is in use by a pending NewtonSummary.stepAsync/);
      expect(() => {
        p.model.parameters()[0].requiresGrad = false;
      }).toThrow(/in use by a pending NewtonSummary.stepAsync/);
      await pending;
      expect(() => p.model.loadStateDict(zeros)).not.toThrow(); // released once settled
      expect(p.model.parameters().every((t) => (t.toArray() as Float32Array).every((v) => v === 0))).toBe(true);
    }
  });

  it('refuses step() and a second stepAsync() while one is pending', async () => {
    const { opt, p } = await run(true);
    p.fullLoss(p.x, p.y).backward();
    const pending = opt.stepAsync();
    expect(() => opt.step()).toThrow(/stepAsync\(\) of this optimizer is still pending/);
    await expect(opt.stepAsync()).rejects.toThrow(/still pending/);
    await pending;
  });
});

describe('memory', () => {
  it('the live-tensor count returns to its start after a training loop', () => {
    const p = problem(32, [8, 6, 3]);
    const opt = new NewtonSummary(p.paramGroups, p.fullLoss, [[p.x, p.y]], {
      periodHg: 3,
      momentum: 0.9,
      nesterov: { use: true, dampingInt: 2 },
    });
    const train = () =>
      tidy(() => {
        opt.zeroGrad();
        p.fullLoss(p.x, p.y).backward();
        opt.step();
      });
    train(); // creates the momentum buffers and the first gradients
    // The count is process-wide: earlier tests' dropped handles, still waiting for the collector, would be
    // counted at the start and freed during the loop (206 at the start, 62 at the end). Collected first; the
    // loop's own tensors must still be freed by tidy(), with no collection forced before the end count.
    globalThis.gc!();
    const start = memory().liveTensors;
    for (let i = 0; i < 60; i++) train();
    expect(memory().liveTensors).toBe(start);
  });
});
