// Error messages that say the fix, in the JS API's terms (libtorch's Python wording rewritten).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NewtonSummary, type Tensor, accuracy, computeHg, losses, models, ones, optim, partition, save, tensor, tidy, zeros } from '../lib';
import { native } from '../lib/core/native';

describe('messages that say the fix', () => {
  it('float labels given to nll / crossEntropy: make them with { dtype: int64 }', () => {
    const logits = tensor([
      [1, 2],
      [3, 4],
    ]);
    const hint =
      /target must hold int64 class indices, got float32; make the labels with \{ dtype: 'int64' \} \(grnewt\.tensor\(labels, \{ dtype: 'int64' \}\)\) or convert them with target\.to\(\{ dtype: 'int64' \}\)/;
    expect(() => losses.nll(logits.logSoftmax(1), tensor([0, 1]))).toThrow(hint);
    expect(() => losses.crossEntropy(logits, tensor([0, 1]))).toThrow(hint);
    expect(losses.crossEntropy(logits, tensor([0, 1]).to({ dtype: 'int64' })).item()).toBeGreaterThan(0); // the fix works
  });

  it('a freed tensor: says whether dispose() or a tidy() scope freed it, and how to keep it', () => {
    const a = ones([2]);
    a.dispose();
    expect(() => a.sum()).toThrow(
      'sum: the tensor has been disposed: its dispose() freed it. Call dispose() after its last use, or keep a copy with clone() first',
    );
    let inner!: ReturnType<typeof ones>;
    const kept = tidy(() => {
      inner = ones([2]).mul(3);
      return ones([2]);
    });
    expect(() => inner.add(1)).toThrow(
      'add: the tensor has been disposed: it was made inside a tidy() scope, which freed it when the scope ended. ' +
        'To use it afterwards, return it from the function given to tidy(), or pass it to grnewt.keep()',
    );
    expect(kept.sum().item()).toBe(2); // returned from the scope: alive
  });

  it('a freed tensor given as an argument: named as that argument (a disposed parameter was "grad: the tensor has been disposed")', () => {
    const model = new models.Perceptron([3, 4, 2]);
    const x = ones([5, 3]),
      y = zeros([5], { dtype: 'int64' });
    const fullLoss = (a: Tensor, b: Tensor) => losses.nll(model.forward(a), b);
    const sgd = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const ns = new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, [[x, y]]);
    fullLoss(x, y).backward();
    sgd.step();
    sgd.stateDict().state[1].momentumBuffer.dispose(); // live references, as documented
    expect(() => sgd.step()).toThrow(/^SGD\.step: state\[1\]\.momentumBuffer has been disposed: its dispose\(\) freed it/);
    model.parameters()[2].dispose();
    expect(() => ns.step()).toThrow(/^NewtonSummary\.step: paramGroups\[2\]\.params\[0\] has been disposed: its dispose\(\) freed it/);
    expect(() => sgd.zeroGrad()).toThrow(/^SGD\.zeroGrad: paramGroups\[0\]\.params\[2\] has been disposed/);
    expect(() => model.stateDict()).toThrow(/^stateDict: parameter layers\.1\.weight has been disposed/);
    const freed = ones([2]);
    freed.dispose();
    expect(() => computeHg([{ params: [model.parameters()[0]] }], fullLoss, freed, y, [ones([4, 3])])).toThrow(
      /^computeHg: x has been disposed/,
    );
  });

  it("a second backward(): { retainGraph: true }, not Python's retain_graph=True", () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const loss = w.tanh().sum();
    loss.backward();
    let message = '';
    try {
      loss.backward();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/Pass \{ retainGraph: true \} to the earlier backward\(\) to go through the same graph again/);
    expect(message).not.toMatch(/retain_graph|autograd\.grad|\.backward\(\) or/);
    const again = w.tanh().sum();
    again.backward({ retainGraph: true });
    expect(() => again.backward()).not.toThrow(); // the fix works
  });

  it('backward after an optimizer step changed a parameter the graph saved: compute the loss again', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.1 });
    w.mul(w).sum().backward();
    const stale = w.mul(w).sum();
    opt.step();
    let message = '';
    try {
      stale.backward();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(
      /modified by an inplace operation: a float32 tensor of shape \[2\] is at version 1; expected version 0 instead/,
    );
    expect(message).toMatch(/compute the loss again after changing parameters/);
    expect(message).not.toMatch(/torch\.autograd|set_detect_anomaly/);
  });

  it("libtorch's dtype names come out as grnewt's (checked at the native layer, below the façade's own checks)", () => {
    const h = (t: ReturnType<typeof zeros>) => (t as unknown as { handle(w: string): never }).handle('test');
    expect(() => native().matmul(h(zeros([2, 2])), h(zeros([2, 2], { dtype: 'float64' })))).toThrow(
      /expected dtype float32 but found float64/,
    );
  });

  it('save() into a missing folder names the path given and the missing folder, not a temporary file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-msg-'));
    const file = path.join(dir, 'no', 'such', 'run.ckpt');
    expect(() => save(file, { a: 1 })).toThrow(`save: cannot write ${file}: the folder ${path.join(dir, 'no', 'such')} does not exist`);
    try {
      save(file, { a: 1 });
    } catch (err) {
      expect((err as Error).message).not.toMatch(/\.tmp/);
    }
    fs.mkdirSync(path.join(dir, 'no', 'such'), { recursive: true });
    save(file, { a: 1 }); // the fix works
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('silent results an adversarial probe found, now named', () => {
  it('accuracy refuses labels out of range, as nll does (it counted them as misses)', () => {
    expect(() => accuracy(zeros([2, 3]), tensor([0n, 7n]))).toThrow(new RangeError('accuracy: target[1] = 7 is not a class index in 0..2'));
  });
  it('bce refuses a probability outside [0, 1] (it returned NaN), as torch does', () => {
    expect(() => losses.bce(tensor([2, 0.5]), tensor([1, 0]))).toThrow(
      new RangeError('bce: input must hold probabilities in [0, 1], got values in [0.5, 2]'),
    );
    expect(losses.bce(tensor([0.5]), tensor([1])).item()).toBeCloseTo(Math.log(2), 6);
  });
  it('an optimizer refuses a computed (non-leaf) tensor, whose step would change nothing', () => {
    const leaf = tensor([1, 2], { requiresGrad: true });
    expect(() => new optim.SGD([leaf.mul(2)], { lr: 0.1 })).toThrow(
      new TypeError('SGD: paramGroups[0].params[0] is not a leaf tensor (it is computed from others): optimize the leaves it comes from'),
    );
  });
  it('LeNet given its options first says where they go', () => {
    expect(() => new models.LeNet({ inputSize: 28 } as never)).toThrow(
      'LeNet: the layer sizes come first and the options second: new LeNet(undefined, {"inputSize":28})',
    );
  });
});
