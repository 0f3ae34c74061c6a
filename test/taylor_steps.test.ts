// Every built-in layer and model describes its own forward to the Taylor route (nn/taylor_steps.ts): here each
// description is run by a small interpreter with ordinary tensor ops, as native/method/taylor.cpp reads it, and
// must give forward()'s output (float64, 1e-12) and use every parameter of the module once. A forward changed
// without its description (or the reverse) fails here, whatever the Taylor route's own tests cover.
import { describe, expect, it } from 'vitest';
import { manualSeed, models, nn, taylorSupport, tensor, type Tensor } from '../lib';
import type { Module } from '../lib/nn/module';
import { taylorStepsOf, type TaylorStep } from '../lib/nn/taylor_steps';
import type { Activation } from '../lib/models';
import { expectClose, values } from './helpers';

const f64 = { dtype: 'float64' as const };
const activations: Activation[] = ['tanh', 'relu', 'sigmoid', 'elu', 'identity'];

/** What the steps compute: each step as the native side defines it, written with ordinary ops. */
function interpret(steps: TaylorStep[], x: Tensor): Tensor {
  return steps.reduce((h, step) => {
    switch (step.kind) {
      case 'linear': {
        const y = h.mul(step.inputScale).matmul(step.weight.transpose(0, 1));
        return step.bias ? y.add(step.bias) : y;
      }
      case 'conv2d': {
        const { stride, padding, dilation, groups } = step;
        return h.mul(step.inputScale).conv2d(step.weight, step.bias, { stride, padding, dilation, groups });
      }
      case 'maxPool2d': {
        const { kernelSize, stride, padding, dilation, ceilMode } = step;
        return h.maxPool2d(kernelSize, { stride, padding, dilation, ceilMode });
      }
      case 'flatten':
        return h.reshape([h.shape[0], -1]);
      case 'activation':
        switch (step.activation) {
          case 'tanh':
            return h.tanh();
          case 'relu':
            return h.relu();
          case 'sigmoid':
            return h.sigmoid();
          case 'elu':
            return h.elu(step.alpha ?? 1);
          case 'identity':
            return h;
        }
        throw new Error(`unknown activation ${step.activation}`);
      case 'logSoftmax':
        return h.logSoftmax(1);
    }
    throw new Error(`unknown step ${JSON.stringify(step)}`);
  }, x);
}

/** The parameters a description reads, in order. */
function paramsOf(steps: TaylorStep[]): Tensor[] {
  return steps.flatMap((st) => (st.kind === 'linear' || st.kind === 'conv2d' ? [st.weight, ...(st.bias ? [st.bias] : [])] : []));
}

function expectDescribed(module: Module, x: Tensor): void {
  const steps = taylorStepsOf(module);
  if (typeof steps === 'string') throw new Error(`no description: ${steps}`);
  const expected = module.forward(x);
  const got = interpret(steps, x);
  expect(got.shape).toEqual(expected.shape);
  expectClose(got.toArray(), expected.toArray() as Float64Array, 1e-12, 1e-12);
  expect(paramsOf(steps)).toEqual(module.parameters()); // each parameter once, the module's own tensors, in its order
}

const input = (shape: number[], seed: number) =>
  tensor(
    values(
      shape.reduce((a, b) => a * b, 1),
      seed,
      -2,
      2,
    ),
    { shape, ...f64 },
  );

describe('each built-in layer is described by its own steps', () => {
  const layers: Record<string, () => [Module, number[]]> = {
    Linear: () => [new nn.Linear(5, 3, f64), [4, 5]],
    'Linear without bias': () => [new nn.Linear(5, 3, { bias: false, ...f64 }), [4, 5]],
    Conv2d: () => [new nn.Conv2d(2, 4, 3, f64), [3, 2, 7, 7]],
    'Conv2d with stride, padding, dilation, groups, no bias': () => [
      new nn.Conv2d(4, 6, [3, 2], { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2, bias: false, ...f64 }),
      [2, 4, 9, 8],
    ],
    MaxPool2d: () => [new nn.MaxPool2d(2), [2, 3, 8, 8]],
    'MaxPool2d with stride, padding, dilation, ceilMode': () => [
      new nn.MaxPool2d([3, 2], { stride: [2, 1], padding: 1, dilation: [1, 2], ceilMode: true }),
      [2, 3, 9, 8],
    ],
    Flatten: () => [new nn.Flatten(), [3, 2, 4, 5]],
    Tanh: () => [new nn.Tanh(), [4, 5]],
    ReLU: () => [new nn.ReLU(), [4, 5]],
    Sigmoid: () => [new nn.Sigmoid(), [4, 5]],
    ELU: () => [new nn.ELU(), [4, 5]],
    'ELU(0.7)': () => [new nn.ELU(0.7), [4, 5]],
    'ELU(-0.6)': () => [new nn.ELU(-0.6), [4, 5]],
    Identity: () => [new nn.Identity(), [4, 5]],
    'LogSoftmax(1)': () => [new nn.LogSoftmax(1), [4, 5]],
    'nested Sequential of every layer': () => [
      new nn.Sequential(
        new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: 1, ...f64 }), new nn.ELU(0.5)),
        new nn.MaxPool2d(2),
        new nn.Flatten(),
        new nn.Identity(),
        new nn.Sequential(new nn.Linear(4 * 4 * 4, 6, f64), new nn.Tanh(), new nn.Linear(6, 5, f64), new nn.Sigmoid()),
        new nn.ReLU(),
        new nn.Linear(5, 3, { bias: false, ...f64 }),
        new nn.LogSoftmax(1),
      ),
      [3, 2, 8, 8],
    ],
  };
  for (const [name, make] of Object.entries(layers)) {
    it(name, () => {
      manualSeed(3);
      const [layer, shape] = make();
      expectDescribed(layer, input(shape, 7));
    });
  }
});

describe('each built-in model is described by its own steps', () => {
  for (const activation of activations) {
    for (const scaling of [false, true]) {
      const o = { activation, scaling, ...f64 };
      it(`Perceptron, ${activation}${scaling ? ', scaling' : ''}, with and without log-softmax`, () => {
        manualSeed(4);
        for (const classification of [true, false])
          expectDescribed(new models.Perceptron([6, 5, 4, 3], { ...o, classification }), input([4, 6], 8));
        expectDescribed(new models.Perceptron([12, 3], o), input([2, 3, 4], 9)); // one layer; the input flattened
      });
      it(`LeNet, ${activation}${scaling ? ', scaling' : ''}`, () => {
        manualSeed(5);
        expectDescribed(new models.LeNet([2, 3, 4, 7, 6, 5], { ...o, inputSize: 20 }), input([3, 2, 20, 20], 10));
      });
      it(`VGG, ${activation}${scaling ? ', scaling' : ''}`, () => {
        manualSeed(6);
        expectDescribed(
          new models.VGG({ ...o, config: [3, 'M', 4, 4, 'M'], fcSizes: [6, 5], imageSize: 32, inChannels: 2, numClasses: 4 }),
          input([2, 2, 32, 32], 11),
        );
      });
      it(`AutoencoderMLP, ${activation}${scaling ? ', scaling' : ''}`, () => {
        manualSeed(7);
        expectDescribed(new models.AutoencoderMLP([6, 5, 3], o), input([4, 6], 12));
        expectDescribed(new models.AutoencoderMLP([6, 3], o), input([4, 6], 13)); // one layer each way
      });
    }
  }
  it('LeNet at its reference size (32×32, default sizes)', () => {
    manualSeed(8);
    expectDescribed(new models.LeNet(undefined, f64), input([2, 1, 32, 32], 14));
  });
});

describe('a description is trusted only from the class that defines the forward it describes', () => {
  it('a subclass of a built-in model or layer has none, whether it overrides forward or not', () => {
    class DoubledLeNet extends models.LeNet {
      forward(x: Tensor): Tensor {
        return super.forward(x).mul(2);
      }
    }
    class PlainLinear extends nn.Linear {}
    const lenet = new DoubledLeNet([1, 2, 2, 4, 3, 2], { inputSize: 16 });
    expect(taylorSupport(lenet)).toEqual({ supported: false, reason: expect.stringMatching(/^DoubledLeNet is a subclass of LeNet/) });
    expect(taylorStepsOf(new PlainLinear(3, 2))).toMatch(/^PlainLinear is a subclass of Linear/);
    expect(taylorSupport(new nn.Sequential(new nn.Tanh(), new PlainLinear(3, 2)))).toEqual({
      supported: false,
      reason: expect.stringMatching(
        /^the Sequential holds a PlainLinear \(step 1\), which the Taylor route cannot follow: PlainLinear is a subclass/,
      ),
    });
  });

  it('a module of its own, a ModuleList and log-softmax elsewhere than last over dim 1 are not described', () => {
    class Own extends nn.Module {
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(taylorSupport(new Own())).toEqual({
      supported: false,
      reason: 'Own is not a built-in model or layer, nor an nn.Sequential of them',
    });
    expect(taylorSupport(new nn.ModuleList([new nn.Linear(2, 2)])).reason).toMatch(/ModuleList has no forward/);
    expect(taylorSupport(new nn.Sequential(new nn.Linear(2, 2), new nn.LogSoftmax(0))).reason).toMatch(
      /^the Sequential holds a LogSoftmax \(step 1\).*LogSoftmax\(0\): the Taylor route knows log-softmax over dim 1/,
    );
    const inner = new nn.Sequential(new nn.Linear(2, 2), new nn.LogSoftmax(1));
    expect(taylorSupport(inner)).toEqual({ supported: true });
    expect(taylorSupport(new nn.Sequential(inner, new nn.Linear(2, 2))).reason).toMatch(/log-softmax at step 1 that is not the last step/);
  });
});
