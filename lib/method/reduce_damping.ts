// ReduceDampingOnPlateau: torch's ReduceLROnPlateau for NewtonSummary — when the monitored value stops
// improving for `patience` calls, every group's damping (and its current lr, by the same factor) shrinks.
import { checkBoolean, checkInteger, checkNumber, checkOptions, show } from '../core/validate';
import { checkNonNegative } from '../optim/optimizer';
import type { NewtonSummary } from './newton_summary';

export interface ReduceDampingOptions {
  /** 'min' (default): the metric improves by going down (a loss); 'max': by going up (an accuracy). */
  mode?: 'min' | 'max';
  /** What each reduction multiplies the damping (and the lr) by, in (0, 1); default 0.1. */
  factor?: number;
  /** Calls without improvement tolerated before reducing; default 10. */
  patience?: number;
  /** The least change that counts as an improvement; default 1e-4. */
  threshold?: number;
  /** 'rel' (default): threshold relative to the best value so far; 'abs': in the metric's units. */
  thresholdMode?: 'rel' | 'abs';
  /** Calls after a reduction during which none is counted against; default 0. */
  cooldown?: number;
  /** The damping is never reduced below this; default 0. */
  minDamping?: number;
  /** Log each reduction with console.log; default false. */
  verbose?: boolean;
}

/**
 * torch's ReduceLROnPlateau for NewtonSummary: when the metric given to step() has not improved for more than `patience`
 * calls, every group's damping (and its current lr, by the same factor) is multiplied by `factor`.
 */
export class ReduceDampingOnPlateau {
  readonly #opt: NewtonSummary;
  readonly #o: Required<ReduceDampingOptions>;
  #best: number;
  #badEpochs = 0;
  #cooldownLeft = 0;

  constructor(optimizer: NewtonSummary, options?: ReduceDampingOptions) {
    const where = 'ReduceDampingOnPlateau';
    if (!Array.isArray((optimizer as NewtonSummary | null)?.paramGroups) || typeof optimizer.lrs !== 'function') {
      throw new TypeError(`${where}: optimizer must be a NewtonSummary, got ${show(optimizer)}`);
    }
    const o = checkOptions(where, options, [
      'mode',
      'thresholdMode',
      'factor',
      'patience',
      'threshold',
      'cooldown',
      'minDamping',
      'verbose',
    ]);
    const mode = o.mode ?? 'min',
      thresholdMode = o.thresholdMode ?? 'rel';
    if (mode !== 'min' && mode !== 'max') throw new TypeError(`${where}: mode must be 'min' or 'max', got ${show(mode)}`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs')
      throw new TypeError(`${where}: thresholdMode must be 'rel' or 'abs', got ${show(thresholdMode)}`);
    const factor = checkNumber(where, 'factor', o.factor ?? 0.1);
    if (!(factor > 0 && factor < 1)) throw new RangeError(`${where}: factor must be in (0, 1), got ${factor}`);
    this.#opt = optimizer;
    this.#o = {
      mode,
      factor,
      thresholdMode,
      patience: checkInteger(where, 'patience', o.patience ?? 10, 0),
      threshold: checkNonNegative(where, 'threshold', o.threshold ?? 1e-4),
      cooldown: checkInteger(where, 'cooldown', o.cooldown ?? 0, 0),
      minDamping: checkNonNegative(where, 'minDamping', o.minDamping ?? 0),
      verbose: checkBoolean(where, 'verbose', o.verbose ?? false),
    } as Required<ReduceDampingOptions>;
    this.#best = mode === 'min' ? Infinity : -Infinity;
  }

  /** Feeds the monitored value (e.g. an epoch's loss); returns true when the damping was reduced. */
  step(metric: number): boolean {
    checkNumber('ReduceDampingOnPlateau.step', 'metric', metric);
    if (Number.isNaN(metric)) return false; // a NaN neither improves nor counts against
    if (this.#improves(metric)) {
      this.#best = metric;
      this.#badEpochs = 0;
    } else {
      this.#badEpochs++;
    }
    if (this.#cooldownLeft > 0) {
      this.#cooldownLeft--;
      this.#badEpochs = 0;
    }
    if (this.#badEpochs <= this.#o.patience) return false;
    let reduced = false;
    for (const group of this.#opt.paramGroups) {
      const damping = Math.max(group.damping * this.#o.factor, this.#o.minDamping);
      // Only ever reduced, as torch's min_lr: a group already below minDamping was raised to it (and its lr with it).
      if (damping >= group.damping) continue;
      if (group.damping > 0) group.lr *= damping / group.damping;
      if (this.#o.verbose && damping !== group.damping) console.log(`ReduceDampingOnPlateau: damping ${group.damping} → ${damping}`);
      group.damping = damping;
      reduced = true;
    }
    this.#cooldownLeft = this.#o.cooldown;
    this.#badEpochs = 0;
    return reduced;
  }

  #improves(x: number): boolean {
    const { mode, thresholdMode, threshold } = this.#o;
    const best = this.#best;
    if (mode === 'min') return thresholdMode === 'rel' ? x < best * (1 - threshold) : x < best - threshold;
    return thresholdMode === 'rel' ? x > best * (1 + threshold) : x > best + threshold;
  }

  stateDict(): { best: number; badEpochs: number; cooldownLeft: number } {
    return { best: this.#best, badEpochs: this.#badEpochs, cooldownLeft: this.#cooldownLeft };
  }
  loadStateDict(sd: { best: number; badEpochs: number; cooldownLeft: number }): void {
    const o = checkOptions('ReduceDampingOnPlateau.loadStateDict', sd, ['best', 'badEpochs', 'cooldownLeft']);
    // NaN: nothing would ever improve on it, so the damping would shrink every patience + 1 steps.
    const best = checkNumber('ReduceDampingOnPlateau.loadStateDict', 'best', o.best);
    if (Number.isNaN(best)) throw new RangeError('ReduceDampingOnPlateau.loadStateDict: best must be a number or ±Infinity, got NaN');
    this.#best = best;
    this.#badEpochs = checkInteger('ReduceDampingOnPlateau.loadStateDict', 'badEpochs', o.badEpochs, 0);
    this.#cooldownLeft = checkInteger('ReduceDampingOnPlateau.loadStateDict', 'cooldownLeft', o.cooldownLeft, 0);
  }
}
