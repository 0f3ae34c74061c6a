// The reference's VGG: 3×3 convolutions (padding 1) and 2×2 max-pools as a configuration lists them
// ('A' is VGG-11), then linear layers; weights σ_w·N(0,1)/√fan_in, biases zero; log-softmax output.
// Images must have a side that is a multiple of 32 (the reference's adaptive average pool is then the identity).
import { Conv2d, Flatten, Linear, LogSoftmax, MaxPool2d, ModuleList } from '../nn/layers';
import { Module } from '../nn/module';
import { describeSequence, forwardSequence } from '../nn/sequence';
import type { TaylorDescribed, TaylorStep } from '../nn/taylor_steps';
import type { Tensor } from '../core/tensor';
import { checkEach, checkInteger, show } from '../core/validate';
import { initReference, resolveOptions, type Activation, type ReferenceOptions } from './init';
import { activationLayer, withScaling } from './parts';

export const VGG_CONFIGS: Record<'A' | 'B' | 'D' | 'E', Array<number | 'M'>> = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

export interface VGGOptions extends Omit<ReferenceOptions, 'sigmaB'> {
  /** A key of VGG_CONFIGS or a list of channel counts and 'M' (max-pool); default 'A' (VGG-11). */
  config?: keyof typeof VGG_CONFIGS | Array<number | 'M'>;
  /** The hidden sizes of the classifier's Linear layers; default [4096, 4096]. */
  fcSizes?: number[];
  /** Side of the square input images: at least 32, a multiple of 2 to the number of max-pools; default 32. */
  imageSize?: number;
  /** Channels of the input images; default 3. */
  inChannels?: number;
  /** Outputs of the last layer; default 10. */
  numClasses?: number;
}

/**
 * The reference's VGG: 3×3 convolutions (padding 1) and 2×2 max-pools as `config` lists them (VGG-11 by default),
 * then Linear layers (fcSizes) and a log-softmax; parameters features.k.* and classifier.k.*, k as nn.Sequential counts.
 */
export class VGG extends Module {
  readonly features: ModuleList;
  readonly classifier: ModuleList;
  readonly activation: Activation;
  readonly scaling: boolean;

  constructor(options?: VGGOptions) {
    super();
    const o = resolveOptions('VGG', { ...(options ?? {}), sigmaB: 0 }, 'relu', [
      'config',
      'fcSizes',
      'imageSize',
      'inChannels',
      'numClasses',
    ]);
    const config =
      typeof o.config === 'string' || o.config === undefined ? VGG_CONFIGS[(o.config ?? 'A') as 'A'] : (o.config as Array<number | 'M'>);
    if (!Array.isArray(config))
      throw new TypeError(`VGG: config must be one of ${Object.keys(VGG_CONFIGS).join(', ')} or a list, got ${show(o.config)}`);
    const imageSize = checkInteger('VGG', 'imageSize', o.imageSize ?? 32, 32);
    const pools = config.filter((c) => c === 'M').length;
    if (imageSize % 2 ** pools !== 0)
      throw new RangeError(`VGG: imageSize ${imageSize} must be a multiple of ${2 ** pools} (one halving per max-pool)`);
    const fcSizes = (o.fcSizes as number[] | undefined) ?? [4096, 4096];
    if (!Array.isArray(fcSizes)) throw new TypeError(`VGG: fcSizes must be an array of sizes, got ${show(fcSizes)}`);
    checkEach(fcSizes, (n, i) => checkInteger('VGG', `fcSizes[${i}]`, n, 1));
    const numClasses = checkInteger('VGG', 'numClasses', o.numClasses ?? 10, 1);
    let channels = checkInteger('VGG', 'inChannels', o.inChannels ?? 3, 1);
    this.activation = o.activation;
    this.scaling = o.scaling;
    this.features = this.registerModule('features', new ModuleList());
    // Names follow torch: features.k counts every entry, activations included (they hold no parameters).
    for (const c of config) {
      if (c === 'M') {
        this.features.push(new MaxPool2d(2));
        continue;
      }
      const conv = new Conv2d(channels, checkInteger('VGG', 'config entry', c, 1), 3, { padding: 1, dtype: o.dtype });
      initReference(conv, o);
      this.features.push(conv);
      this.features.push(activationLayer(this.activation));
      channels = c;
    }
    const side = imageSize / 2 ** pools;
    this.classifier = this.registerModule('classifier', new ModuleList());
    let width = channels * side * side;
    fcSizes.concat([numClasses]).forEach((size, i) => {
      if (i > 0) this.classifier.push(activationLayer(this.activation));
      const fc = new Linear(width, size, { dtype: o.dtype });
      initReference(fc, o);
      this.classifier.push(fc);
      width = size;
    });
  }

  /** The features, flatten, the classifier, log-softmax; each layer's input scaled under `scaling`. */
  #parts(): TaylorDescribed[] {
    const part = (m: Module) => (m instanceof Conv2d || m instanceof Linear ? withScaling(m, this.scaling) : m);
    return [...[...this.features].map(part), new Flatten(), ...[...this.classifier].map(part), new LogSoftmax(1)];
  }
  forward(x: Tensor): Tensor {
    return forwardSequence(this.#parts(), x);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] | string {
    return describeSequence(this.#parts(), 'VGG');
  }
}
