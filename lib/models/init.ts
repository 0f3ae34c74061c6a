// The reference models' initialisation: weights σ_w·N(0,1), divided by √fan_in unless `scaling` (then
// each layer divides its input by √fan_in in the forward pass instead), biases σ_b·N(0,1).
import { randn } from '../core/creation';
import type { Linear, Conv2d } from '../nn/layers';
import type { Tensor } from '../core/tensor';
import { native } from '../core/native';
import { FLOAT32_MAX, checkBoolean, checkNumber, checkOptions, show } from '../core/validate';

export type Activation = 'tanh' | 'relu' | 'sigmoid' | 'elu' | 'identity';

export const activations: Record<Activation, (x: Tensor) => Tensor> = {
  tanh: (x) => x.tanh(),
  relu: (x) => x.relu(),
  sigmoid: (x) => x.sigmoid(),
  elu: (x) => x.elu(),
  identity: (x) => x,
};

export interface ReferenceOptions {
  /** The activation between layers; default 'tanh' ('relu' for VGG). */
  activation?: Activation;
  /** Divide each layer's input by √fan_in in the forward pass instead of its initial weights (the reference's `scaling`); default false. */
  scaling?: boolean;
  /** Initial weights σ_w·N(0, 1) (divided by √fan_in unless scaling); default 1. */
  sigmaW?: number;
  /** Initial biases σ_b·N(0, 1); default 1. */
  sigmaB?: number;
  /** The parameters' dtype; default 'float32'. */
  dtype?: 'float32' | 'float64';
}

const REFERENCE_KEYS = ['activation', 'scaling', 'sigmaW', 'sigmaB', 'dtype'] as const;

export interface Resolved {
  activation: Activation;
  scaling: boolean;
  sigmaW: number;
  sigmaB: number;
  dtype: 'float32' | 'float64';
}

/** The reference options every model takes; `extra` names the model's own. Unknown keys are refused. */
export function resolveOptions(
  where: string,
  options: unknown,
  defaultActivation: Activation = 'tanh',
  extra: readonly string[] = [],
): Resolved & Record<string, unknown> {
  const o = checkOptions(where, options, [...REFERENCE_KEYS, ...extra]);
  const activation = (o.activation ?? defaultActivation) as Activation;
  if (!(activation in activations))
    throw new TypeError(`${where}: activation must be one of ${Object.keys(activations).join(', ')}, got ${show(activation)}`);
  if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'float64')
    throw new TypeError(`${where}: dtype must be 'float32' or 'float64', got ${show(o.dtype)}`);
  return {
    ...o,
    activation,
    scaling: o.scaling === undefined ? false : checkBoolean(where, 'scaling', o.scaling),
    sigmaW: o.sigmaW === undefined ? 1 : checkScale(where, 'sigmaW', o.sigmaW),
    sigmaB: o.sigmaB === undefined ? 1 : checkScale(where, 'sigmaB', o.sigmaB),
    dtype: (o.dtype as Resolved['dtype']) ?? 'float32',
  };
}

/** An initial scale: a finite number within float32's range (else every weight is Inf or NaN from the start). */
function checkScale(where: string, name: string, value: unknown): number {
  checkNumber(where, name, value);
  if (!Number.isFinite(value) || Math.abs(value as number) > FLOAT32_MAX) {
    throw new RangeError(`${where}: ${name} must be a finite number within float32's range (|${name}| ≤ ${FLOAT32_MAX}), got ${value}`);
  }
  return value as number;
}

/** Fan-in of a layer: every dimension of its weight but the first. */
export function fanIn(layer: Linear | Conv2d): number {
  return layer.weight.shape.slice(1).reduce((a, b) => a * b, 1);
}

/** Re-draws a layer's parameters as the reference does. */
export function initReference(layer: Linear | Conv2d, o: Resolved): void {
  const w = randn(layer.weight.shape, { dtype: o.dtype });
  const scaled = w.mul(o.scaling ? o.sigmaW : o.sigmaW / Math.sqrt(fanIn(layer)));
  layer.weight.assign(scaled, true);
  for (const t of [w, scaled]) t.dispose();
  if (layer.bias) {
    const b = randn(layer.bias.shape, { dtype: o.dtype });
    const bs = b.mul(o.sigmaB);
    layer.bias.assign(bs, true);
    for (const t of [b, bs]) t.dispose();
  }
  // A large scale times a normal sample can still overflow float32: say so now, not as a NaN loss later.
  const params = layer.bias ? [layer.weight, layer.bias] : [layer.weight];
  if (!native().allFinite(params.map((p) => p.handle('init')))) {
    throw new RangeError(
      `initialisation: sigmaW = ${o.sigmaW}, sigmaB = ${o.sigmaB} make initial parameters overflow ${o.dtype} (they would be Inf); use smaller scales`,
    );
  }
}
