// SGD and Adam resume from torch.optim's own state dict (optimizer.state_dict() saved by torch.save, read by
// loadTorch): the next steps equal PyTorch's, and what they cannot mean is refused by name.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NewtonSummary, type Tensor, loadTorch, losses, models, optim, partition, tensor } from '../lib';
import { expectClose } from './helpers';

const PYTHON = '/usr/bin/python3';
const torchVersion = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();
if (!torchVersion) console.log(`optim_torch: skipped: ${PYTHON} cannot import torch (apt-get install python3-torch)`);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-optim-torch-'));

// Two float64 parameters, five steps with fixed gradients; the state dict saved after three; the parameters after three and after five.
const RUN_PY = (make: string, file: string) => `
import json, torch
torch.set_default_dtype(torch.float64)
ps = [torch.nn.Parameter(torch.linspace(-1, 1, 6).reshape(2, 3)), torch.nn.Parameter(torch.tensor([0.5, -0.25]))]
opt = ${make}
def grads(k):
    return [torch.cos(torch.arange(6.0).reshape(2, 3) + k), torch.sin(torch.arange(2.0) * 3 + k)]
out = {}
for k in range(5):
    for p, g in zip(ps, grads(k)):
        p.grad = g.clone()
    opt.step()
    if k == 2:
        torch.save(opt.state_dict(), ${JSON.stringify(file)})
        out['after3'] = [p.detach().flatten().tolist() for p in ps]
out['after5'] = [p.detach().flatten().tolist() for p in ps]
print(json.dumps(out))
`;

function python(code: string): { after3: number[][]; after5: number[][] } {
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const grads = (k: number) => [
  tensor(
    Array.from({ length: 6 }, (_, i) => Math.cos(i + k)),
    { shape: [2, 3], dtype: 'float64' },
  ),
  tensor(
    Array.from({ length: 2 }, (_, i) => Math.sin(i * 3 + k)),
    { dtype: 'float64' },
  ),
];

/** Parameters at Python's values after three steps; steps four and five here, after loading torch's state dict. */
function resume(make: (ps: Tensor[]) => optim.Optimizer<object>, file: string, after3: number[][]): number[][] {
  const ps = [
    tensor(after3[0], { shape: [2, 3], dtype: 'float64', requiresGrad: true }),
    tensor(after3[1], { dtype: 'float64', requiresGrad: true }),
  ];
  const opt = make(ps);
  opt.loadStateDict(loadTorch(file));
  for (const k of [3, 4]) {
    ps.forEach((p, i) => {
      p.clearGrad();
      p.mul(grads(k)[i]).sum().backward(); // ∇ = grads(k)[i]
    });
    opt.step();
  }
  return ps.map((p) => Array.from(p.toArray() as Float64Array));
}

describe.skipIf(!torchVersion)(`loadStateDict of torch.optim's state dict (Python's torch ${torchVersion ?? 'absent'})`, () => {
  it("Adam: the two steps after loading equal PyTorch's (float64, 1e-12)", () => {
    const file = path.join(dir, 'adam.pt');
    const py = python(RUN_PY('torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)', file));
    const got = resume((ps) => new optim.Adam(ps), file, py.after3);
    got.forEach((p, i) => expectClose(p, py.after5[i], 1e-12, 1e-14));
  });

  it("SGD with two groups (momentum and dampening; Nesterov): the two steps after loading equal PyTorch's", () => {
    const file = path.join(dir, 'sgd.pt');
    const py = python(
      RUN_PY(
        "torch.optim.SGD([{'params': [ps[0]], 'momentum': 0.9, 'dampening': 0.1}, {'params': [ps[1]], 'nesterov': True, 'momentum': 0.5, 'lr': 0.2}], lr=0.1, weight_decay=0.001)",
        file,
      ),
    );
    const got = resume((ps) => new optim.SGD([{ params: [ps[0]] }, { params: [ps[1]] }], { lr: 1 }), file, py.after3);
    got.forEach((p, i) => expectClose(p, py.after5[i], 1e-12, 1e-14));
  });

  it('what grnewt does not do is refused by name: AMSGrad, maximize', () => {
    for (const [make, message] of [
      [
        'torch.optim.Adam(ps, amsgrad=True)',
        /param_groups\[0\]\.amsgrad is true: torch\.optim\.Adam's amsgrad, which grnewt's Adam does not have/,
      ],
      ['torch.optim.SGD(ps, lr=0.1, maximize=True)', /param_groups\[0\]\.maximize is true: torch\.optim\.SGD's maximize/],
    ] as const) {
      const file = path.join(dir, 'refused.pt');
      const py = python(RUN_PY(make, file));
      const ps = py.after3.map((v) => tensor(v, { dtype: 'float64', requiresGrad: true }));
      const opt = make.includes('Adam') ? new optim.Adam(ps) : new optim.SGD(ps, { lr: 1 });
      expect(() => opt.loadStateDict(loadTorch(file))).toThrow(message);
    }
  });
});

describe("torch's layout, checked", () => {
  const p = () => tensor([1, 2], { dtype: 'float64', requiresGrad: true });
  const adamGroup = {
    lr: 0.1,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weight_decay: 0,
    amsgrad: false,
    maximize: false,
    foreach: null,
    params: [0],
  };

  it('unknown names, and Adam state meant for SGD, are named', () => {
    expect(() => new optim.Adam([p()]).loadStateDict({ state: {}, param_groups: [{ ...adamGroup, nesterov: true }] } as never)).toThrow(
      /param_groups\[0\] has "nesterov", not an option of torch\.optim\.Adam/,
    );
    expect(() =>
      new optim.SGD([p()], { lr: 1 }).loadStateDict({
        state: { 0: { exp_avg: tensor([0, 0]) } },
        param_groups: [{ lr: 1, params: [0] }],
      } as never),
    ).toThrow(/state 0 has "exp_avg", not in torch\.optim\.SGD's state \(momentum_buffer\)/);
  });

  it('what a newer torch or a scheduler adds loads: decoupled_weight_decay false, initial_lr, an option left None', () => {
    const opt = new optim.Adam([p()]);
    opt.loadStateDict({
      state: {},
      param_groups: [{ ...adamGroup, decoupled_weight_decay: false, initial_lr: 0.5, amsgrad: null }],
    } as never);
    expect(opt.paramGroups[0].lr).toBe(0.1);
    expect(() =>
      new optim.Adam([p()]).loadStateDict({ state: {}, param_groups: [{ ...adamGroup, decoupled_weight_decay: true }] } as never),
    ).toThrow(/param_groups\[0\]\.decoupled_weight_decay is true: torch\.optim\.Adam's decoupled_weight_decay/);
  });

  it("a step count: torch < 1.12's number, torch's one-element tensor; a longer tensor is named", () => {
    const moments = { exp_avg: tensor([0, 0], { dtype: 'float64' }), exp_avg_sq: tensor([0, 0], { dtype: 'float64' }) };
    for (const step of [3, tensor([3], { dtype: 'float32' })]) {
      const opt = new optim.Adam([p()]);
      opt.loadStateDict({ state: { 0: { step, ...moments } }, param_groups: [adamGroup] } as never);
      expect(opt.stateDict().state[0].step).toBe(3);
    }
    expect(() =>
      new optim.Adam([p()]).loadStateDict({
        state: { 0: { step: tensor([3, 3], { dtype: 'float32' }), ...moments } },
        param_groups: [adamGroup],
      } as never),
    ).toThrow(/state 0\.step must be a step count \(a number or a one-element tensor\)/);
  });

  it("values are checked as grnewt's own state dict's are: a negative lr, a fractional step count", () => {
    expect(() => new optim.Adam([p()]).loadStateDict({ state: {}, param_groups: [{ ...adamGroup, lr: -1 }] } as never)).toThrow(
      /group 0.*lr/,
    );
    const state = {
      0: {
        step: tensor(1.5, { dtype: 'float64' }),
        exp_avg: tensor([0, 0], { dtype: 'float64' }),
        exp_avg_sq: tensor([0, 0], { dtype: 'float64' }),
      },
    };
    expect(() => new optim.Adam([p()]).loadStateDict({ state, param_groups: [adamGroup] } as never)).toThrow(
      /state 0\.step must be an integer/,
    );
  });

  it("the state is keyed by param_groups' ids, mapped to the parameters in order as torch maps them", () => {
    const opt = new optim.SGD([{ params: [p()] }, { params: [p()] }], { lr: 1, momentum: 0.9 });
    const buffer = tensor([3, 4], { dtype: 'float64' });
    opt.loadStateDict({
      state: { 11: { momentum_buffer: buffer } },
      param_groups: [
        { lr: 1, momentum: 0.9, params: [7] },
        { lr: 1, momentum: 0.9, params: [11] },
      ],
    } as never);
    expect(Object.keys(opt.stateDict().state)).toEqual(['1']);
    expect((opt.stateDict().state[1].momentumBuffer as Tensor).toArray()).toEqual(buffer.toArray());
    const twice = {
      state: {},
      param_groups: [
        { lr: 1, params: [3] },
        { lr: 1, params: [3] },
      ],
    };
    expect(() => opt.loadStateDict(twice as never)).toThrow(/parameter id 3 appears twice in param_groups/);
    const unlisted = {
      state: { 0: { momentum_buffer: buffer } },
      param_groups: [
        { lr: 1, params: [7] },
        { lr: 1, params: [11] },
      ],
    };
    expect(() => opt.loadStateDict(unlisted as never)).toThrow(/state 0 is for a parameter id that no param_groups entry lists/);
  });

  it('a momentum buffer of None (SGD without momentum) is no state', () => {
    const opt = new optim.SGD([p()], { lr: 1 });
    opt.loadStateDict({ state: { 0: { momentum_buffer: null } }, param_groups: [{ lr: 0.5, momentum: 0, params: [0] }] } as never);
    expect(opt.stateDict().state).toEqual({});
    expect(opt.paramGroups[0].lr).toBe(0.5);
  });

  it('NewtonSummary does not read it, and a state dict without groups or not an object is named', () => {
    const model = new models.Perceptron([2, 2]);
    const ns = new NewtonSummary(partition.canonical(model).paramGroups, (x, y) => losses.mse(model.forward(x), y), [
      [tensor([[1, 2]]), tensor([[0, 1]])],
    ]);
    expect(() => ns.loadStateDict({ state: {}, param_groups: [] } as never)).toThrow(
      new TypeError("NewtonSummary.loadStateDict: this is torch's layout (param_groups), which only SGD and Adam read"),
    );
    expect(() => ns.loadStateDict(null as never)).toThrow(
      new TypeError("NewtonSummary.loadStateDict: stateDict must be an object (stateDict()'s, or torch's loaded by loadTorch), got null"),
    );
    expect(() => new optim.Adam([p()]).loadStateDict({ state: {} } as never)).toThrow(
      new TypeError(
        "Adam.loadStateDict: the state dict has no paramGroups (stateDict() gives state and paramGroups; torch's has param_groups)",
      ),
    );
    expect(() => new optim.Adam([p()]).loadStateDict(null as never)).toThrow(
      new TypeError("Adam.loadStateDict: stateDict must be an object (stateDict()'s, or torch's loaded by loadTorch), got null"),
    );
  });
});
