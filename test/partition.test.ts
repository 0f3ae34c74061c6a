import { describe, expect, it } from 'vitest';
import { NewtonSummary, type Tensor, computeHg, losses, models, nn, optim, partition, tensor } from '../lib';

const model = new models.Perceptron([4, 3, 3, 2], { dtype: 'float64' });

describe('partitions', () => {
  it('canonical: one subset per tensor, in namedParameters order', () => {
    const { paramGroups, nameGroups } = partition.canonical(model);
    expect(nameGroups).toEqual(model.namedParameters().map(([n]) => [n]));
    expect(paramGroups.map((g) => g.params[0])).toEqual(model.parameters());
  });
  it('trivial: everything in one subset', () => {
    expect(partition.trivial(model).nameGroups).toEqual([model.namedParameters().map(([n]) => n)]);
  });
  it('wb: weights first, then biases (the rest left out when empty)', () => {
    expect(partition.wb(model).nameGroups).toEqual([
      ['layers.0.weight', 'layers.1.weight', 'layers.2.weight'],
      ['layers.0.bias', 'layers.1.bias', 'layers.2.bias'],
    ]);
  });
  it('names: by suffix after a dot, the unmatched last', () => {
    expect(partition.names(model, ['bias']).nameGroups).toEqual([
      ['layers.0.bias', 'layers.1.bias', 'layers.2.bias'],
      ['layers.0.weight', 'layers.1.weight', 'layers.2.weight'],
    ]);
    expect(() => partition.names(model, [''])).toThrow(TypeError);
    // A suffix matches a whole name or what follows its last '.': 'bias' is not the end of 'unbias'.
    class Suffixes extends nn.Module {
      readonly bias = this.registerParameter('bias', tensor([1], { requiresGrad: true }));
      readonly unbias = this.registerParameter('unbias', tensor([2], { requiresGrad: true }));
      readonly head = this.registerModule('head', new nn.Linear(2, 1));
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(partition.names(new Suffixes(), ['bias']).nameGroups).toEqual([
      ['bias', 'head.bias'],
      ['unbias', 'head.weight'],
    ]);
  });
  it('blocks: contiguous layers, the first blocks one longer; weights of each block then biases', () => {
    expect(partition.blocks(model, 2).nameGroups).toEqual([
      ['layers.0.weight', 'layers.1.weight'],
      ['layers.2.weight'],
      ['layers.0.bias', 'layers.1.bias'],
      ['layers.2.bias'],
    ]);
    expect(partition.blocks(model, 1).nameGroups).toEqual(partition.wb(model).nameGroups);
    // 3 layers in 3 blocks: one each; 4 layers in 3: 4 = 2 + 1 + 1, the first block the longer.
    expect(partition.blocks(model, 3).nameGroups).toEqual([
      ['layers.0.weight'],
      ['layers.1.weight'],
      ['layers.2.weight'],
      ['layers.0.bias'],
      ['layers.1.bias'],
      ['layers.2.bias'],
    ]);
    const four = new models.Perceptron([2, 2, 2, 2, 2]);
    expect(partition.blocks(four, 3).nameGroups).toEqual([
      ['layers.0.weight', 'layers.1.weight'],
      ['layers.2.weight'],
      ['layers.3.weight'],
      ['layers.0.bias', 'layers.1.bias'],
      ['layers.2.bias'],
      ['layers.3.bias'],
    ]);
    expect(() => partition.blocks(model, 4)).toThrow('partition.blocks: n = 4 exceeds the 3 layers of the model');
    expect(() => partition.blocks(model, 0)).toThrow(RangeError);
  });
  it('hand-written paramGroups are validated: two subsets, empty, no grad, not tensors', () => {
    const [w0, b0] = model.parameters();
    const x = tensor([[1, 2, 3, 4]], { dtype: 'float64' }),
      y = tensor([1], { dtype: 'int64' });
    const loss = (a: typeof x, b: typeof y) => losses.nll(model.forward(a), b);
    const dir = (ps: Array<typeof x>) => ps.map((p) => p.detach());
    expect(() => computeHg([{ params: [w0] }, { params: [w0] }], loss, x, y, dir([w0, w0]))).toThrow(
      'computeHg: a tensor is in two subsets (paramGroups[0] and paramGroups[1])',
    );
    expect(() => computeHg([{ params: [w0] }, { params: [] }], loss, x, y, dir([w0]))).toThrow(/paramGroups\[1\] is empty/);
    const frozen = tensor([1], { dtype: 'float64' });
    expect(() => computeHg([{ params: [frozen] }], loss, x, y, [frozen])).toThrow(/paramGroups\[0\].params\[0\] does not require grad/);
    expect(() => computeHg([{ params: [b0, 3 as never] }], loss, x, y, dir([b0]))).toThrow(
      /paramGroups\[0\].params\[1\] must be a Tensor, got 3/,
    );
    expect(() => computeHg({} as never, loss, x, y, [])).toThrow(/paramGroups must be a non-empty array/);
    expect(() => partition.canonical({} as never)).toThrow(/model must be an nn.Module/);
  });
});

describe('frozen parameters', () => {
  it('every partition leaves out a parameter with requiresGrad = false; NewtonSummary and Adam train the rest', () => {
    const model = new models.Perceptron([4, 3, 2], { dtype: 'float64' });
    const frozen = model.parameters()[0];
    frozen.requiresGrad = false;
    const before = frozen.toArray();
    expect(partition.canonical(model).nameGroups).toEqual([['layers.0.bias'], ['layers.1.weight'], ['layers.1.bias']]);
    expect(partition.trivial(model).nameGroups[0]).not.toContain('layers.0.weight');
    expect(partition.wb(model).nameGroups).toEqual([['layers.1.weight'], ['layers.0.bias', 'layers.1.bias']]);
    const x = tensor(
      Float64Array.from({ length: 24 }, (_, i) => Math.sin(i)),
      { shape: [6, 4] },
    );
    const y = tensor([0, 1, 0, 1, 1, 0], { dtype: 'int64' });
    const fullLoss = (a: Tensor, b: Tensor) => losses.nll(model.forward(a), b);
    const opt = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, [[x, y]], { periodHg: 1 });
    const trainable = model.parameters().filter((p) => p.requiresGrad);
    const adam = new optim.Adam(trainable);
    const start = trainable.map((p) => p.toArray());
    for (const step of [() => opt.step(), () => adam.step()]) {
      opt.zeroGrad();
      fullLoss(x, y).backward();
      step();
    }
    expect(frozen.toArray()).toEqual(before);
    expect(trainable.some((p, k) => p.toArray().some((v, i) => v !== start[k][i]))).toBe(true);
    expect(() => new optim.Adam(model.parameters())).toThrow(
      /params\[0\] does not require grad: leave a frozen parameter out \(e\.g\. model\.parameters\(\)\.filter/,
    );
    frozen.requiresGrad = true;
    model
      .parameters()
      .slice(1)
      .forEach((p) => (p.requiresGrad = false));
    frozen.requiresGrad = false;
    expect(() => partition.canonical(model)).toThrow('partition.canonical: every parameter of the model is frozen (requiresGrad = false)');
  });
});

describe('a custom module whose layers were not registered', () => {
  it('the empty parameter list is explained by the optimizer and the partitions', () => {
    class Unregistered extends nn.Module {
      readonly layer = new nn.Linear(2, 2);
      forward(x: Tensor): Tensor {
        return this.layer.forward(x);
      }
    }
    const hint = /got \[\] \(a custom module's parameters\(\) is empty when its layers are not registered: call this\.registerModule/;
    expect(() => new optim.Adam(new Unregistered().parameters())).toThrow(hint);
    expect(() => partition.canonical(new Unregistered())).toThrow(
      /the model has no parameters \(a custom module's parameters\(\) is empty/,
    );
  });

  it('each helper names itself (wb said partition.names)', () => {
    class Empty extends nn.Module {
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    for (const [name, make] of [
      ['canonical', partition.canonical],
      ['trivial', partition.trivial],
      ['wb', partition.wb],
      ['names', (m: nn.Module) => partition.names(m, ['weight'])],
      ['blocks', (m: nn.Module) => partition.blocks(m, 1)],
    ] as const) {
      expect(() => make(new Empty())).toThrow(new RegExp(`^partition\\.${name}: the model has no parameters`));
    }
  });
});
