// The parts the reference models chain (nn/sequence.ts): their layers — under `scaling`, with the input divided
// by √fan_in first —, their activation as a layer, and a stack of layers with the activation between them.
import { type Conv2d, ELU, Identity, type Linear, ReLU, Sigmoid, Tanh } from '../nn/layers';
import type { Module } from '../nn/module';
import type { Tensor } from '../core/tensor';
import { taylorStepsOf, type TaylorDescribed, type TaylorStep } from '../nn/taylor_steps';
import { fanIn, type Activation } from './init';

/**
 * A layer whose input is divided by √fan_in first (the reference's `scaling`; its weights are then drawn without
 * the 1/√fan_in factor). A part, not a module: the layer stays registered where the model put it.
 */
export class ScaledLayer implements TaylorDescribed {
  readonly #divisor: number;
  constructor(readonly layer: Linear | Conv2d) {
    this.#divisor = Math.sqrt(fanIn(layer));
  }
  forward(x: Tensor): Tensor {
    return this.layer.forward(x.div(this.#divisor));
  }
  taylorSteps(): TaylorStep[] | string {
    const steps = taylorStepsOf(this.layer);
    if (typeof steps === 'string') return steps;
    const [first, ...rest] = steps;
    if (first?.kind !== 'linear' && first?.kind !== 'conv2d') return `${this.layer.constructor.name} does not start with a linear map`;
    return [{ ...first, inputScale: first.inputScale / this.#divisor }, ...rest];
  }
}

/** The layer as the reference models apply it: itself, or its input scaled under `scaling`. */
export function withScaling(layer: Linear | Conv2d, scaling: boolean): TaylorDescribed {
  return scaling ? new ScaledLayer(layer) : layer;
}

const ACTIVATION_LAYERS: Record<Activation, () => Module> = {
  tanh: () => new Tanh(),
  relu: () => new ReLU(),
  sigmoid: () => new Sigmoid(),
  elu: () => new ELU(),
  identity: () => new Identity(),
};

/** One of the reference activations as a layer. */
export function activationLayer(activation: Activation): Module {
  return ACTIVATION_LAYERS[activation]();
}

/** The layers in order with the activation between them, not after the last (the reference's MLP stacks). */
export function stack(layers: Iterable<Module>, activation: Activation, scaling: boolean): TaylorDescribed[] {
  const parts: TaylorDescribed[] = [];
  for (const layer of layers) {
    if (parts.length > 0) parts.push(activationLayer(activation));
    parts.push(withScaling(layer as Linear, scaling));
  }
  return parts;
}
