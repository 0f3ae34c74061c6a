// NewtonSummary's options: what each means, their defaults (listed once, in NEWTON_SUMMARY_DEFAULTS), and
// their checks — the constructor's, and a state dict's for the per-group ones.
import type { Module } from '../nn/module';
import { checkBoolean, checkEach, checkInteger, checkOptions, show } from '../core/validate';
import { ADAM_DEFAULTS, checkBetas } from '../optim/adam';
import { checkNonNegative, checkUnitInterval } from '../optim/optimizer';
import { taylorSupport, type TaylorLoss } from './taylor_route';
import { checkSummariesChoice, type SummariesChoice } from './summaries_route';
import type { AverageOptions } from './summaries_average';

/** Options that may differ between parameter groups (defaults: NEWTON_SUMMARY_DEFAULTS, listed once there). */
export interface NewtonSummaryGroupOptions {
  /** λ₁, the factor on the learning rates the solver computes (smaller: more cautious steps). */
  damping: number;
  /** Momentum of the proposed direction (momentum SGD's β, updater 'sgd'). */
  momentum: number;
  /** Dampening of that momentum: the gradient enters the buffer with weight 1 − momentumDamp. */
  momentumDamp: number;
  /** Moving-average factor of the learning rates across updates (0: each update's own). */
  momLrs: number;
  /** The group's current learning rate η_s (0 until the first update computes it). */
  lr: number;
}

export type Updater = 'sgd' | { name: 'adam'; betas?: [number, number]; eps?: number };

/** Every option's default is in NEWTON_SUMMARY_DEFAULTS (listed once there). */
export interface NewtonSummaryOptions extends Partial<Omit<NewtonSummaryGroupOptions, 'lr'>> {
  /** New learning rates every periodHg steps (the summaries cost a few forward+backward passes each time). */
  periodHg?: number;
  /** Ridge added to H̄'s diagonal when nesterov.use is false. */
  ridge?: number;
  /** The anisotropic Nesterov cubic regularisation of the solver, with its λ_int (dampingInt). */
  nesterov?: { use: boolean; dampingInt?: number };
  /** Skip the third-order terms (order3, D): a plain Newton step on H̄. */
  noregul?: boolean;
  /** Use only H̄'s diagonal (no interaction between subsets). */
  diagonal?: boolean;
  /** Replace negative learning rates by 0. */
  removeNegative?: boolean;
  /** Which direction is proposed: momentum SGD with each group's momentum/momentumDamp (default), or Adam's step. */
  updater?: Updater;
  /** Average (H̄, ḡ, order3) across updates: a moving average after a uniform warm-up, or a uniform mean throughout. */
  average?: AverageOptions;
  /** Clip each new η̃ (after removeNegative) into [min, max]. */
  lrsClip?: [number, number];
  /** Log entries kept (the oldest are dropped). Default 100. */
  historyLength?: number;
  /**
   * How the summaries are computed. 'auto' (the default): the Taylor route when the parameters belong to a
   * model it supports and, on the first hg batch's first 64 samples, its summaries equal the autograd route's on fullLoss (checked
   * once, to 1e-4 relative in float32 and 1e-9 in float64); the autograd route otherwise. `summariesRoute` says
   * which and why.
   */
  summaries?: SummariesChoice;
  /**
   * Compute the summaries by the Taylor route (computeHgTaylor: one forward pass of jets) for this model,
   * whose `loss` (default: the one whose value is fullLoss's) must be what fullLoss computes: checked on the
   * first hg batch.
   */
  taylor?: { model: Module; loss?: TaylorLoss };
  /**
   * Data parallel across the process group (grnewt.distributed.init first): rank 0's parameters at
   * construction, gradients averaged across ranks in each step, and the summaries of every rank's hg batch
   * (each rank's hgLoader should be its shard) combined, weighted by batch sizes, before the learning rates
   * are solved for: every rank holds the same learning rates, bit for bit.
   */
  distributed?: boolean;
}

/**
 * The defaults: the seed README's recommended values (the reference's signature defaults — damping 1, no
 * Nesterov regularisation, periodHg 1, no momentum — diverge on a plain training loop).
 */
export const NEWTON_SUMMARY_DEFAULTS = Object.freeze({
  damping: 0.1,
  momentum: 0.9,
  momentumDamp: 0.9,
  momLrs: 0.5,
  periodHg: 10,
  ridge: 0,
  nesterov: Object.freeze({ use: true, dampingInt: 10 }),
  noregul: false,
  diagonal: false,
  removeNegative: true,
  updater: 'sgd' as Updater,
  historyLength: 100,
  summaries: 'auto' as SummariesChoice,
});

export const OPTION_KEYS = [...Object.keys(NEWTON_SUMMARY_DEFAULTS), 'average', 'lrsClip', 'taylor', 'distributed'] as const;

/** The options after checking, with every default filled in (average and taylor, checked here, are used once, at construction). */
export type Settings = Required<
  Omit<NewtonSummaryOptions, keyof NewtonSummaryGroupOptions | 'average' | 'lrsClip' | 'taylor' | 'nesterov' | 'distributed'>
> &
  Pick<NewtonSummaryOptions, 'lrsClip'> & {
    nesterov: Required<NonNullable<NewtonSummaryOptions['nesterov']>>;
  };

/** The per-group options' values for groups that do not set them. */
export function groupDefaults(o: NewtonSummaryOptions): NewtonSummaryGroupOptions {
  const D = NEWTON_SUMMARY_DEFAULTS;
  return {
    damping: o.damping ?? D.damping,
    momentum: o.momentum ?? D.momentum,
    momentumDamp: o.momentumDamp ?? D.momentumDamp,
    momLrs: o.momLrs ?? D.momLrs,
    lr: 0,
  };
}

/** Checks the optimizer-wide options (their keys were checked already) and fills in the defaults. */
export function checkSettings(where: string, o: NewtonSummaryOptions): Settings {
  const D = NEWTON_SUMMARY_DEFAULTS;
  const nesterov = checkOptions(`${where}: nesterov`, o.nesterov ?? D.nesterov, ['use', 'dampingInt']) as {
    use?: unknown;
    dampingInt?: unknown;
  };
  const updater = o.updater ?? D.updater;
  if (updater !== 'sgd' && (updater as { name?: string })?.name !== 'adam')
    throw new TypeError(`${where}: updater must be 'sgd' or { name: 'adam', betas?, eps? }, got ${show(updater)}`);
  if (updater !== 'sgd') {
    checkOptions(`${where}: updater`, updater, ['name', 'betas', 'eps']);
    checkBetas(where, updater.betas ?? ADAM_DEFAULTS.betas);
    checkNonNegative(where, 'updater.eps', updater.eps ?? ADAM_DEFAULTS.eps);
  }
  if (o.average !== undefined) {
    const a = checkOptions(`${where}: average`, o.average, ['kind', 'factor', 'warmup']) as unknown as AverageOptions;
    if (a.kind !== 'moving' && a.kind !== 'uniform')
      throw new TypeError(`${where}: average.kind must be 'moving' or 'uniform', got ${show(a.kind)}`);
    if (a.factor !== undefined) checkUnitInterval(where, 'average.factor', a.factor);
    if (a.warmup !== undefined) checkInteger(where, 'average.warmup', a.warmup, 0);
  }
  if (
    o.lrsClip !== undefined &&
    (!Array.isArray(o.lrsClip) ||
      o.lrsClip.length !== 2 ||
      !checkEach(o.lrsClip, (v) => typeof v === 'number' && !Number.isNaN(v)).every(Boolean) ||
      !(o.lrsClip[0] <= o.lrsClip[1]))
  ) {
    throw new RangeError(`${where}: lrsClip must be [min, max], two numbers with min ≤ max, got ${show(o.lrsClip)}`);
  }
  let summaries = checkSummariesChoice(where, o.summaries ?? (o.taylor !== undefined ? 'taylor' : D.summaries));
  if (o.taylor !== undefined) {
    const t = checkOptions(`${where}: taylor`, o.taylor, ['model', 'loss']) as { model?: Module };
    if (summaries !== 'taylor')
      throw new TypeError(`${where}: taylor: { model } asks for the Taylor route, but summaries is ${show(summaries)}`);
    const support = t.model ? taylorSupport(t.model) : { supported: false, reason: `taylor.model is ${show(t.model)}` };
    if (!support.supported) throw new TypeError(`${where}: taylor: ${support.reason}; leave taylor out to use the autograd route`);
    summaries = 'taylor';
  }
  const nesterovOn = nesterov.use ?? D.nesterov.use;
  // The Nesterov step has no solution with D = 0 (noregul) and takes no ridge: either would go unnoticed.
  if (nesterovOn === true && o.noregul === true)
    throw new RangeError(
      `${where}: noregul: true leaves D = 0, where the Nesterov step has no solution (every learning rate would stay 0): pass nesterov: { use: false } with it (a ridge-regularised Newton step)`,
    );
  if (nesterovOn === true && typeof o.ridge === 'number' && o.ridge > 0)
    throw new RangeError(`${where}: ridge applies only with nesterov: { use: false }; the Nesterov step takes none`);
  return {
    periodHg: checkInteger(where, 'periodHg', o.periodHg ?? D.periodHg, 1),
    ridge: checkNonNegative(where, 'ridge', o.ridge ?? D.ridge),
    nesterov: {
      use: checkBoolean(where, 'nesterov.use', nesterov.use ?? D.nesterov.use),
      dampingInt: checkNonNegative(where, 'nesterov.dampingInt', nesterov.dampingInt ?? D.nesterov.dampingInt),
    },
    noregul: checkBoolean(where, 'noregul', o.noregul ?? D.noregul),
    diagonal: checkBoolean(where, 'diagonal', o.diagonal ?? D.diagonal),
    removeNegative: checkBoolean(where, 'removeNegative', o.removeNegative ?? D.removeNegative),
    updater,
    lrsClip: o.lrsClip,
    historyLength: checkInteger(where, 'historyLength', o.historyLength ?? D.historyLength, 0),
    summaries,
  };
}

/** Every group's options: the constructor's and a state dict's alike. */
export function checkGroup(where: string, g: NewtonSummaryGroupOptions): NewtonSummaryGroupOptions {
  checkNonNegative(where, 'damping', g.damping);
  checkNonNegative(where, 'momentum', g.momentum);
  checkUnitInterval(where, 'momentumDamp', g.momentumDamp, true);
  checkUnitInterval(where, 'momLrs', g.momLrs);
  if (typeof g.lr !== 'number' || !Number.isFinite(g.lr)) throw new RangeError(`${where}: lr must be a finite number, got ${show(g.lr)}`);
  return g;
}
