// The reference's MLP autoencoder: encoder layers sizes[0] → … → sizes[-1], decoder the mirror image,
// activations between layers except after each stack's last, sigmoid output. Parameters
// 'layers_enc.k.*' and 'layers_dec.k.*' as the reference names them.
import { Flatten, Linear, ModuleList, Sigmoid } from '../nn/layers';
import { Module } from '../nn/module';
import { describeSequence, forwardSequence } from '../nn/sequence';
import type { TaylorDescribed, TaylorStep } from '../nn/taylor_steps';
import type { Tensor } from '../core/tensor';
import { checkEach, checkInteger, show } from '../core/validate';
import { initReference, resolveOptions, type Activation, type ReferenceOptions } from './init';
import { stack } from './parts';

/**
 * The reference's MLP autoencoder: Linear layers sizes[0] → … → sizes[-1], then the mirror image back, the
 * activation between layers except after each half's last, a sigmoid output; parameters layers_enc.k.* and layers_dec.k.*.
 */
export class AutoencoderMLP extends Module {
  readonly encoder: ModuleList;
  readonly decoder: ModuleList;
  readonly activation: Activation;
  readonly scaling: boolean;

  constructor(
    readonly sizes: number[],
    options?: ReferenceOptions,
  ) {
    super();
    if (!Array.isArray(sizes) || sizes.length < 2)
      throw new TypeError(`AutoencoderMLP: layers must list at least 2 sizes, got ${show(sizes)}`);
    checkEach(sizes, (n, i) => checkInteger('AutoencoderMLP', `layers[${i}]`, n, 1));
    const o = resolveOptions('AutoencoderMLP', options);
    this.activation = o.activation;
    this.scaling = o.scaling;
    this.encoder = this.registerModule('layers_enc', new ModuleList());
    this.decoder = this.registerModule('layers_dec', new ModuleList());
    for (let k = 0; k + 1 < sizes.length; k++) this.encoder.push(new Linear(sizes[k], sizes[k + 1], { dtype: o.dtype }));
    for (let k = sizes.length - 1; k > 0; k--) this.decoder.push(new Linear(sizes[k], sizes[k - 1], { dtype: o.dtype }));
    for (const layer of [...this.encoder, ...this.decoder]) initReference(layer as Linear, o);
  }

  /** Flatten, the encoder's stack, the decoder's stack, sigmoid. */
  #parts(): TaylorDescribed[] {
    const { activation, scaling } = this;
    return [new Flatten(), ...stack(this.encoder, activation, scaling), ...stack(this.decoder, activation, scaling), new Sigmoid()];
  }
  forward(x: Tensor): Tensor {
    return forwardSequence(this.#parts(), x);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] | string {
    return describeSequence(this.#parts(), 'AutoencoderMLP');
  }
}
