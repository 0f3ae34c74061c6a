// The fast route for the summaries (Taylor mode, native/method/taylor.cpp): the model describes its forward as a
// list of steps (each built-in layer and model its own, nn/taylor_steps.ts), C++ runs one forward pass of
// order-3 jets through them and gives ḡ, H̄ and order3 for every subset at once — equal to computeHg's
// autograd route (tested to 1e-10 in float64).
import { assertFree, type Hold, holding } from '../core/pending_holds';
import { native, type NativeTensor, type TaylorProfile } from '../core/native';
import type { Module } from '../nn/module';
import { taylorStepsOf, type TaylorStep } from '../nn/taylor_steps';
import { checkParamGroups, type ParamGroup } from './partition';
import { groupDirection, hgOptions, wrapHg, type Hg, type HgOptions } from './summaries';
import { Tensor } from '../core/tensor';
import { checkOptions, named, show } from '../core/validate';

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

/**
 * The model as Taylor steps — its own description of its forward (nn/taylor_steps.ts: built-in layers and
 * models, and nn.Sequential of them, by their exact class) — or a sentence saying why it cannot be.
 */
function describeModel(model: Module): TaylorStep[] | string {
  const steps = taylorStepsOf(model);
  if (typeof steps === 'string') return steps;
  const k = steps.findIndex((step) => step.kind === 'logSoftmax');
  if (k !== -1 && k !== steps.length - 1)
    return `a log-softmax at step ${k} that is not the last step (the Taylor route takes it as part of the 'nll' loss)`;
  return steps;
}

/** Whether computeHgTaylor can handle `model` (and if not, why). */
export function taylorSupport(model: Module): { supported: boolean; reason?: string } {
  const steps = describeModel(model);
  return typeof steps === 'string' ? { supported: false, reason: steps } : { supported: true };
}

/** The losses the Taylor route can pair with `model`: 'nll' after a log-softmax, else 'crossEntropy' and 'mse'. */
export function taylorLosses(model: Module): TaylorLoss[] {
  const steps = describeModel(model);
  if (typeof steps === 'string') return [];
  return steps.at(-1)?.kind === 'logSoftmax' ? ['nll'] : ['crossEntropy', 'mse'];
}

/**
 * computeHg for `loss(model.forward(x), y)` by Taylor mode: one forward pass of order-3 jets instead of
 * 1 + 2S backward passes. `model` must be a built-in model or an nn.Sequential of built-in layers (see
 * taylorSupport). Parameters of the model absent from `paramGroups` get no direction, as in computeHg.
 */
export function computeHgTaylor(
  model: Module,
  paramGroups: ParamGroup[],
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: TaylorOptions,
): TaylorHg {
  return computeHgTaylorWithin(undefined, model, paramGroups, x, y, direction, options);
}

/** @internal computeHgTaylor as a part of a pending call whose hold (`within`) covers the parameters. */
export function computeHgTaylorWithin(
  within: Hold | undefined,
  model: Module,
  paramGroups: ParamGroup[],
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: TaylorOptions,
): TaylorHg {
  const call = prepare('computeHgTaylor', model, paramGroups, x, y, direction, options, within);
  return wrapTaylor(named('computeHgTaylor', () => native().taylorHg(...call.args)));
}

/** computeHgTaylor on a worker thread; the parameters are held (not changeable) until it settles. */
export async function computeHgTaylorAsync(
  model: Module,
  paramGroups: ParamGroup[],
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: TaylorOptions,
): Promise<TaylorHg> {
  return computeHgTaylorAsyncWithin(undefined, model, paramGroups, x, y, direction, options);
}

/** @internal computeHgTaylorAsync as a part of a pending call whose hold (`within`) covers the parameters. */
export async function computeHgTaylorAsyncWithin(
  within: Hold | undefined,
  model: Module,
  paramGroups: ParamGroup[],
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: TaylorOptions,
): Promise<TaylorHg> {
  const call = prepare('computeHgTaylorAsync', model, paramGroups, x, y, direction, options, within);
  return holding(
    'computeHgTaylorAsync',
    call.params,
    async () => wrapTaylor(await named('computeHgTaylorAsync', () => native().taylorHgAsync(...call.args))),
    within,
  );
}

/**
 * computeHgTaylor plus where the native call's time went, by stage (seconds): the bench's (scripts/bench.mjs),
 * not part of the public API.
 */
export function computeHgTaylorProfiled(
  model: Module,
  paramGroups: ParamGroup[],
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: TaylorOptions,
): TaylorHg & { profile: TaylorProfile } {
  const where = 'computeHgTaylorProfiled';
  const call = prepare(where, model, paramGroups, x, y, direction, options);
  const raw = named(where, () => native().taylorHgProfile(...call.args));
  return { ...wrapTaylor(raw), profile: raw.profile };
}

/** The Taylor route runs the model on x itself: x must have the parameters' dtype (`name` says which x it is). */
export function checkInputDtype(where: string, name: string, x: Tensor, dtype: string | undefined): void {
  if (dtype !== undefined && x.dtype !== dtype) throw new TypeError(`${where}: ${name} is ${x.dtype}, the model's parameters ${dtype}`);
}

function wrapTaylor(raw: { H: NativeTensor; g: NativeTensor; order3: NativeTensor; loss: NativeTensor }): TaylorHg {
  return { ...wrapHg(raw), loss: new Tensor(raw.loss) };
}

function prepare(
  where: string,
  model: Module,
  paramGroups: ParamGroup[],
  x: Tensor,
  y: Tensor,
  direction: Tensor[],
  options?: TaylorOptions,
  within?: Hold,
) {
  const steps = describeModel(model);
  if (typeof steps === 'string') throw new TypeError(`${where}: ${steps}; use computeHg (the autograd route) for it`);
  const groups = checkParamGroups(where, paramGroups);
  assertFree(where, groups.flat(), within);
  const grouped = groupDirection(where, groups, direction);
  const groupOf = new Map<Tensor, number>(),
    directionOf = new Map<Tensor, Tensor>();
  groups.forEach((g, s) =>
    g.forEach((p, k) => {
      groupOf.set(p, s);
      directionOf.set(p, grouped[s][k]);
    }),
  );
  const owned = new Set(model.parameters());
  if (groups.flat().some((p) => !owned.has(p)))
    throw new RangeError(`${where}: paramGroups holds a tensor that is not a parameter of the model`);
  Tensor.handleOf(where, 'x', x);
  Tensor.handleOf(where, 'y', y); // their finiteness: natively, just before the first pass reads x
  checkInputDtype(where, 'x', x, groups[0]?.[0]?.dtype);
  const o = checkOptions(where, options, ['noregul', 'diagonal', 'loss']);
  const { noregul, diagonal } = hgOptions(where, o, ['noregul', 'diagonal', 'loss']);
  const endsWithLogSoftmax = steps.at(-1)?.kind === 'logSoftmax';
  const loss = o.loss ?? (endsWithLogSoftmax ? 'nll' : 'mse');
  if (loss !== 'nll' && loss !== 'crossEntropy' && loss !== 'mse')
    throw new TypeError(`${where}: loss must be 'nll', 'crossEntropy' or 'mse', got ${show(loss)}`);
  if (loss === 'nll' && !endsWithLogSoftmax)
    throw new RangeError(`${where}: loss 'nll' needs a model that ends with log-softmax; use 'crossEntropy' for logits`);
  if (loss !== 'nll' && endsWithLogSoftmax)
    throw new RangeError(`${where}: the model ends with log-softmax: its loss is 'nll', got ${show(loss)}`);
  if (loss !== 'mse' && y.dtype !== 'int64')
    throw new TypeError(
      `${where}: y must hold int64 class labels for loss '${loss}', got ${y.dtype}; make the labels with { dtype: 'int64' } or convert them with y.to({ dtype: 'int64' })`,
    );
  const h = (t: Tensor | null | undefined) => (t ? t.handle(where) : undefined);
  // What native/addon/taylor_model.cpp reads, by key: the layers' tensors as handles with their directions and
  // subsets; the log-softmax is the loss's.
  const nativeSteps = steps
    .filter((step) => step.kind !== 'logSoftmax')
    .map((step) => {
      if (step.kind !== 'linear' && step.kind !== 'conv2d') return step;
      const { weight, bias, ...settings } = step;
      return {
        ...settings,
        weight: h(weight),
        bias: h(bias),
        dweight: h(directionOf.get(weight)),
        dbias: bias ? h(directionOf.get(bias)) : undefined,
        weightGroup: groupOf.get(weight) ?? -1,
        biasGroup: bias ? (groupOf.get(bias) ?? -1) : -1,
      };
    });
  const args = [
    nativeSteps,
    x.handle(where),
    y.handle(where),
    { loss: loss === 'mse' ? 'mse' : 'crossEntropy', groups: groups.length, noregul, diagonal },
  ] as const;
  return { args, params: model.parameters() };
}
