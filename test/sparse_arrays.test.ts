// biome-ignore-all lint/suspicious/noSparseArray: the holes are what is tested
// Arrays with holes ([a, , b]) given where the API takes arrays: every element is checked, holes included.
// forEach, map, some and every skip holes, so checks written with them let a hole through (a Perceptron built
// on layers [3, , 2], an optimizer holding undefined as a parameter, a raw "Cannot read properties of undefined").
import { describe, expect, it } from 'vitest';
import { NewtonSummary, cat, losses, models, optim, partition, stack, tensor, trainConfig, zeros } from '../lib';

describe('arrays with holes are refused, naming the hole', () => {
  const p = () => zeros([1], { requiresGrad: true });
  const model = new models.Perceptron([3, 2]);
  const fullLoss = (a: ReturnType<typeof zeros>, b: ReturnType<typeof zeros>) => losses.nll(model.forward(a), b);
  const batch = [zeros([2, 3]), zeros([2], { dtype: 'int64' })] as [ReturnType<typeof zeros>, ReturnType<typeof zeros>];
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['zeros shape', () => zeros([2, , 3]), /^zeros: shape\[1\] must be an integer, got undefined$/],
    ['tensor shape', () => tensor([1, 2, 3, 4], { shape: [2, , 2] }), /^tensor: shape\[1\] must be an integer, got undefined$/],
    ['reshape', () => zeros([6]).reshape([2, , 3]), /^reshape: shape\[1\] must be an integer, got undefined$/],
    ['permute', () => zeros([2, 3]).permute([1, ,]), /^permute: dims\[1\] must be an integer, got undefined$/],
    ['sum dims', () => zeros([2, 3]).sum([0, , 1]), /^sum: dim\[1\] must be an integer, got undefined$/],
    ['pad', () => zeros([2, 3]).pad([1, , 1, 1]), /^pad: pads\[1\] must be an integer, got undefined$/],
    ['cat', () => cat([zeros([1]), , zeros([1])]), /^cat: tensors\[1\] must be a Tensor, got undefined$/],
    ['stack', () => stack([zeros([1]), , zeros([1])]), /^stack: tensors\[1\] must be a Tensor, got undefined$/],
    ['Perceptron layers', () => new models.Perceptron([3, , 2]), /^Perceptron: layers\[1\] must be an integer, got undefined$/],
    ['AutoencoderMLP layers', () => new models.AutoencoderMLP([3, , 2]), /^AutoencoderMLP: layers\[1\] must be an integer, got undefined$/],
    ['LeNet layers', () => new models.LeNet([1, 6, , 120, 84, 10]), /^LeNet: layers\[2\] must be an integer, got undefined$/],
    ['VGG fcSizes', () => new models.VGG({ fcSizes: [4, , 4] }), /^VGG: fcSizes\[1\] must be an integer, got undefined$/],
    ['VGG fcSizes not an array', () => new models.VGG({ fcSizes: 4 as never }), /^VGG: fcSizes must be an array of sizes, got 4$/],
    ['SGD params', () => new optim.SGD([p(), , p()], { lr: 0.1 }), /^SGD: paramGroups\[0\]\.params\[1\] must be a Tensor, got undefined$/],
    [
      'Adam groups',
      () => new optim.Adam([{ params: [p()] }, , { params: [p()] }], { lr: 0.1 }),
      /^Adam: paramGroups\[1\]\.params must be a non-empty array of Tensors$/,
    ],
    [
      'partition.names',
      () => partition.names(model, ['weight', , 'bias']),
      /^partition\.names: suffixes must be an array of non-empty strings/,
    ],
    [
      'NewtonSummary paramGroups',
      () => new NewtonSummary([{ params: [model.parameters()[0], , model.parameters()[1]] }], fullLoss, [batch]),
      /^NewtonSummary: paramGroups\[0\]\.params\[1\] must be a Tensor, got undefined$/,
    ],
    [
      'NewtonSummary lrsClip',
      () => new NewtonSummary(partition.canonical(model).paramGroups, fullLoss, [batch], { lrsClip: [, 1] as never }),
      /^NewtonSummary: lrsClip must be \[min, max\]/,
    ],
    ['trainConfig model.hidden', () => trainConfig({ model: { kind: 'perceptron', hidden: [8, , 8] } }), /model\.hidden\[1\] must be/],
  ];
  for (const [name, call, message] of cases) it(name, () => expect(call).toThrow(message));
});
