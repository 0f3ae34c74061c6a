// NewtonSummary: the paper's optimizer. A direction u is proposed (momentum SGD by default, or Adam), and
// every `periodHg` steps the summaries (H̄, ḡ, order3) along u on a batch of the hg loader give one learning
// rate per subset of the partition (Nesterov cubic step, or a ridge-regularised Newton step). See the
// method note for the exact rules, which this follows.
import { native } from '../core/native';
import { nesterovLrs, ridgeLrs, type NesterovResult } from './lr_solver';
import type { Module } from '../nn/module';
import type { Batches, FullLoss, Hg } from './summaries';
import { taylorSupport, type TaylorLoss } from './taylor_route';
import { Tensor, tidy, keep } from '../core/tensor';
import { checkBoolean, checkInteger, checkOptions, formatShape, show } from '../core/validate';
import { ADAM_DEFAULTS, checkBetas } from '../optim/adam';
import { HgBatches } from './hg_batches';
import { Optimizer, checkNonNegative, checkUnitInterval, type OptimizerStateDict, type ParamsInput } from '../optim/optimizer';
import { SummariesRoute, checkSummariesChoice, type RouteDecision, type SummariesChoice } from './summaries_route';

/** Options that may differ between parameter groups. */
export interface NewtonSummaryGroupOptions {
  damping: number; // λ₁: the factor on the computed learning rates
  momentum: number;
  momentumDamp: number;
  momLrs: number; // moving-average factor of the learning rates across updates
  lr: number; // the current learning rate of the group (starts at 0)
}

export type Updater = 'sgd' | { name: 'adam'; betas?: [number, number]; eps?: number };

export interface NewtonSummaryOptions extends Partial<Omit<NewtonSummaryGroupOptions, 'lr'>> {
  periodHg?: number;
  ridge?: number; // used when nesterov.use is false
  nesterov?: { use: boolean; dampingInt?: number };
  noregul?: boolean;
  diagonal?: boolean;
  removeNegative?: boolean;
  /** Which direction is proposed: momentum SGD with each group's momentum/momentumDamp (default), or Adam's step. */
  updater?: Updater;
  /** Average (H̄, ḡ, order3) across updates: a moving average after a uniform warm-up, or a uniform mean throughout. */
  average?: { kind: 'moving' | 'uniform'; factor?: number; warmup?: number };
  /** Clip each new η̃ (after removeNegative) into [min, max]. */
  lrsClip?: [number, number];
  /** Log entries kept (the oldest are dropped). Default 100. */
  historyLength?: number;
  /**
   * How the summaries are computed. 'auto' (the default): the Taylor route when the parameters belong to a
   * model it supports and, on the first hg batch, its summaries equal the autograd route's on fullLoss (checked
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

const OPTION_KEYS = [...Object.keys(NEWTON_SUMMARY_DEFAULTS), 'average', 'lrsClip', 'taylor'] as const;

export interface NewtonSummaryLog {
  step: number;
  H: number[][];
  g: number[];
  order3: number[];
  /** η from the solver (null when none was found). */
  eta: number[] | null;
  /** Every group's lr after this update. */
  lrs: number[];
  found: boolean;
  reason?: string;
  solver: Omit<NesterovResult, 'lrs'>;
  /** On the update that decided it: how the summaries are computed and why. */
  summariesRoute?: RouteDecision;
}

type Group = NewtonSummaryGroupOptions;

export class NewtonSummary extends Optimizer<Group> {
  readonly #hg: HgBatches;
  readonly #route: SummariesRoute;
  readonly #o: Required<Omit<NewtonSummaryOptions, keyof Group | 'average' | 'lrsClip' | 'taylor'>> & Pick<NewtonSummaryOptions, 'average' | 'lrsClip'>;
  #step = 0;
  #lrsInitialized = false;
  #pending = false;
  #routeLogged = false;
  #average: { count: number; H: Tensor; g: Tensor; order3: Tensor } | undefined;
  readonly logs: NewtonSummaryLog[] = [];

  constructor(paramGroups: ParamsInput<Group>, fullLoss: FullLoss, hgLoader: Batches, options?: NewtonSummaryOptions) {
    const where = 'NewtonSummary';
    const o = checkOptions(where, options, OPTION_KEYS) as NewtonSummaryOptions;
    const D = NEWTON_SUMMARY_DEFAULTS;
    const defaults: Group = { damping: o.damping ?? D.damping, momentum: o.momentum ?? D.momentum, momentumDamp: o.momentumDamp ?? D.momentumDamp, momLrs: o.momLrs ?? D.momLrs, lr: 0 };
    super(where, paramGroups, defaults, checkGroup);
    if (typeof fullLoss !== 'function') throw new TypeError(`${where}: fullLoss must be a function (x, y) => Tensor, got ${show(fullLoss)}`);
    const nesterov = checkOptions(`${where}: nesterov`, o.nesterov ?? D.nesterov, ['use', 'dampingInt']) as { use?: unknown; dampingInt?: unknown };
    const updater = o.updater ?? D.updater;
    if (updater !== 'sgd' && (updater as { name?: string })?.name !== 'adam') throw new TypeError(`${where}: updater must be 'sgd' or { name: 'adam', betas?, eps? }, got ${show(updater)}`);
    if (updater !== 'sgd') {
      checkOptions(`${where}: updater`, updater, ['name', 'betas', 'eps']);
      checkBetas(where, updater.betas ?? ADAM_DEFAULTS.betas);
      checkNonNegative(where, 'updater.eps', updater.eps ?? ADAM_DEFAULTS.eps);
    }
    if (o.average !== undefined) {
      const a = checkOptions(`${where}: average`, o.average, ['kind', 'factor', 'warmup']) as NonNullable<NewtonSummaryOptions['average']>;
      if (a.kind !== 'moving' && a.kind !== 'uniform') throw new TypeError(`${where}: average.kind must be 'moving' or 'uniform', got ${show(a.kind)}`);
      if (a.factor !== undefined) checkUnitInterval(where, 'average.factor', a.factor);
      if (a.warmup !== undefined) checkInteger(where, 'average.warmup', a.warmup, 0);
    }
    if (o.lrsClip !== undefined && (!Array.isArray(o.lrsClip) || o.lrsClip.length !== 2 || !(o.lrsClip[0] <= o.lrsClip[1]))) {
      throw new RangeError(`${where}: lrsClip must be [min, max] with min ≤ max, got ${show(o.lrsClip)}`);
    }
    let summaries = checkSummariesChoice(where, o.summaries ?? (o.taylor !== undefined ? 'taylor' : D.summaries));
    if (o.taylor !== undefined) {
      const t = checkOptions(`${where}: taylor`, o.taylor, ['model', 'loss']) as { model?: Module };
      if (summaries !== 'taylor') throw new TypeError(`${where}: taylor: { model } asks for the Taylor route, but summaries is ${show(summaries)}`);
      const support = t.model ? taylorSupport(t.model) : { supported: false, reason: `taylor.model is ${show(t.model)}` };
      if (!support.supported) throw new TypeError(`${where}: taylor: ${support.reason}; leave taylor out to use the autograd route`);
      summaries = 'taylor';
    }
    this.#o = {
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
      average: o.average,
      lrsClip: o.lrsClip,
      historyLength: checkInteger(where, 'historyLength', o.historyLength ?? D.historyLength, 0),
      summaries,
    };
    this.#hg = new HgBatches(where, hgLoader);
    const groups = this.paramGroups.map((g) => ({ params: g.params }));
    this.#route = new SummariesRoute(where, summaries, o.taylor, groups, fullLoss, { noregul: this.#o.noregul, diagonal: this.#o.diagonal });
  }

  /** Which route computes the summaries ('taylor' | 'autograd'), or null until the first hg batch decides it. */
  get summariesRoute(): 'taylor' | 'autograd' | null {
    return this.#route.decision?.route ?? null;
  }

  /** Why that route (see the `summaries` option). */
  get summariesRouteReason(): string | null {
    return this.#route.decision?.reason ?? null;
  }

  /** Every group's current learning rate. */
  lrs(): number[] {
    return this.paramGroups.map((g) => g.lr);
  }

  /** One step, after the caller's backward: direction, (every periodHg steps) new learning rates, update. */
  step(): void {
    this.#assertIdle('NewtonSummary.step');
    tidy(() => {
      const u = this.#directions('NewtonSummary.step');
      const batch = this.#dueForLrs() ? this.#usableHgBatch() : null;
      if (batch) this.#useSummaries(this.#route.compute(batch, u));
      this.#apply(u);
    });
  }

  /**
   * The same step with the summaries computed on a worker thread (computeHgAsync or computeHgTaylorAsync), so the event loop stays
   * free during the long part. Until it settles, other steps and changes of these parameters are refused.
   */
  async stepAsync(): Promise<void> {
    this.#assertIdle('NewtonSummary.stepAsync');
    this.#pending = true;
    let u: Tensor[] = [];
    try {
      u = tidy(() => this.#directions('NewtonSummary.stepAsync')); // returned: kept alive until disposed below
      const batch = this.#dueForLrs() ? this.#usableHgBatch() : null;
      if (batch) {
        const raw = await this.#route.computeAsync(batch, u);
        try {
          tidy(() => this.#useSummaries(raw));
        } finally {
          for (const t of Object.values(raw)) t.dispose();
        }
      }
      tidy(() => this.#apply(u));
    } finally {
      for (const t of u) t.dispose();
      this.#pending = false;
    }
  }

  #assertIdle(where: string): void {
    if (this.#pending) throw new Error(`${where}: a stepAsync() of this optimizer is still pending; await it first`);
    this.assertFree(where);
  }

  /** The next hg batch, or null (and a logged skip) when it holds NaN or Inf. */
  #usableHgBatch(): [Tensor, Tensor] | null {
    const [x, y] = this.#hg.next();
    if (native().allFinite([x.handle('NewtonSummary'), y.handle('NewtonSummary')])) return [x, y];
    this.#log({ step: this.#step, H: [], g: [], order3: [], eta: null, lrs: this.lrs(), found: false, reason: 'the hg batch holds NaN or Inf: previous learning rates kept', solver: emptySolver() });
    return null;
  }

  #dueForLrs(): boolean {
    return this.#step % this.#o.periodHg === 0;
  }

  /** θ ← θ − lr_s·u for every group, unless u is not finite (then the update is skipped and logged). */
  #apply(u: Tensor[]): void {
    if (native().allFinite(u.map((t) => t.handle('NewtonSummary.step')))) {
      let k = 0;
      for (const group of this.paramGroups) {
        for (const p of group.params) native().applyUpdate(p.handle('NewtonSummary.step'), u[k++].handle('NewtonSummary.step'), group.lr);
      }
    } else {
      this.#log({ step: this.#step, H: [], g: [], order3: [], eta: null, lrs: this.lrs(), found: false, reason: 'the direction holds NaN or Inf: update skipped', solver: emptySolver() });
    }
    this.#step++;
  }

  /** u for every parameter (partition order), updating the updater's state. */
  #directions(where: string): Tensor[] {
    if (!this.allParams().some((p) => hasGrad(p, where))) {
      throw new Error(`${where}: no parameter of the groups has a gradient: compute the loss and call loss.backward() before step() (zeroGrad() clears them)`);
    }
    const adam = this.#o.updater !== 'sgd' ? this.#o.updater : undefined;
    return this.paramGroups.flatMap((group) =>
      group.params.map((p) => {
        const state = this.state.get(p) ?? {};
        const h = p.handle('NewtonSummary.step');
        if (!adam) {
          const buffer = state.momentumBuffer as Tensor | undefined;
          const [u, created] = native().momentumDirection(h, buffer?.handle('NewtonSummary') ?? null, group.momentum, group.momentumDamp);
          if (created) this.setState(p, { momentumBuffer: new Tensor(created) });
          return new Tensor(u);
        }
        const step = ((state.step as number | undefined) ?? 0) + 1;
        const [betas, eps] = [adam.betas ?? ADAM_DEFAULTS.betas, adam.eps ?? ADAM_DEFAULTS.eps];
        const m = (state.expAvg as Tensor | undefined) ?? null, v = (state.expAvgSq as Tensor | undefined) ?? null;
        const [u, newM, newV] = native().adamDirection(h, m?.handle('NewtonSummary') ?? null, v?.handle('NewtonSummary') ?? null, { step, beta1: betas[0], beta2: betas[1], eps });
        this.setState(p, { step, expAvg: newM ? new Tensor(newM) : m, expAvgSq: newV ? new Tensor(newV) : v });
        return new Tensor(u);
      }),
    );
  }

  /** New learning rates from this update's summaries (averaged if asked), or the reason there are none. */
  #useSummaries(raw: { H: Tensor; g: Tensor; order3: Tensor }): void {
    if (!native().allFinite([raw.H, raw.g, raw.order3].map((t) => t.handle('NewtonSummary')))) {
      this.#log({ step: this.#step, H: rows(raw.H), g: Array.from(raw.g.toArray() as Float64Array, Number), order3: Array.from(raw.order3.toArray() as Float64Array, Number), eta: null, lrs: this.lrs(), found: false, reason: 'the summaries hold NaN or Inf (from the loss or its derivatives on this hg batch): previous learning rates kept', solver: emptySolver() });
      return;
    }
    const { H, g, order3 } = this.#averaged(raw);
    let result: NesterovResult;
    try {
      result = this.#o.nesterov.use
        ? nesterovLrs(H, g, order3.abs().pow(1 / 3), { dampingInt: this.#o.nesterov.dampingInt ?? 1 })
        : ridgeLrs(H, g, { ridge: this.#o.ridge });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      result = { ...emptySolver(), lrs: null, reason: err.message }; // e.g. dampingInt = 0 with an indefinite H̄
    }
    const eta = result.lrs === null ? null : Array.from(result.lrs.toArray() as Float64Array, Number);
    let usable = result.found && eta !== null && eta.every(Number.isFinite);
    if (usable) {
      const r = this.#lrsInitialized ? undefined : 0;
      const next = this.paramGroups.map((group, s) => {
        let e = this.#o.removeNegative ? Math.max(0, eta![s]) : eta![s];
        if (this.#o.lrsClip) e = Math.min(Math.max(e, this.#o.lrsClip[0]), this.#o.lrsClip[1]);
        const mom = r ?? group.momLrs;
        return mom * group.lr + (1 - mom) * group.damping * e;
      });
      usable = next.every(Number.isFinite); // a huge damping times η can overflow: never step with an infinite lr
      if (usable) {
        this.paramGroups.forEach((group, s) => (group.lr = next[s]));
        this.#lrsInitialized = true;
      } else {
        result = { ...result, reason: 'the new learning rates overflow (damping · η is not finite): previous ones kept' };
      }
    }
    const { lrs: _omit, ...solver } = result;
    this.#log({
      step: this.#step,
      H: rows(H),
      g: Array.from(g.toArray() as Float64Array, Number),
      order3: Array.from(order3.toArray() as Float64Array, Number),
      eta,
      lrs: this.lrs(),
      found: usable,
      reason: usable ? undefined : (result.reason ?? 'the solver returned non-finite learning rates: previous ones kept'),
      solver,
    });
  }

  /** The summaries to solve with: this update's, or their average across updates. */
  #averaged(raw: { H: Tensor; g: Tensor; order3: Tensor }) {
    const avg = this.#o.average;
    if (!avg) return raw;
    const prev = this.#average;
    const count = (prev?.count ?? 0) + 1;
    const warm = avg.kind === 'uniform' || count <= (avg.warmup ?? 0) || !prev;
    const w = warm ? 1 / count : 1 - (avg.factor ?? 0.9); // weight of the new summaries
    const mix = (old: Tensor | undefined, fresh: Tensor) => keep(old ? old.mul(1 - w).add(fresh.mul(w)) : fresh.clone());
    const next = { count, H: mix(prev?.H, raw.H), g: mix(prev?.g, raw.g), order3: mix(prev?.order3, raw.order3) };
    if (prev) for (const t of [prev.H, prev.g, prev.order3]) t.dispose();
    this.#average = next;
    return next;
  }

  #log(entry: NewtonSummaryLog): void {
    if (!this.#routeLogged && this.#route.decision && entry.H.length > 0) {
      entry.summariesRoute = this.#route.decision;
      this.#routeLogged = true;
    }
    if (this.#o.historyLength === 0) return;
    this.logs.push(entry);
    if (this.logs.length > this.#o.historyLength) this.logs.splice(0, this.logs.length - this.#o.historyLength);
  }

  /** Adds the step counter, the hg loader's position, the averaged summaries and the route to the base state dict. */
  override stateDict(): OptimizerStateDict<Group> {
    return {
      ...super.stateDict(),
      step: this.#step,
      lrsInitialized: this.#lrsInitialized,
      hgDraws: this.#hg.draws,
      average: this.#average ? { count: this.#average.count, H: this.#average.H, g: this.#average.g, order3: this.#average.order3 } : null,
      summaries: this.#route.saved(),
    };
  }

  /**
   * Restores a state dict, every field checked as strictly as the constructor checks its options. The hg
   * loader continues after as many batches as the saved optimizer had drawn (computed for a DataLoader or an
   * array, replayed otherwise), so a deterministic loader continues exactly.
   */
  override loadStateDict(stateDict: OptimizerStateDict<Group>): void {
    const where = 'NewtonSummary.loadStateDict';
    this.#assertIdle(where);
    const sd = checkOptions(where, stateDict, ['state', 'paramGroups', 'step', 'lrsInitialized', 'hgDraws', 'average', 'summaries']) as OptimizerStateDict<Group> & {
      step?: unknown; lrsInitialized?: unknown; hgDraws?: unknown; average?: unknown; summaries?: unknown;
    };
    const step = checkInteger(where, 'step', sd.step ?? 0, 0);
    const lrsInitialized = checkBoolean(where, 'lrsInitialized', sd.lrsInitialized ?? false);
    const draws = checkInteger(where, 'hgDraws', sd.hgDraws ?? 0, 0);
    // One hg batch at most per step: more draws than steps is not a state this optimizer can have been in.
    if (draws > step) throw new RangeError(`${where}: hgDraws (${draws}) cannot exceed step (${step})`);
    const average = this.#checkedAverage(where, sd.average);
    super.loadStateDict(sd); // the groups' options and the per-parameter state, checked there
    this.#route.restore(where, sd.summaries);
    this.#step = step;
    this.#lrsInitialized = lrsInitialized;
    this.#hg.seek(draws);
    if (this.#average) for (const t of [this.#average.H, this.#average.g, this.#average.order3]) t.dispose();
    this.#average = average && { count: average.count, H: keep(average.H.clone()), g: keep(average.g.clone()), order3: keep(average.order3.clone()) };
  }

  #checkedAverage(where: string, value: unknown): { count: number; H: Tensor; g: Tensor; order3: Tensor } | undefined {
    if (value === undefined || value === null) return undefined;
    const a = checkOptions(`${where}: average`, value, ['count', 'H', 'g', 'order3']);
    const S = this.paramGroups.length;
    checkInteger(where, 'average.count', a.count, 1);
    for (const [key, shape] of [['H', [S, S]], ['g', [S]], ['order3', [S]]] as const) {
      const t = a[key];
      if (!(t instanceof Tensor)) throw new TypeError(`${where}: average.${key} must be a Tensor, got ${show(t)}`);
      if (formatShape(t.shape) !== formatShape(shape)) throw new RangeError(`${where}: average.${key} has shape ${formatShape(t.shape)}, expected ${formatShape(shape)}`);
      if (!native().allFinite([t.handle(where)])) throw new RangeError(`${where}: average.${key} holds NaN or Inf`);
    }
    return a as { count: number; H: Tensor; g: Tensor; order3: Tensor };
  }
}

function hasGrad(p: Tensor, where: string): boolean {
  const g = native().grad(p.handle(where));
  if (g === null) return false;
  native().dispose(g);
  return true;
}

/** Every group's options: the constructor's and a state dict's alike. */
function checkGroup(where: string, g: Group): Group {
  checkNonNegative(where, 'damping', g.damping);
  checkNonNegative(where, 'momentum', g.momentum);
  checkUnitInterval(where, 'momentumDamp', g.momentumDamp, true);
  checkUnitInterval(where, 'momLrs', g.momLrs);
  if (typeof g.lr !== 'number' || !Number.isFinite(g.lr)) throw new RangeError(`${where}: lr must be a finite number, got ${show(g.lr)}`);
  return g;
}

function rows(H: Tensor): number[][] {
  const S = H.shape[0];
  const flat = Array.from(H.toArray() as Float64Array, Number);
  return Array.from({ length: S }, (_, i) => flat.slice(i * S, (i + 1) * S));
}

function emptySolver(): Omit<NesterovResult, 'lrs'> {
  return { found: false, r: null, r0: 0, bracket: [0, 0], branch: null, dSingular: false, iterations: 0 };
}
