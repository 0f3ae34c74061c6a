// The reference's multilayer perceptron: parameters 'layers.k.weight' [out, in] and 'layers.k.bias'.
import { Flatten, Linear, LogSoftmax, ModuleList } from '../nn/layers';
import { Module } from '../nn/module';
import { describeSequence, forwardSequence } from '../nn/sequence';
import type { TaylorDescribed, TaylorStep } from '../nn/taylor_steps';
import type { Tensor } from '../core/tensor';
import { checkBoolean, checkEach, checkInteger, show } from '../core/validate';
import { initReference, resolveOptions, type Activation, type ReferenceOptions } from './init';
import { stack } from './parts';

export interface PerceptronOptions extends ReferenceOptions {
  /** Default true: the output is a log-softmax (train with losses.nll); false: logits (crossEntropy, mse). */
  classification?: boolean;
}

/** Fully connected layers with an activation between them; the input is flattened ([N, 1, 28, 28] → [N, 784]). */
export class Perceptron extends Module {
  readonly layers: ModuleList;
  readonly activation: Activation;
  readonly scaling: boolean;
  readonly classification: boolean;

  constructor(
    readonly sizes: number[],
    options?: PerceptronOptions,
  ) {
    super();
    if (!Array.isArray(sizes) || sizes.length < 2) throw new TypeError(`Perceptron: layers must list at least 2 sizes, got ${show(sizes)}`);
    checkEach(sizes, (n, i) => checkInteger('Perceptron', `layers[${i}]`, n, 1));
    const o = resolveOptions('Perceptron', options, 'tanh', ['classification']);
    this.activation = o.activation;
    this.scaling = o.scaling;
    this.classification = o.classification === undefined ? true : checkBoolean('Perceptron', 'classification', o.classification);
    this.layers = this.registerModule('layers', new ModuleList());
    for (let k = 0; k + 1 < sizes.length; k++) {
      const layer = new Linear(sizes[k], sizes[k + 1], { dtype: o.dtype });
      initReference(layer, o);
      this.layers.push(layer);
    }
  }

  /** Flatten, the layers with the activation between them, log-softmax under `classification`. */
  #parts(): TaylorDescribed[] {
    const parts = [new Flatten(), ...stack(this.layers, this.activation, this.scaling)];
    return this.classification ? [...parts, new LogSoftmax(1)] : parts;
  }
  forward(x: Tensor): Tensor {
    return forwardSequence(this.#parts(), x);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] | string {
    return describeSequence(this.#parts(), 'Perceptron');
  }
}
