// The reference's LeNet-5: conv(5×5) → act → maxpool(2) twice, then three linear layers and log-softmax.
import { Conv2d, Flatten, Linear, LogSoftmax, MaxPool2d } from '../nn/layers';
import { Module } from '../nn/module';
import { describeSequence, forwardSequence } from '../nn/sequence';
import type { TaylorDescribed, TaylorStep } from '../nn/taylor_steps';
import type { Tensor } from '../core/tensor';
import { checkEach, checkInteger, show } from '../core/validate';
import { initReference, resolveOptions, type Activation, type ReferenceOptions } from './init';
import { activationLayer, withScaling } from './parts';

export interface LeNetOptions extends ReferenceOptions {
  /** Side of the square input images: 32 as the reference (LeNet's own), or 28 for MNIST-like data unpadded. */
  inputSize?: number;
}

/**
 * The reference's LeNet-5: two 5×5 convolutions, each followed by the activation and a 2×2 max-pool, then three
 * Linear layers and a log-softmax (train with losses.nll); parameters conv1, conv2, fc1, fc2, fc3 as PyTorch names them.
 */
export class LeNet extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly fc3: Linear;
  readonly activation: Activation;
  readonly scaling: boolean;
  /** Side of the square input images it was built for. */
  readonly inputSize: number;
  readonly #side: number; // of conv2's pooled output, which fc1's width is made for

  /** layers: [in channels, conv1 channels, conv2 channels, fc1, fc2, classes], e.g. [1, 6, 16, 120, 84, 10]. */
  constructor(
    readonly sizes: number[] = [1, 6, 16, 120, 84, 10],
    options?: LeNetOptions,
  ) {
    super();
    if (sizes !== null && typeof sizes === 'object' && !Array.isArray(sizes))
      throw new TypeError(`LeNet: the layer sizes come first and the options second: new LeNet(undefined, ${JSON.stringify(sizes)})`);
    if (!Array.isArray(sizes) || sizes.length !== 6) throw new TypeError(`LeNet: layers must list 6 sizes, got ${show(sizes)}`);
    checkEach(sizes, (n, i) => checkInteger('LeNet', `layers[${i}]`, n, 1));
    const o = resolveOptions('LeNet', options, 'tanh', ['inputSize']);
    const input = checkInteger('LeNet', 'inputSize', o.inputSize ?? 32, 16);
    const side = pooledSide(input);
    this.inputSize = input;
    this.#side = side;
    this.activation = o.activation;
    this.scaling = o.scaling;
    const dtype = o.dtype;
    this.conv1 = this.registerModule('conv1', new Conv2d(sizes[0], sizes[1], 5, { dtype }));
    this.conv2 = this.registerModule('conv2', new Conv2d(sizes[1], sizes[2], 5, { dtype }));
    this.fc1 = this.registerModule('fc1', new Linear(side * side * sizes[2], sizes[3], { dtype }));
    this.fc2 = this.registerModule('fc2', new Linear(sizes[3], sizes[4], { dtype }));
    this.fc3 = this.registerModule('fc3', new Linear(sizes[4], sizes[5], { dtype }));
    for (const layer of [this.conv1, this.conv2, this.fc1, this.fc2, this.fc3]) initReference(layer, o);
  }

  #parts(): TaylorDescribed[] {
    const act = () => activationLayer(this.activation),
      layer = (l: Conv2d | Linear) => withScaling(l, this.scaling);
    return [
      layer(this.conv1),
      act(),
      new MaxPool2d(2),
      layer(this.conv2),
      act(),
      new MaxPool2d(2),
      new Flatten(),
      layer(this.fc1),
      act(),
      layer(this.fc2),
      act(),
      layer(this.fc3),
      new LogSoftmax(1),
    ];
  }
  forward(x: Tensor): Tensor {
    const [h, w] = x.shape.slice(2);
    // An image of another size would reach fc1 with the wrong width, where the error names a matrix product.
    if (x.ndim === 4 && (pooledSide(h) !== this.#side || pooledSide(w) !== this.#side))
      throw new RangeError(
        `LeNet: built for ${this.inputSize}×${this.inputSize} images, got ${h}×${w}: make it with { inputSize: ${h === w ? h : '…'} }`,
      );
    return forwardSequence(this.#parts(), x);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] | string {
    return describeSequence(this.#parts(), 'LeNet');
  }
}

/** The side after conv(5) → pool(2) twice. */
function pooledSide(input: number): number {
  return Math.floor((Math.floor((input - 4) / 2) - 4) / 2);
}
