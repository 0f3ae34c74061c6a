// The public API on a CUDA device, against the same calls on the CPU. Runs only where grnewt was built against a
// CUDA libtorch and a GPU is visible (scripts/gpu-check.sh runs this file there); elsewhere vitest reports it
// skipped. Native parts (the CUDA jet kernel, the whole Taylor route) are checked by scripts/native-tests.sh.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import {
  NewtonSummary,
  type Tensor,
  cat,
  computeHg,
  computeHgTaylor,
  cuda,
  load,
  loadSafetensors,
  loadTorch,
  losses,
  models,
  nn,
  optim,
  partition,
  save,
  saveSafetensors,
  saveTorch,
  stack,
  tensor,
  tidy,
} from '../lib';
import { expectClose, values, withGrad } from './helpers';

const f64 = { dtype: 'float64' as const };
const onGpu = (t: Tensor) => t.to({ device: 'cuda' });

describe.runIf(cuda.isAvailable())('on a CUDA device', () => {
  it('an index out of range is a named RangeError before the kernel runs (a device assert would end the process)', () => {
    const x = onGpu(
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    );
    expect(() => x.gather(1, onGpu(tensor([[5], [0]], { dtype: 'int64' })))).toThrow(
      new RangeError('gather: index holds 5, outside 0..2 (the size of the indexed dim)'),
    );
    expect(() => x.indexSelect(0, onGpu(tensor([-1], { dtype: 'int64' })))).toThrow(
      new RangeError('indexSelect: index holds -1, outside 0..1 (the size of the indexed dim)'),
    );
    expect(() => losses.nll(x.logSoftmax(1), onGpu(tensor([0, 3], { dtype: 'int64' })))).toThrow(RangeError);
    // The context still works, and a good index gives the CPU's values.
    expect(Array.from(x.gather(1, onGpu(tensor([[2], [0]], { dtype: 'int64' }))).toArray() as Float32Array)).toEqual([3, 4]);
  });

  it('views and joins equal the CPU', () => {
    const a = tensor(values(24, 1), { shape: [2, 3, 4], ...f64 });
    const cases: Array<(t: Tensor) => Tensor> = [
      (t) => t.narrow(2, 1, 2),
      (t) => t.permute([2, 0, 1]),
      (t) => t.unsqueeze(1).squeeze(1),
      (t) => t.flatten(1),
      (t) => cat([t, t.mul(2)], 1),
      (t) => stack([t, t.add(1)], 3),
      (t) => t.max(1),
      (t) => t.min(2),
    ];
    for (const op of cases) {
      const g = op(onGpu(a));
      expect(g.device).toMatch(/^cuda/);
      expect(g.shape).toEqual(op(a).shape);
      expect(g.toArray()).toEqual(op(a).toArray());
    }
  });

  it('the Taylor route on the GPU equals the autograd route on the CPU (float64, 1e-10), each implementation', () => {
    for (const make of [
      () => new models.Perceptron([5, 6, 4, 3], f64),
      () => new models.LeNet([1, 2, 3, 8, 6, 3], { inputSize: 16, ...f64 }),
    ]) {
      grnewt.manualSeed(7);
      const cpu = make();
      const gpu = make().to({ device: 'cuda' });
      gpu.parameters().forEach((p, k) => p.assign(onGpu(cpu.parameters()[k]), true));
      const shape = cpu instanceof models.LeNet ? [5, 1, 16, 16] : [5, 5];
      const x = tensor(
        values(
          shape.reduce((a, b) => a * b),
          3,
          -2,
          2,
        ),
        { shape, ...f64 },
      );
      const y = tensor([0, 1, 2, 2, 1], { dtype: 'int64' });
      const direction = cpu.parameters().map((p, k) => tensor(values(p.numel, 20 + k), { shape: p.shape, ...f64 }));
      const exact = computeHg(partition.canonical(cpu).paramGroups, (a, b) => losses.nll(cpu.forward(a), b), x, y, direction);
      for (const route of ['jets', 'adjoint']) {
        process.env.GRNEWT_TAYLOR_ROUTE = route;
        try {
          const fast = computeHgTaylor(gpu, partition.canonical(gpu).paramGroups, onGpu(x), onGpu(y), direction.map(onGpu));
          for (const k of ['g', 'H', 'order3'] as const) {
            expect(fast[k].device).toMatch(/^cuda/);
            expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
          }
        } finally {
          delete process.env.GRNEWT_TAYLOR_ROUTE;
        }
      }
    }
  });

  it('Adam and SGD states follow their parameters to the GPU: the next step is the CPU one', () => {
    for (const make of [
      (ps: Tensor[]) => new optim.Adam(ps, { lr: 0.1 }),
      (ps: Tensor[]) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9 }),
    ]) {
      grnewt.manualSeed(1);
      const moved = new nn.Linear(3, 2, f64);
      const stay = new nn.Linear(3, 2, f64);
      stay.parameters().forEach((p, k) => p.assign(moved.parameters()[k], true));
      const [a, b] = [make(moved.parameters()), make(stay.parameters())];
      for (const step of [0, 1]) {
        for (const m of [moved, stay]) m.parameters().forEach((p) => withGrad(p, step + 1));
        a.step();
        b.step();
        if (step === 0) moved.to({ device: 'cuda' });
      }
      moved.parameters().forEach((p, k) => {
        expect(p.device).toMatch(/^cuda/);
        expectClose(p.toArray(), stay.parameters()[k].toArray() as Float64Array, 1e-15, 1e-15);
      });
    }
  });

  it('NewtonSummary takes the CPU trajectory on the GPU (float64)', () => {
    const run = (device: 'cpu' | 'cuda') => {
      grnewt.manualSeed(2);
      const model = new models.Perceptron([4, 5, 3], f64).to({ device });
      const batch = (seed: number): [Tensor, Tensor] => [
        tensor(values(32 * 4, seed, -2, 2), { shape: [32, 4], ...f64 }).to({ device }),
        tensor(
          Array.from({ length: 32 }, (_, i) => (i * 7 + seed) % 3),
          { dtype: 'int64' },
        ).to({ device }),
      ];
      const fullLoss = (x: Tensor, y: Tensor) => losses.nll(model.forward(x), y);
      const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, [batch(100), batch(101)], { periodHg: 2 });
      for (let s = 0; s < 6; s++)
        tidy(() => {
          const [x, y] = batch(s);
          opt.zeroGrad();
          fullLoss(x, y).backward();
          opt.step();
        });
      return { params: model.parameters().map((p) => p.toArray() as Float64Array), lrs: opt.lrs() };
    };
    const [c, g] = [run('cpu'), run('cuda')];
    expectClose(g.lrs, c.lrs, 1e-9, 1e-12);
    g.params.forEach((p, k) => expectClose(p, c.params[k], 1e-9, 1e-12));
  });

  it('GPU tensors saved in each format load on the CPU with their values', () => {
    const w = onGpu(tensor(values(6, 9), { shape: [2, 3], ...f64 }));
    const expected = w.toArray();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-gpu-'));
    const [a, b, c] = ['gpu.ckpt', 'gpu.pt', 'gpu.safetensors'].map((f) => path.join(dir, f));
    save(a, { w });
    saveTorch(b, { w });
    saveSafetensors(c, { w });
    for (const back of [load<{ w: Tensor }>(a).w, loadTorch(b).w as Tensor, loadSafetensors(c).w]) {
      expect(back.device).toBe('cpu');
      expect(back.toArray()).toEqual(expected);
    }
    expect(loadTorch(b, { device: 'cuda' }).w.device).toMatch(/^cuda/);
  });
});
