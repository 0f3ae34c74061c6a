// Stochastic gradient descent with torch.optim.SGD's semantics (momentum, dampening, Nesterov, weight decay).
import { native } from '../core/native';
import { Tensor } from '../core/tensor';
import { checkBoolean, checkOptions, show } from '../core/validate';
import { Optimizer, checkNonNegative, type ParamsInput, type StateValue } from './optimizer';
import type { TorchNames } from './torch_state_dict';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Data parallel across the process group (grnewt.distributed.init first): rank 0's parameters at construction, gradients averaged in each step. */
  distributed?: boolean;
}
type Resolved = Required<Omit<SGDOptions, 'distributed'>>;

/** torch.optim.SGD's defaults (lr has none: it must be given). */
export const SGD_DEFAULTS = Object.freeze({ momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });

/** torch.optim.SGD's state dict names (loadStateDict of one torch saved); maximize is not here. */
const TORCH_NAMES: TorchNames = {
  options: { lr: 'lr', momentum: 'momentum', dampening: 'dampening', weight_decay: 'weightDecay', nesterov: 'nesterov' },
  state: { momentum_buffer: 'momentumBuffer' },
  counts: [],
  absent: { maximize: false },
};

/**
 * Momentum SGD keeps one state value per parameter, its momentum buffer (SGD's, and NewtonSummary's default
 * updater's). `checkTensor`: the optimizer's check of a state tensor (shape, dtype, finite).
 */
export function checkMomentumStateValue(
  where: string,
  label: string,
  name: string,
  value: unknown,
  checkTensor: (value: Tensor) => StateValue,
): StateValue {
  if (name !== 'momentumBuffer' || !(value instanceof Tensor))
    throw new RangeError(`${where}: ${label}: SGD's state is a momentumBuffer Tensor, got ${show(name)} = ${show(value)}`);
  return checkTensor(value);
}

/** Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay (torch.optim.SGD's semantics). */
export class SGD extends Optimizer<Resolved> {
  constructor(params: ParamsInput<Resolved>, options: SGDOptions) {
    const { distributed, ...groupOptions } = checkOptions('SGD', options, [
      'lr',
      'momentum',
      'dampening',
      'weightDecay',
      'nesterov',
      'distributed',
    ]);
    super('SGD', params, { ...SGD_DEFAULTS, ...groupOptions } as Resolved, (where, o) => {
      checkNonNegative(where, 'lr', o.lr);
      checkNonNegative(where, 'momentum', o.momentum);
      checkNonNegative(where, 'dampening', o.dampening);
      checkNonNegative(where, 'weightDecay', o.weightDecay);
      checkBoolean(where, 'nesterov', o.nesterov);
      if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0))
        throw new RangeError(`${where}: nesterov needs momentum > 0 and dampening = 0`);
      return o;
    });
    this.useDistributed(distributed);
  }

  protected override readonly torchNames = TORCH_NAMES;

  protected override checkStateValue(where: string, label: string, name: string, value: unknown, param: Tensor): StateValue {
    return checkMomentumStateValue(where, label, name, value, (t) => super.checkStateValue(where, label, name, t, param));
  }

  step(): void {
    this.stepWith('SGD.step', () => this.#update());
  }

  /** step() with the distributed gradient averaging waited for off the JS thread (the update is short). */
  override stepAsync(): Promise<void> {
    return this.stepAsyncWith('SGD.stepAsync', () => this.#update());
  }

  #update(): void {
    if (!this.gradientsFinite()) return; // a NaN/Inf gradient: skip, counted in skippedSteps
    const options = (group: Resolved) => ({
      lr: group.lr,
      momentum: group.momentum,
      dampening: group.dampening,
      weightDecay: group.weightDecay,
      nesterov: group.nesterov,
    });
    const buffer = (p: Tensor) => ((this.state.get(p)?.momentumBuffer as Tensor | undefined) ?? null)?.handle('SGD.step') ?? null;
    // An update that would overflow: skip, counted in skippedSteps
    if (!this.updatesStayFinite((p, group) => native().sgdStepStaysFinite(p.handle('SGD.step'), buffer(p), options(group)))) return;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        const created = native().sgdStep(p.handle('SGD.step'), buffer(p), options(group));
        if (created) this.setState(p, { ...this.state.get(p), momentumBuffer: new Tensor(created) });
      }
    }
  }
}
