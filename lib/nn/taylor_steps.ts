// How a module tells the Taylor route (lib/method/taylor_route.ts) what its forward computes: a list of steps in
// native/method/taylor.cpp's vocabulary, with the parameters as tensors. Each built-in layer and model describes
// its own forward next to it (its taylorSteps()), containers compose their children's (nn/sequence.ts), and
// the route asks the model instead of recognising it.
import type { Tensor } from '../core/tensor';

/** The activations the Taylor route has jets for (native/method/jets.cpp). */
export type TaylorActivation = 'tanh' | 'relu' | 'sigmoid' | 'elu' | 'identity';

/** y = (inputScale·x) Wᵀ + b. */
export interface LinearStep {
  kind: 'linear';
  weight: Tensor;
  bias: Tensor | null;
  inputScale: number;
}

/** y = conv2d(inputScale·x, W, b) with the layer's settings. */
export interface Conv2dStep {
  kind: 'conv2d';
  weight: Tensor;
  bias: Tensor | null;
  inputScale: number;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export type TaylorStep =
  | LinearStep
  | Conv2dStep
  | {
      kind: 'maxPool2d';
      kernelSize: [number, number];
      stride: [number, number];
      padding: [number, number];
      dilation: [number, number];
      ceilMode: boolean;
    }
  | { kind: 'flatten' } // [N, ...] → [N, everything else]
  | { kind: 'activation'; activation: TaylorActivation; alpha?: number }
  | { kind: 'logSoftmax' }; // over dim 1; the route takes it as the first half of the 'nll' loss

/** What describes itself: every module (the base says it cannot), and the parts the built-in models chain. */
export interface TaylorDescribed {
  forward(x: Tensor): Tensor;
  /** This object's forward as Taylor steps, or a sentence saying why it cannot be described. */
  taylorSteps(): TaylorStep[] | string;
}

/**
 * `part`'s Taylor steps, or why there are none. A description is trusted only from the class that also defines
 * the forward it describes, i.e. the object's own class defines both: a subclass of a built-in layer or model
 * (whose forward, or anything its forward reads, may differ) does not inherit its base's description.
 */
export function taylorStepsOf(part: unknown): TaylorStep[] | string {
  const own = part !== null && typeof part === 'object' ? Object.getPrototypeOf(part) : null;
  const name = own?.constructor?.name || 'an object';
  if (own !== null && Object.hasOwn(own, 'forward') && Object.hasOwn(own, 'taylorSteps')) return (part as TaylorDescribed).taylorSteps();
  for (let proto = own && Object.getPrototypeOf(own); proto !== null; proto = Object.getPrototypeOf(proto)) {
    if (Object.hasOwn(proto, 'forward') && Object.hasOwn(proto, 'taylorSteps')) {
      return `${name} is a subclass of ${proto.constructor.name}, which may compute something else than ${proto.constructor.name}'s description says (only the exact built-in classes are described)`;
    }
  }
  return `${name} is not a built-in model or layer, nor an nn.Sequential of them`;
}
