// The fast route for the summaries (Taylor mode, native/method/taylor.cpp): a model made of built-in layers
// is described to C++ as a list of steps, and one forward pass of order-3 jets gives ḡ, H̄ and order3 for
// every subset at once — equal to computeHg's autograd route (tested to 1e-10 in float64).
import { holding, assertFree } from '../core/pending_holds';
import { native, type NativeTensor, type TaylorProfile } from '../core/native';
import { Conv2d, ELU, Flatten, Identity, Linear, LogSoftmax, MaxPool2d, ReLU, Sequential, Sigmoid, Tanh } from '../nn/layers';
import type { Module } from '../nn/module';
import { AutoencoderMLP } from '../models/autoencoder';
import { fanIn, type Activation } from '../models/init';
import { LeNet } from '../models/lenet';
import { Perceptron } from '../models/perceptron';
import { ActivationModule, VGG } from '../models/vgg';
import { checkParamGroups, type ParamGroup } from './partition';
import { checkFinite, groupDirection, hgOptions, wrapHg, type Hg, type HgOptions } from './summaries';
import { Tensor } from '../core/tensor';
import { checkOptions, show } from '../core/validate';

/** The loss the summaries are of: 'nll' of a model that outputs log-probabilities, 'crossEntropy' of logits, 'mse'. */
export type TaylorLoss = 'nll' | 'crossEntropy' | 'mse';

export interface TaylorOptions extends HgOptions {
  /** Default: 'nll' for models ending with log-softmax, 'mse' otherwise (the built-in models' natural losses). */
  loss?: TaylorLoss;
}

/** computeHg's result plus the loss itself, as the Taylor route evaluated it. */
export interface TaylorHg extends Hg {
  loss: Tensor; // 0-d
}

type Step =
  | { kind: 'layer'; layer: Linear | Conv2d; scaled: boolean }
  | { kind: 'activation'; activation: Activation; alpha?: number }
  | { kind: 'maxPool2d'; pool: MaxPool2d }
  | { kind: 'flatten' }
  | { kind: 'logSoftmax' };

// Exactly the class, not a subclass: a subclass may override forward, which the steps would not see.
function exactly<T>(m: unknown, cls: abstract new (...args: never[]) => T): m is T {
  return m !== null && typeof m === 'object' && m.constructor === cls;
}

const act = (activation: Activation): Step => ({ kind: 'activation', activation });

/** Linear layers with the activation between them (not after each stack's last), the input flattened first. */
function perceptronSteps(stacks: Iterable<Module>[], activation: Activation, scaled: boolean): Step[] {
  const steps: Step[] = [{ kind: 'flatten' }];
  for (const stack of stacks) {
    const layers = [...stack] as Linear[];
    layers.forEach((layer, k) => {
      steps.push({ kind: 'layer', layer, scaled });
      if (k < layers.length - 1) steps.push(act(activation));
    });
  }
  return steps;
}

/** The step of one built-in layer ('skip' for Identity), or undefined for anything else. */
function stepOf(m: Module, scaled: boolean): Step | 'skip' | undefined {
  if (exactly(m, Linear) || exactly(m, Conv2d)) return { kind: 'layer', layer: m as Linear | Conv2d, scaled };
  if (exactly(m, MaxPool2d)) return { kind: 'maxPool2d', pool: m as MaxPool2d };
  if (exactly(m, Flatten)) return { kind: 'flatten' };
  if (exactly(m, Tanh)) return act('tanh');
  if (exactly(m, ReLU)) return act('relu');
  if (exactly(m, Sigmoid)) return act('sigmoid');
  if (exactly(m, ELU)) return { kind: 'activation', activation: 'elu', alpha: (m as ELU).alpha };
  if (exactly(m, ActivationModule)) return act((m as ActivationModule).kind);
  if (exactly(m, Identity)) return 'skip';
  return undefined;
}

/**
 * The model as a list of built-in steps, or a sentence saying why it cannot be: Perceptron, LeNet, VGG,
 * AutoencoderMLP, and nn.Sequential of Linear, Conv2d, MaxPool2d, Flatten, Tanh, ReLU, Sigmoid, ELU,
 * Identity and a final LogSoftmax(1).
 */
export function taylorSteps(model: Module): Step[] | string {
  if (exactly(model, Perceptron)) {
    const steps = perceptronSteps([model.layers], model.activation, model.scaling);
    return model.classification ? [...steps, { kind: 'logSoftmax' }] : steps;
  }
  if (exactly(model, AutoencoderMLP)) return [...perceptronSteps([model.encoder, model.decoder], model.activation, model.scaling), act('sigmoid')];
  if (exactly(model, LeNet)) {
    const s = model.scaling, pool = new MaxPool2d(2);
    return [
      { kind: 'layer', layer: model.conv1, scaled: s }, act(model.activation), { kind: 'maxPool2d', pool },
      { kind: 'layer', layer: model.conv2, scaled: s }, act(model.activation), { kind: 'maxPool2d', pool },
      { kind: 'flatten' },
      { kind: 'layer', layer: model.fc1, scaled: s }, act(model.activation),
      { kind: 'layer', layer: model.fc2, scaled: s }, act(model.activation),
      { kind: 'layer', layer: model.fc3, scaled: s }, { kind: 'logSoftmax' },
    ];
  }
  if (exactly(model, VGG)) {
    const steps: Step[] = [];
    for (const [k, m] of [...model.features, new Flatten(), ...model.classifier].entries()) {
      const step = stepOf(m, model.scaling);
      if (!step) return `VGG holds a ${m.constructor.name} (step ${k})`;
      if (step !== 'skip') steps.push(step);
    }
    return [...steps, { kind: 'logSoftmax' }];
  }
  if (exactly(model, Sequential)) {
    const steps: Step[] = [];
    const children = model.namedChildren().map(([, m]) => m);
    for (const [k, m] of children.entries()) {
      const last = k === children.length - 1;
      if (exactly(m, LogSoftmax) && m.dim === 1 && last) steps.push({ kind: 'logSoftmax' });
      else if (exactly(m, Sequential)) {
        const inner = taylorSteps(m);
        if (typeof inner === 'string') return inner;
        if (inner.some((st) => st.kind === 'logSoftmax') && !last) return 'a LogSoftmax that is not the last step';
        for (const st of inner) steps.push(st); // no spread: argument lists have a size limit
      } else {
        const step = stepOf(m, false);
        if (!step) return `the Sequential holds a ${(m as Module).constructor.name} (step ${k}), which the Taylor route does not know`;
        if (step !== 'skip') steps.push(step);
      }
    }
    return steps;
  }
  return `${model?.constructor?.name ?? show(model)} is not a built-in model or an nn.Sequential of built-in layers`;
}

/** Whether computeHgTaylor can handle `model` (and if not, why). */
export function taylorSupport(model: Module): { supported: boolean; reason?: string } {
  const steps = taylorSteps(model);
  return typeof steps === 'string' ? { supported: false, reason: steps } : { supported: true };
}

/** The losses the Taylor route can pair with `model`: 'nll' after a log-softmax, else 'crossEntropy' and 'mse'. */
export function taylorLosses(model: Module): TaylorLoss[] {
  const steps = taylorSteps(model);
  if (typeof steps === 'string') return [];
  return steps.at(-1)?.kind === 'logSoftmax' ? ['nll'] : ['crossEntropy', 'mse'];
}

/**
 * computeHg for `loss(model.forward(x), y)` by Taylor mode: one forward pass of order-3 jets instead of
 * 1 + 2S backward passes. `model` must be a built-in model or an nn.Sequential of built-in layers (see
 * taylorSupport). Parameters of the model absent from `paramGroups` get no direction, as in computeHg.
 */
export function computeHgTaylor(model: Module, paramGroups: ParamGroup[], x: Tensor, y: Tensor, direction: Tensor[], options?: TaylorOptions): TaylorHg {
  const call = prepare('computeHgTaylor', model, paramGroups, x, y, direction, options);
  return wrapTaylor(native().taylorHg(...call.args));
}

/** computeHgTaylor on a worker thread; the parameters are held (not changeable) until it settles. */
export async function computeHgTaylorAsync(model: Module, paramGroups: ParamGroup[], x: Tensor, y: Tensor, direction: Tensor[], options?: TaylorOptions): Promise<TaylorHg> {
  const call = prepare('computeHgTaylorAsync', model, paramGroups, x, y, direction, options);
  return holding('computeHgTaylorAsync', call.params, async () => wrapTaylor(await native().taylorHgAsync(...call.args)));
}

/**
 * computeHgTaylor plus where the native call's time went, by stage (seconds): the bench's (scripts/bench.mjs),
 * not part of the public API.
 */
export function computeHgTaylorProfiled(model: Module, paramGroups: ParamGroup[], x: Tensor, y: Tensor, direction: Tensor[], options?: TaylorOptions): TaylorHg & { profile: TaylorProfile } {
  const call = prepare('computeHgTaylorProfiled', model, paramGroups, x, y, direction, options);
  const raw = native().taylorHgProfile(...call.args);
  return { ...wrapTaylor(raw), profile: raw.profile };
}

function wrapTaylor(raw: { H: NativeTensor; g: NativeTensor; order3: NativeTensor; loss: NativeTensor }): TaylorHg {
  return { ...wrapHg(raw), loss: new Tensor(raw.loss) };
}

function prepare(where: string, model: Module, paramGroups: ParamGroup[], x: Tensor, y: Tensor, direction: Tensor[], options?: TaylorOptions) {
  const steps = taylorSteps(model);
  if (typeof steps === 'string') throw new TypeError(`${where}: ${steps}; use computeHg (the autograd route) for it`);
  const groups = checkParamGroups(where, paramGroups);
  assertFree(where, groups.flat());
  const grouped = groupDirection(where, groups, direction);
  const groupOf = new Map<Tensor, number>(), directionOf = new Map<Tensor, Tensor>();
  groups.forEach((g, s) => g.forEach((p, k) => {
    groupOf.set(p, s);
    directionOf.set(p, grouped[s][k]);
  }));
  const owned = new Set(model.parameters());
  if (groups.flat().some((p) => !owned.has(p))) throw new RangeError(`${where}: paramGroups holds a tensor that is not a parameter of the model`);
  checkFinite(where, 'x', x);
  checkFinite(where, 'y', y);
  const o = checkOptions(where, options, ['noregul', 'diagonal', 'loss']);
  const { noregul, diagonal } = hgOptions(where, o, ['noregul', 'diagonal', 'loss']);
  const endsWithLogSoftmax = steps.at(-1)?.kind === 'logSoftmax';
  const loss = o.loss ?? (endsWithLogSoftmax ? 'nll' : 'mse');
  if (loss !== 'nll' && loss !== 'crossEntropy' && loss !== 'mse') throw new TypeError(`${where}: loss must be 'nll', 'crossEntropy' or 'mse', got ${show(loss)}`);
  if (loss === 'nll' && !endsWithLogSoftmax) throw new RangeError(`${where}: loss 'nll' needs a model that ends with log-softmax; use 'crossEntropy' for logits`);
  if (loss !== 'nll' && endsWithLogSoftmax) throw new RangeError(`${where}: the model ends with log-softmax: its loss is 'nll', got ${show(loss)}`);
  if (loss !== 'mse' && y.dtype !== 'int64') throw new TypeError(`${where}: y must hold int64 class labels for loss '${loss}', got ${y.dtype}; make the labels with { dtype: 'int64' } or convert them with y.to({ dtype: 'int64' })`);
  const h = (t: Tensor | null | undefined) => (t ? t.handle(where) : undefined);
  const nativeSteps = steps.filter((st) => st.kind !== 'logSoftmax').map((st) => {
    switch (st.kind) {
      case 'layer': {
        const { layer } = st;
        const common = {
          weight: h(layer.weight), bias: h(layer.bias), dweight: h(directionOf.get(layer.weight)), dbias: layer.bias ? h(directionOf.get(layer.bias)) : undefined,
          weightGroup: groupOf.get(layer.weight) ?? -1, biasGroup: layer.bias ? groupOf.get(layer.bias) ?? -1 : -1,
          inputScale: st.scaled ? 1 / Math.sqrt(fanIn(layer)) : 1,
        };
        return layer instanceof Conv2d
          ? { kind: 'conv2d', ...common, stride: layer.stride, padding: layer.padding, dilation: layer.dilation, groups: layer.groups }
          : { kind: 'linear', ...common };
      }
      case 'maxPool2d':
        return { kind: 'maxPool2d', ...st.pool.settings };
      case 'activation':
        return { kind: 'activation', activation: st.activation, alpha: st.alpha };
      default:
        return { kind: st.kind };
    }
  });
  const args = [nativeSteps, x.handle(where), y.handle(where), { loss: loss === 'mse' ? 'mse' : 'crossEntropy', groups: groups.length, noregul, diagonal }] as const;
  return { args, params: model.parameters() };
}
