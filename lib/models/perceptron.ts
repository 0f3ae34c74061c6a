// The reference's multilayer perceptron: parameters 'layers.k.weight' [out, in] and 'layers.k.bias',
// weights ~ σ_w·N(0,1) (divided by √fan_in unless `scaling`), biases ~ σ_b·N(0,1); with `scaling`, each
// layer's input is divided by √fan_in instead (the NTK parameterisation).
import { randn } from '../creation';
import { Linear, ModuleList } from '../nn/layers';
import { Module } from '../nn/module';
import type { Tensor } from '../tensor';
import { checkBoolean, checkInteger, checkNumber, checkOptions, show } from '../validate';

export type Activation = 'tanh' | 'relu' | 'sigmoid' | 'elu' | 'identity';

export const activations: Record<Activation, (x: Tensor) => Tensor> = {
  tanh: (x) => x.tanh(),
  relu: (x) => x.relu(),
  sigmoid: (x) => x.sigmoid(),
  elu: (x) => x.elu(),
  identity: (x) => x,
};

export interface PerceptronOptions {
  activation?: Activation; // default 'tanh'
  scaling?: boolean; // default false
  sigmaW?: number; // default 1
  sigmaB?: number; // default 1
  classification?: boolean; // default true: log-softmax output
  dtype?: 'float32' | 'float64';
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
    const o = checkOptions('Perceptron', options);
    const activation = (o.activation ?? 'tanh') as Activation;
    if (!(activation in activations)) throw new TypeError(`Perceptron: activation must be one of ${Object.keys(activations).join(', ')}, got ${show(activation)}`);
    this.activation = activation;
    this.scaling = o.scaling === undefined ? false : checkBoolean('Perceptron', 'scaling', o.scaling);
    this.classification = o.classification === undefined ? true : checkBoolean('Perceptron', 'classification', o.classification);
    const sigmaW = o.sigmaW === undefined ? 1 : checkNumber('Perceptron', 'sigmaW', o.sigmaW);
    const sigmaB = o.sigmaB === undefined ? 1 : checkNumber('Perceptron', 'sigmaB', o.sigmaB);
    const dtype = (o.dtype ?? 'float32') as 'float32' | 'float64';

    this.layers = this.registerModule('layers', new ModuleList());
    for (let k = 0; k + 1 < sizes.length; k++) {
      const layer = new Linear(sizes[k], sizes[k + 1], { dtype });
      const w = randn([sizes[k + 1], sizes[k]], { dtype });
      const b = randn([sizes[k + 1]], { dtype });
      const wScaled = w.mul(this.scaling ? sigmaW : sigmaW / Math.sqrt(sizes[k]));
      const bScaled = b.mul(sigmaB);
      layer.weight.assign(wScaled, true);
      layer.bias!.assign(bScaled, true);
      for (const t of [w, b, wScaled, bScaled]) t.dispose();
      this.layers.push(layer);
    }
  }

  forward(x: Tensor): Tensor {
    const act = activations[this.activation];
    let h = x.reshape([x.shape[0] ?? 1, -1]);
    const n = this.layers.length;
    for (let k = 0; k < n; k++) {
      const layer = this.layers.at(k) as Linear;
      if (this.scaling) h = h.div(Math.sqrt(layer.inFeatures));
      h = layer.forward(h);
      if (k < n - 1) h = act(h);
    }
    return this.classification ? h.logSoftmax(1) : h;
  }
}
