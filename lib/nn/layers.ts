// The built-in layers, with torch.nn's parameter names, shapes and default initialisation.
import { rand } from '../core/creation';
import type { Tensor, Conv2dOptions, MaxPool2dOptions } from '../core/tensor';
import { MAX_OP_INT, checkBoolean, checkInteger, checkNumber, checkOptions, checkPair, show } from '../core/validate';
import { Module } from './module';
import { describeSequence, forwardSequence } from './sequence';
import type { TaylorStep } from './taylor_steps';

export interface LayerOptions {
  bias?: boolean;
  dtype?: 'float32' | 'float64';
}

/** U(−bound, bound), as torch's default (Kaiming-uniform with a = √5) gives bound = 1/√fan_in. */
function uniform(shape: number[], bound: number, dtype: 'float32' | 'float64'): Tensor {
  const u = rand(shape, { dtype });
  const t = u.mul(2 * bound).sub(bound);
  u.dispose();
  return t;
}

/** y = x Wᵀ + b, weight [out, in], bias [out] (torch.nn.Linear). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options?: LayerOptions,
  ) {
    super();
    checkInteger('Linear', 'inFeatures', inFeatures, 1);
    checkInteger('Linear', 'outFeatures', outFeatures, 1);
    const o = checkOptions('Linear', options, ['bias', 'dtype']);
    const dtype = (o.dtype as 'float32' | 'float64' | undefined) ?? 'float32';
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.registerParameter('weight', uniform([outFeatures, inFeatures], bound, dtype));
    this.bias = o.bias === false ? null : this.registerParameter('bias', uniform([outFeatures], bound, dtype));
  }
  forward(x: Tensor): Tensor {
    const y = x.matmul(this.weight.transpose(0, 1));
    return this.bias ? y.add(this.bias) : y;
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'linear', weight: this.weight, bias: this.bias, inputScale: 1 }];
  }
}

/** 2-D convolution, weight [out, in/groups, kh, kw], bias [out] (torch.nn.Conv2d). */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number | [number, number],
    options?: Conv2dOptions & LayerOptions,
  ) {
    super();
    checkInteger('Conv2d', 'inChannels', inChannels, 1);
    checkInteger('Conv2d', 'outChannels', outChannels, 1);
    const [kh, kw] = checkPair('Conv2d', 'kernelSize', kernelSize, 1);
    const o = checkOptions('Conv2d', options, ['stride', 'padding', 'dilation', 'groups', 'bias', 'dtype']);
    const groups = checkInteger('Conv2d', 'groups', o.groups ?? 1, 1, MAX_OP_INT);
    if (inChannels % groups || outChannels % groups)
      throw new RangeError(`Conv2d: channels ${inChannels} → ${outChannels} must be divisible by groups=${groups}`);
    const dtype = (o.dtype as 'float32' | 'float64' | undefined) ?? 'float32';
    const bound = 1 / Math.sqrt((inChannels / groups) * kh * kw);
    this.weight = this.registerParameter('weight', uniform([outChannels, inChannels / groups, kh, kw], bound, dtype));
    this.bias = o.bias === false ? null : this.registerParameter('bias', uniform([outChannels], bound, dtype));
    this.stride = checkPair('Conv2d', 'stride', o.stride ?? 1, 1);
    this.padding = checkPair('Conv2d', 'padding', o.padding ?? 0, 0);
    this.dilation = checkPair('Conv2d', 'dilation', o.dilation ?? 1, 1);
    this.groups = groups;
  }
  forward(x: Tensor): Tensor {
    return x.conv2d(this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    const { weight, bias, stride, padding, dilation, groups } = this;
    return [{ kind: 'conv2d', weight, bias, inputScale: 1, stride, padding, dilation, groups }];
  }
}

/** 2-D max pooling over [N, C, H, W] (torch.nn.MaxPool2d); stride defaults to the kernel size. */
export class MaxPool2d extends Module {
  /** @internal The resolved settings, as forward applies them (stride defaults to the kernel size). */
  readonly settings: {
    kernelSize: [number, number];
    stride: [number, number];
    padding: [number, number];
    dilation: [number, number];
    ceilMode: boolean;
  };
  constructor(
    readonly kernelSize: number | [number, number],
    readonly options?: MaxPool2dOptions,
  ) {
    super();
    const kernel = checkPair('MaxPool2d', 'kernelSize', kernelSize, 1);
    const o = checkOptions('MaxPool2d', options, ['stride', 'padding', 'dilation', 'ceilMode']);
    this.settings = {
      kernelSize: kernel,
      stride: o.stride === undefined ? kernel : checkPair('MaxPool2d', 'stride', o.stride, 1),
      padding: checkPair('MaxPool2d', 'padding', o.padding ?? 0, 0),
      dilation: checkPair('MaxPool2d', 'dilation', o.dilation ?? 1, 1),
      ceilMode: o.ceilMode === undefined ? false : checkBoolean('MaxPool2d', 'ceilMode', o.ceilMode),
    };
  }
  forward(x: Tensor): Tensor {
    const { kernelSize, ...options } = this.settings;
    return x.maxPool2d(kernelSize, options);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'maxPool2d', ...this.settings }];
  }
}

/** [N, ...] → [N, everything else]. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    // The size of the rest, not -1: an empty batch [0, C, H, W] is [0, C·H·W] (as torch.nn.Flatten), where -1 is ambiguous.
    return x.reshape([x.shape[0] ?? 1, x.shape.slice(1).reduce((a, b) => a * b, 1)]);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'flatten' }];
  }
}

/** tanh, elementwise. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'activation', activation: 'tanh' }];
  }
}
/** max(x, 0), elementwise. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'activation', activation: 'relu' }];
  }
}
/** 1 / (1 + e^−x), elementwise. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'activation', activation: 'sigmoid' }];
  }
}
/** x for x > 0, alpha·(e^x − 1) otherwise (alpha default 1), elementwise. */
export class ELU extends Module {
  constructor(readonly alpha = 1) {
    super();
    checkNumber('ELU', 'alpha', alpha);
  }
  forward(x: Tensor): Tensor {
    return x.elu(this.alpha);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [{ kind: 'activation', activation: 'elu', alpha: this.alpha }];
  }
}
/** Returns its input (a placeholder, as torch.nn.Identity). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
  /** @internal */
  taylorSteps(): TaylorStep[] {
    return [];
  }
}
/** log-softmax along `dim` (default 1, the classes of [N, C] scores): log-probabilities for losses.nll. */
export class LogSoftmax extends Module {
  constructor(readonly dim = 1) {
    super();
    checkInteger('LogSoftmax', 'dim', dim);
  }
  forward(x: Tensor): Tensor {
    return x.logSoftmax(this.dim);
  }
  /** @internal Over the classes (dim 1) only: the route takes it as the first half of the 'nll' loss. */
  taylorSteps(): TaylorStep[] | string {
    return this.dim === 1
      ? [{ kind: 'logSoftmax' }]
      : `LogSoftmax(${this.dim}): the Taylor route knows log-softmax over dim 1 (the classes) only`;
  }
}

/** Children named '0', '1', …, held for their parameters (no forward of its own). */
export class ModuleList extends Module {
  readonly #items: Module[] = [];
  constructor(modules: Module[] = []) {
    super();
    if (!Array.isArray(modules)) throw new TypeError(`ModuleList: modules must be an array, got ${show(modules)}`);
    for (const m of modules) this.push(m);
  }
  push(module: Module): void {
    this.registerModule(String(this.#items.length), module);
    this.#items.push(module);
  }
  at(i: number): Module {
    const m = this.#items.at(i);
    if (!m) throw new RangeError(`ModuleList.at: index ${i} is out of range (length ${this.#items.length})`);
    return m;
  }
  get length(): number {
    return this.#items.length;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.#items[Symbol.iterator]();
  }
  forward(): Tensor {
    throw new TypeError('ModuleList has no forward: call its modules');
  }
  /** @internal */
  taylorSteps(): string {
    return 'a ModuleList has no forward of its own (its owner calls its modules), so no Taylor steps';
  }
}

/** Applies its modules in order; children named '0', '1', … (torch.nn.Sequential). */
export class Sequential extends Module {
  readonly #items: Module[];
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.registerModule(String(i), m));
    this.#items = modules;
  }
  forward(x: Tensor): Tensor {
    return forwardSequence(this.#items, x);
  }
  /** @internal */
  taylorSteps(): TaylorStep[] | string {
    return describeSequence(this.#items, 'Sequential');
  }
}
