import { describe, expect, it } from 'vitest';
import * as grnewt from '../lib';
import { models, zeros } from '../lib';

describe('reference models', () => {
  it('LeNet: names, shapes on 32×32 (reference) and 28×28 inputs', () => {
    const net = new models.LeNet();
    expect(net.namedParameters().map(([n, p]) => `${n} ${p.shape}`)).toEqual([
      'conv1.weight 6,1,5,5',
      'conv1.bias 6',
      'conv2.weight 16,6,5,5',
      'conv2.bias 16',
      'fc1.weight 120,400',
      'fc1.bias 120',
      'fc2.weight 84,120',
      'fc2.bias 84',
      'fc3.weight 10,84',
      'fc3.bias 10',
    ]);
    expect(net.forward(grnewt.randn([2, 1, 32, 32])).shape).toEqual([2, 10]);
    const small = new models.LeNet([1, 6, 16, 120, 84, 10], { inputSize: 28 });
    expect(small.fc1.weight.shape).toEqual([120, 256]);
    expect(small.forward(grnewt.randn([2, 1, 28, 28])).shape).toEqual([2, 10]);
  });

  it('VGG: VGG-11 layout by default, smaller configurations on request', () => {
    const vgg = new models.VGG({ fcSizes: [64, 64] });
    const convs = vgg.namedParameters().filter(([n]) => n.startsWith('features') && n.endsWith('weight'));
    expect(convs.length).toBe(8); // VGG-11: 8 convolutions, then 3 linear layers
    expect(vgg.namedParameters().filter(([n]) => n.startsWith('classifier') && n.endsWith('weight')).length).toBe(3);
    const tiny = new models.VGG({ config: [8, 'M', 16, 'M'], fcSizes: [32], imageSize: 32, inChannels: 1, activation: 'tanh' });
    expect(tiny.namedParameters().map(([n]) => n)).toEqual([
      'features.0.weight',
      'features.0.bias',
      'features.3.weight',
      'features.3.bias',
      'classifier.0.weight',
      'classifier.0.bias',
      'classifier.2.weight',
      'classifier.2.bias',
    ]);
    expect(tiny.forward(grnewt.randn([2, 1, 32, 32])).shape).toEqual([2, 10]);
    expect(Array.from(tiny.namedParameters()[1][1].toArray()).every((b) => b === 0)).toBe(true); // zero biases
    expect(() => new models.VGG({ imageSize: 48 })).toThrow(/multiple of 32/);
  });

  it("VGG's defaults: 3 input channels, a classifier of 4096, 4096 and 10 (the reference's)", () => {
    // five pools take 32×32 to 1×1: the classifier's first layer reads the last convolution's 2 channels
    const vgg = new models.VGG({ config: [2, 'M', 'M', 'M', 'M', 'M'] });
    const shapes = Object.fromEntries(vgg.namedParameters().map(([n, p]) => [n, p.shape]));
    expect(shapes).toEqual({
      'features.0.weight': [2, 3, 3, 3],
      'features.0.bias': [2],
      'classifier.0.weight': [4096, 2],
      'classifier.0.bias': [4096],
      'classifier.2.weight': [4096, 4096],
      'classifier.2.bias': [4096],
      'classifier.4.weight': [10, 4096],
      'classifier.4.bias': [10],
    });
  });

  it('LeNet on 30×30 images: conv 26, pool 13, conv 9, pool 4 (pooling floors, as torch), so fc1 reads 16·4·4', () => {
    const net = new models.LeNet(undefined, { inputSize: 30 });
    expect(net.fc1.weight.shape).toEqual([120, 256]);
    expect(net.forward(zeros([2, 1, 30, 30])).shape).toEqual([2, 10]);
  });

  it('AutoencoderMLP: mirrored layers, sigmoid output in (0, 1)', () => {
    const ae = new models.AutoencoderMLP([784, 64, 8]);
    expect(ae.namedParameters().map(([n, p]) => `${n} ${p.shape}`)).toEqual([
      'layers_enc.0.weight 64,784',
      'layers_enc.0.bias 64',
      'layers_enc.1.weight 8,64',
      'layers_enc.1.bias 8',
      'layers_dec.0.weight 64,8',
      'layers_dec.0.bias 64',
      'layers_dec.1.weight 784,64',
      'layers_dec.1.bias 784',
    ]);
    const out = Array.from(ae.forward(grnewt.randn([3, 1, 28, 28])).toArray() as Float32Array);
    expect(out.length).toBe(3 * 784);
    expect(out.every((v) => v > 0 && v < 1)).toBe(true);
  });
});

describe('LeNet input size', () => {
  it('an image of another size than it was built for is named, with the option to build it for that size', () => {
    const lenet = new models.LeNet();
    expect(() => lenet.forward(zeros([2, 1, 28, 28]))).toThrow(
      new RangeError('LeNet: built for 32×32 images, got 28×28: make it with { inputSize: 28 }'),
    );
    expect(new models.LeNet(undefined, { inputSize: 28 }).forward(zeros([2, 1, 28, 28])).shape).toEqual([2, 10]);
    expect(lenet.forward(zeros([2, 1, 32, 32])).shape).toEqual([2, 10]);
  });
});
