// NewtonSummary: the paper's optimizer. A direction u is proposed (momentum SGD by default, or Adam), and
// every `periodHg` steps the summaries (H̄, ḡ, order3) along u on a batch of the hg loader give one learning
// rate per subset of the partition (Nesterov cubic step, or a ridge-regularised Newton step). See the
// method note for the exact rules, which this follows.
import { native } from '../native';
import { nesterovLrs, ridgeLrs, type NesterovResult } from '../nesterov';
import type { Module } from '../nn/module';
import { computeHg, computeHgAsync, type Batches, type FullLoss, type Hg } from '../summaries';
import { computeHgTaylor, computeHgTaylorAsync, taylorSupport, type TaylorHg, type TaylorLoss } from '../taylor';
import { Tensor, tidy, keep } from '../tensor';
import { checkBoolean, checkInteger, checkOptions, show } from '../validate';
import { checkBetas } from './adam';
import { Optimizer, checkNonNegative, checkUnitInterval, type OptimizerStateDict, type ParamsInput } from './optimizer';

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
  periodHg?: number; // default 1
  ridge?: number; // default 0, used when nesterov.use is false
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
   * Compute the summaries by the Taylor route (computeHgTaylor: one forward pass of jets) for this model,
   * whose `loss` (default: its natural one) must be what fullLoss computes: checked on the first hg batch.
   */
  taylor?: { model: Module; loss?: TaylorLoss };
}

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
}

type Group = NewtonSummaryGroupOptions;

export class NewtonSummary extends Optimizer<Group> {
  readonly #fullLoss: FullLoss;
  readonly #hgLoader: Batches;
  readonly #o: Required<Omit<NewtonSummaryOptions, keyof Group | 'average' | 'lrsClip' | 'taylor'>> & Pick<NewtonSummaryOptions, 'average' | 'lrsClip' | 'taylor'>;
  #taylorChecked = false;
  #hgIterator: Iterator<[Tensor, Tensor]> | undefined;
  #hgDraws = 0;
  #step = 0;
  #lrsInitialized = false;
  #pending = false;
  #average: { count: number; H: Tensor; g: Tensor; order3: Tensor } | undefined;
  readonly logs: NewtonSummaryLog[] = [];

  constructor(paramGroups: ParamsInput<Group>, fullLoss: FullLoss, hgLoader: Batches, options?: NewtonSummaryOptions) {
    const o = checkOptions('NewtonSummary', options) as NewtonSummaryOptions;
    const defaults: Group = { damping: o.damping ?? 1, momentum: o.momentum ?? 0, momentumDamp: o.momentumDamp ?? 0, momLrs: o.momLrs ?? 0, lr: 0 };
    super('NewtonSummary', paramGroups, defaults, (where, g) => {
      checkNonNegative(where, 'damping', g.damping);
      checkNonNegative(where, 'momentum', g.momentum);
      checkUnitInterval(where, 'momentumDamp', g.momentumDamp, true);
      checkUnitInterval(where, 'momLrs', g.momLrs);
      if (typeof g.lr !== 'number' || !Number.isFinite(g.lr)) throw new RangeError(`${where}: lr must be a finite number, got ${show(g.lr)}`);
      return g;
    });
    const where = 'NewtonSummary';
    if (typeof fullLoss !== 'function') throw new TypeError(`${where}: fullLoss must be a function (x, y) => Tensor, got ${show(fullLoss)}`);
    if (hgLoader === null || typeof (hgLoader as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`${where}: hgLoader must be an iterable of [x, y] batches, got ${show(hgLoader)}`);
    }
    const nesterov = checkOptions(where, o.nesterov ?? { use: false }) as { use?: unknown; dampingInt?: unknown };
    const updater = o.updater ?? 'sgd';
    if (updater !== 'sgd' && (updater as { name?: string })?.name !== 'adam') throw new TypeError(`${where}: updater must be 'sgd' or { name: 'adam', betas?, eps? }, got ${show(updater)}`);
    if (updater !== 'sgd') {
      checkBetas(where, updater.betas ?? [0.9, 0.999]);
      checkNonNegative(where, 'updater.eps', updater.eps ?? 1e-8);
    }
    if (o.average !== undefined) {
      const a = checkOptions(where, o.average) as NonNullable<NewtonSummaryOptions['average']>;
      if (a.kind !== 'moving' && a.kind !== 'uniform') throw new TypeError(`${where}: average.kind must be 'moving' or 'uniform', got ${show(a.kind)}`);
      if (a.factor !== undefined) checkUnitInterval(where, 'average.factor', a.factor);
      if (a.warmup !== undefined) checkInteger(where, 'average.warmup', a.warmup, 0);
    }
    if (o.lrsClip !== undefined && (!Array.isArray(o.lrsClip) || o.lrsClip.length !== 2 || !(o.lrsClip[0] <= o.lrsClip[1]))) {
      throw new RangeError(`${where}: lrsClip must be [min, max] with min ≤ max, got ${show(o.lrsClip)}`);
    }
    if (o.taylor !== undefined) {
      const t = checkOptions(where, o.taylor) as { model?: Module };
      const support = t.model ? taylorSupport(t.model) : { supported: false, reason: `taylor.model is ${show(t.model)}` };
      if (!support.supported) throw new TypeError(`${where}: taylor: ${support.reason}; leave taylor out to use the autograd route`);
    }
    this.#fullLoss = fullLoss;
    this.#hgLoader = hgLoader;
    this.#o = {
      periodHg: checkInteger(where, 'periodHg', o.periodHg ?? 1, 1),
      ridge: checkNonNegative(where, 'ridge', o.ridge ?? 0),
      nesterov: {
        use: checkBoolean(where, 'nesterov.use', nesterov.use ?? false),
        dampingInt: checkNonNegative(where, 'nesterov.dampingInt', nesterov.dampingInt ?? 1),
      },
      noregul: checkBoolean(where, 'noregul', o.noregul ?? false),
      diagonal: checkBoolean(where, 'diagonal', o.diagonal ?? false),
      removeNegative: checkBoolean(where, 'removeNegative', o.removeNegative ?? false),
      updater,
      average: o.average,
      lrsClip: o.lrsClip,
      historyLength: checkInteger(where, 'historyLength', o.historyLength ?? 100, 0),
      taylor: o.taylor,
    };
  }

  /** Every group's current learning rate. */
  lrs(): number[] {
    return this.paramGroups.map((g) => g.lr);
  }

  /** One step, after the caller's backward: direction, (every periodHg steps) new learning rates, update. */
  step(): void {
    this.#assertIdle('NewtonSummary.step');
    tidy(() => {
      const u = this.#directions();
      const batch = this.#dueForLrs() ? this.#usableHgBatch() : null;
      if (batch) this.#useSummaries(this.#summaries(batch, u));
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
    const u = tidy(() => this.#directions()); // returned: kept alive until disposed below
    try {
      const batch = this.#dueForLrs() ? this.#usableHgBatch() : null;
      if (batch) {
        const taylor = this.#o.taylor;
        const raw: Hg | TaylorHg = taylor
          ? await computeHgTaylorAsync(taylor.model, this.#hgGroups(), batch[0], batch[1], u, { ...this.#hgOptions(), loss: taylor.loss })
          : await computeHgAsync(this.#hgGroups(), this.#fullLoss, batch[0], batch[1], u, this.#hgOptions());
        tidy(() => {
          if ('loss' in raw) this.#checkTaylorLoss((raw as TaylorHg).loss, batch);
          this.#useSummaries(raw);
        });
        for (const t of Object.values(raw)) t.dispose();
      }
      tidy(() => this.#apply(u));
    } finally {
      for (const t of u) t.dispose();
      this.#pending = false;
    }
  }

  #summaries(batch: [Tensor, Tensor], u: Tensor[]): Hg {
    const taylor = this.#o.taylor;
    if (!taylor) return computeHg(this.#hgGroups(), this.#fullLoss, batch[0], batch[1], u, this.#hgOptions());
    const r = computeHgTaylor(taylor.model, this.#hgGroups(), batch[0], batch[1], u, { ...this.#hgOptions(), loss: taylor.loss });
    this.#checkTaylorLoss(r.loss, batch);
    return r;
  }

  /** Once: the Taylor route's loss must be fullLoss's, or its summaries would be of another function. */
  #checkTaylorLoss(loss: Tensor, [x, y]: [Tensor, Tensor]): void {
    if (this.#taylorChecked) return;
    const fast = loss.item(), exact = tidy(() => this.#fullLoss(x, y).item());
    const tolerance = (loss.dtype === 'float64' ? 1e-9 : 1e-4) * Math.max(1, Math.abs(exact));
    if (!(Math.abs(fast - exact) <= tolerance)) {
      throw new RangeError(`NewtonSummary: the Taylor route's loss is ${fast} but fullLoss gives ${exact} on the same batch: taylor.model and taylor.loss must compute what fullLoss does`);
    }
    this.#taylorChecked = true;
  }

  #assertIdle(where: string): void {
    if (this.#pending) throw new Error(`${where}: a stepAsync() of this optimizer is still pending; await it first`);
    this.assertFree(where);
  }

  /** The next hg batch, or null (and a logged skip) when it holds NaN or Inf. */
  #usableHgBatch(): [Tensor, Tensor] | null {
    const [x, y] = this.#nextHgBatch();
    if (native().allFinite([x.handle('NewtonSummary'), y.handle('NewtonSummary')])) return [x, y];
    this.#log({ step: this.#step, H: [], g: [], order3: [], eta: null, lrs: this.lrs(), found: false, reason: 'the hg batch holds NaN or Inf: previous learning rates kept', solver: emptySolver() });
    return null;
  }

  #dueForLrs(): boolean {
    return this.#step % this.#o.periodHg === 0;
  }

  #hgGroups() {
    return this.paramGroups.map((g) => ({ params: g.params }));
  }

  #hgOptions() {
    return { noregul: this.#o.noregul, diagonal: this.#o.diagonal };
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
  #directions(): Tensor[] {
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
        const [betas, eps] = [adam.betas ?? [0.9, 0.999], adam.eps ?? 1e-8];
        const m = (state.expAvg as Tensor | undefined) ?? null, v = (state.expAvgSq as Tensor | undefined) ?? null;
        const [u, newM, newV] = native().adamDirection(h, m?.handle('NewtonSummary') ?? null, v?.handle('NewtonSummary') ?? null, step, 1, betas[0], betas[1], eps, 0);
        this.setState(p, { step, expAvg: newM ? new Tensor(newM) : m, expAvgSq: newV ? new Tensor(newV) : v });
        return new Tensor(u);
      }),
    );
  }

  #nextHgBatch(): [Tensor, Tensor] {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.#hgIterator ??= this.#hgLoader[Symbol.iterator]();
      const next = this.#hgIterator.next();
      if (!next.done) {
        this.#hgDraws++;
        const batch = next.value;
        if (!Array.isArray(batch) || !(batch[0] instanceof Tensor) || !(batch[1] instanceof Tensor)) {
          throw new TypeError(`NewtonSummary: the hg loader must yield [x, y] pairs of Tensors, got ${show(batch)}`);
        }
        return batch;
      }
      this.#hgIterator = undefined; // exhausted: cycle
    }
    throw new RangeError('NewtonSummary: the hg loader yielded no batch');
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
    const usable = result.found && eta !== null && eta.every(Number.isFinite);
    if (usable) {
      const r = this.#lrsInitialized ? undefined : 0;
      this.paramGroups.forEach((group, s) => {
        let e = this.#o.removeNegative ? Math.max(0, eta[s]) : eta[s];
        if (this.#o.lrsClip) e = Math.min(Math.max(e, this.#o.lrsClip[0]), this.#o.lrsClip[1]);
        const mom = r ?? group.momLrs;
        group.lr = mom * group.lr + (1 - mom) * group.damping * e;
      });
      this.#lrsInitialized = true;
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
    if (this.#o.historyLength === 0) return;
    this.logs.push(entry);
    if (this.logs.length > this.#o.historyLength) this.logs.splice(0, this.logs.length - this.#o.historyLength);
  }

  /** Adds the step counter, the hg loader's position, and the averaged summaries to the base state dict. */
  override stateDict(): OptimizerStateDict<Group> {
    return {
      ...super.stateDict(),
      step: this.#step,
      lrsInitialized: this.#lrsInitialized,
      hgDraws: this.#hgDraws,
      average: this.#average ? { count: this.#average.count, H: this.#average.H, g: this.#average.g, order3: this.#average.order3 } : null,
    };
  }

  /**
   * Restores a state dict. The hg loader is advanced by as many batches as the saved optimizer had drawn
   * (cycling), so a deterministic loader — a DataLoader with a seed, a fixed array — continues exactly.
   */
  override loadStateDict(stateDict: OptimizerStateDict<Group>): void {
    this.#assertIdle('NewtonSummary.loadStateDict');
    super.loadStateDict(stateDict);
    const sd = stateDict as OptimizerStateDict<Group> & { step?: unknown; lrsInitialized?: unknown; hgDraws?: unknown; average?: { count: number; H: Tensor; g: Tensor; order3: Tensor } | null };
    this.#step = checkInteger('NewtonSummary.loadStateDict', 'step', sd.step ?? 0, 0);
    this.#lrsInitialized = sd.lrsInitialized === true;
    const draws = checkInteger('NewtonSummary.loadStateDict', 'hgDraws', sd.hgDraws ?? 0, 0);
    this.#hgIterator = undefined;
    this.#hgDraws = 0;
    for (let i = 0; i < draws; i++) this.#nextHgBatch();
    this.#average = sd.average ? { count: sd.average.count, H: keep(sd.average.H.clone()), g: keep(sd.average.g.clone()), order3: keep(sd.average.order3.clone()) } : undefined;
  }
}

function rows(H: Tensor): number[][] {
  const S = H.shape[0];
  const flat = Array.from(H.toArray() as Float64Array, Number);
  return Array.from({ length: S }, (_, i) => flat.slice(i * S, (i + 1) * S));
}

function emptySolver(): Omit<NesterovResult, 'lrs'> {
  return { found: false, r: null, r0: 0, bracket: [0, 0], branch: null, dSingular: false, iterations: 0 };
}
