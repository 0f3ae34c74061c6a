// The reference's multilayer perceptron: parameters 'layers.k.weight' [out, in] and 'layers.k.bias'.
import { Linear, ModuleList } from '../nn/layers';
import { Module } from '../nn/module';
import type { Tensor } from '../core/tensor';
import { checkBoolean, checkInteger, show } from '../core/validate';
import { activations, applyLayer, initReference, resolveOptions, type Activation, type ReferenceOptions } from './init';

export interface PerceptronOptions extends ReferenceOptions {
  classification?: boolean; // default true: log-softmax output
}

export class Perceptron extends Module {
  readonly layers: ModuleList;
  readonly activation: Activation;
  readonly scaling: boolean;
  readonly classification: boolean;

  constructor(readonly sizes: number[], options?: PerceptronOptions) {
    super();
    if (!Array.isArray(sizes) || sizes.length < 2) throw new TypeError(`Perceptron: layers must list at least 2 sizes, got ${show(sizes)}`);
    sizes.forEach((n, i) => checkInteger('Perceptron', `layers[${i}]`, n, 1));
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

  forward(x: Tensor): Tensor {
    const act = activations[this.activation];
    let h = x.reshape([x.shape[0] ?? 1, -1]);
    const n = this.layers.length;
    for (let k = 0; k < n; k++) {
      h = applyLayer(this.layers.at(k) as Linear, h, this.scaling);
      if (k < n - 1) h = act(h);
    }
    return this.classification ? h.logSoftmax(1) : h;
  }
}
