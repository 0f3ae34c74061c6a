// The reference's MLP autoencoder: encoder layers sizes[0] → … → sizes[-1], decoder the mirror image,
// activations between layers except after each stack's last, sigmoid output. Parameters
// 'layers_enc.k.*' and 'layers_dec.k.*' as the reference names them.
import { Linear, ModuleList } from '../nn/layers';
import { Module } from '../nn/module';
import type { Tensor } from '../core/tensor';
import { checkInteger, show } from '../core/validate';
import { activations, applyLayer, initReference, resolveOptions, type Activation, type ReferenceOptions } from './init';

export class AutoencoderMLP extends Module {
  readonly encoder: ModuleList;
  readonly decoder: ModuleList;
  readonly activation: Activation;
  readonly scaling: boolean;

  constructor(readonly sizes: number[], options?: ReferenceOptions) {
    super();
    if (!Array.isArray(sizes) || sizes.length < 2) throw new TypeError(`AutoencoderMLP: layers must list at least 2 sizes, got ${show(sizes)}`);
    sizes.forEach((n, i) => checkInteger('AutoencoderMLP', `layers[${i}]`, n, 1));
    const o = resolveOptions('AutoencoderMLP', options);
    this.activation = o.activation;
    this.scaling = o.scaling;
    this.encoder = this.registerModule('layers_enc', new ModuleList());
    this.decoder = this.registerModule('layers_dec', new ModuleList());
    for (let k = 0; k + 1 < sizes.length; k++) this.encoder.push(new Linear(sizes[k], sizes[k + 1], { dtype: o.dtype }));
    for (let k = sizes.length - 1; k > 0; k--) this.decoder.push(new Linear(sizes[k], sizes[k - 1], { dtype: o.dtype }));
    for (const layer of [...this.encoder, ...this.decoder]) initReference(layer as Linear, o);
  }

  forward(x: Tensor): Tensor {
    const act = activations[this.activation];
    let h = x.reshape([x.shape[0] ?? 1, -1]);
    for (const stack of [this.encoder, this.decoder]) {
      for (let k = 0; k < stack.length; k++) {
        h = applyLayer(stack.at(k) as Linear, h, this.scaling);
        if (k < stack.length - 1) h = act(h);
      }
    }
    return h.sigmoid();
  }
}
