// Adam with torch.optim.Adam's semantics (bias correction, L2 weight decay added to the gradient).
import { native } from '../core/native';
import { Tensor } from '../core/tensor';
import { checkInteger, checkOptions, show } from '../core/validate';
import { Optimizer, checkNonNegative, checkUnitInterval, type ParamState, type ParamsInput, type StateValue } from './optimizer';
import type { TorchNames } from './torch_state_dict';

/** torch.optim.Adam's defaults, shared with NewtonSummary's Adam updater. */
export const ADAM_DEFAULTS = Object.freeze({
  lr: 1e-3,
  betas: Object.freeze([0.9, 0.999]) as unknown as [number, number],
  eps: 1e-8,
  weightDecay: 0,
});

export interface AdamOptions {
  /** Learning rate; default 1e-3. */
  lr?: number;
  /** Decay rates of the first and second moment estimates; default [0.9, 0.999]. */
  betas?: [number, number];
  /** Added to the second moment's square root; default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient (torch.optim.Adam's, not AdamW's); default 0. */
  weightDecay?: number;
  /** Data parallel across the process group (grnewt.distributed.init first): rank 0's parameters at construction, gradients averaged in each step. */
  distributed?: boolean;
}
type Resolved = Required<Omit<AdamOptions, 'distributed'>>;

export function checkBetas(where: string, betas: unknown): [number, number] {
  if (!Array.isArray(betas) || betas.length !== 2) throw new TypeError(`${where}: betas must be a pair of numbers, got ${show(betas)}`);
  return [checkUnitInterval(where, 'betas[0]', betas[0]), checkUnitInterval(where, 'betas[1]', betas[1])];
}

const ADAM_STATE = ['step', 'expAvg', 'expAvgSq'] as const;

/**
 * One value of Adam's per-parameter state (Adam's, and NewtonSummary's Adam updater's): the step count (≥ 1,
 * and one below the largest exact integer, since the next step adds one) and the two moment estimates (the
 * second ≥ 0, it is square-rooted). `checkTensor`: the optimizer's check of a state tensor (shape, dtype, finite).
 */
export function checkAdamStateValue(
  where: string,
  label: string,
  name: string,
  value: unknown,
  checkTensor: (value: Tensor) => StateValue,
): StateValue {
  if (name === 'step') return checkInteger(where, label, value, 1, Number.MAX_SAFE_INTEGER - 1);
  if ((name === 'expAvg' || name === 'expAvgSq') && value instanceof Tensor) {
    const checked = checkTensor(value);
    if (name === 'expAvgSq' && (value.toArray() as Float32Array | Float64Array).some((v) => v < 0)) {
      throw new RangeError(`${where}: ${label} holds negative values (it is a mean of squares)`);
    }
    return checked;
  }
  throw new RangeError(`${where}: ${label}: Adam's state is step, expAvg and expAvgSq, got ${show(name)} = ${show(value)}`);
}

/**
 * Adam's state of one parameter: all three values or none. The step count says how to unbias the moments, so a
 * count without them (or moments without it, read as a first step) would make a silently different update.
 */
export function checkAdamStateEntry(where: string, label: string, entry: ParamState): void {
  const missing = ADAM_STATE.filter((name) => !Object.hasOwn(entry, name));
  if (missing.length > 0 && missing.length < ADAM_STATE.length)
    throw new RangeError(`${where}: ${label} lacks ${missing.join(' and ')}: Adam's state is step, expAvg and expAvgSq together`);
}

/** torch.optim.Adam's state dict names (loadStateDict of one torch saved); AMSGrad, maximize and AdamW's decoupled decay are not here. */
const TORCH_NAMES: TorchNames = {
  options: { lr: 'lr', betas: 'betas', eps: 'eps', weight_decay: 'weightDecay' },
  state: { step: 'step', exp_avg: 'expAvg', exp_avg_sq: 'expAvgSq' },
  counts: ['step'],
  absent: { amsgrad: false, maximize: false, decoupled_weight_decay: false },
};

/** Adam with torch.optim.Adam's semantics (bias correction; weightDecay as an L2 term added to the gradient). */
export class Adam extends Optimizer<Resolved> {
  constructor(params: ParamsInput<Resolved>, options?: AdamOptions) {
    const { distributed, ...groupOptions } = checkOptions('Adam', options, [...Object.keys(ADAM_DEFAULTS), 'distributed']);
    super('Adam', params, { ...ADAM_DEFAULTS, ...groupOptions } as Resolved, (where, o) => {
      checkNonNegative(where, 'lr', o.lr);
      checkBetas(where, o.betas);
      checkNonNegative(where, 'eps', o.eps);
      checkNonNegative(where, 'weightDecay', o.weightDecay);
      return o;
    });
    this.useDistributed(distributed);
  }

  protected override readonly torchNames = TORCH_NAMES;

  protected override checkStateValue(where: string, label: string, name: string, value: unknown, param: Tensor): StateValue {
    return checkAdamStateValue(where, label, name, value, (t) => super.checkStateValue(where, label, name, t, param));
  }

  protected override checkStateEntry(where: string, label: string, entry: ParamState): void {
    checkAdamStateEntry(where, label, entry);
  }

  step(): void {
    this.stepWith('Adam.step', () => this.#update());
  }

  /** step() with the distributed gradient averaging waited for off the JS thread (the update is short). */
  override stepAsync(): Promise<void> {
    return this.stepAsyncWith('Adam.stepAsync', () => this.#update());
  }

  #update(): void {
    if (!this.gradientsFinite()) return; // a NaN/Inf gradient: skip, counted in skippedSteps
    // The native arguments for p, shared by the check and the step, with what the new state is made of.
    const call = (p: Tensor, group: Resolved) => {
      const state = this.state.get(p) ?? { step: 0, expAvg: null, expAvgSq: null };
      const [m, v] = [state.expAvg as Tensor | null, state.expAvgSq as Tensor | null];
      const step = (state.step as number) + 1;
      const options = { step, lr: group.lr, beta1: group.betas[0], beta2: group.betas[1], eps: group.eps, weightDecay: group.weightDecay };
      const args = [p.handle('Adam.step'), m?.handle('Adam.step') ?? null, v?.handle('Adam.step') ?? null, options] as const;
      return { step, m, v, args };
    };
    // An update that would overflow: skip, counted in skippedSteps
    if (!this.updatesStayFinite((p, group) => native().adamStepStaysFinite(...call(p, group).args))) return;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        const { step, m, v, args } = call(p, group);
        const [newM, newV] = native().adamStep(...args);
        this.setState(p, { step, expAvg: newM ? new Tensor(newM) : m, expAvgSq: newV ? new Tensor(newV) : v });
      }
    }
  }
}
