// NewtonSummary: the paper's optimizer. A direction u is proposed (momentum SGD by default, or Adam), and
// every `periodHg` steps the summaries (H̄, ḡ, order3) along u on a batch of the hg loader give one learning
// rate per subset of the partition (Nesterov cubic step, or a ridge-regularised Newton step). See the
// method note for the exact rules, which this follows.
import { native } from '../core/native';
import { nesterovLrs, ridgeLrs, type NesterovResult } from './lr_solver';
import type { Batches, FullLoss } from './summaries';
import { Tensor, detached, tidy } from '../core/tensor';
import { checkBoolean, checkInteger, checkOptions, formatShape, show } from '../core/validate';
import { ADAM_DEFAULTS, checkAdamStateEntry, checkAdamStateValue } from '../optim/adam';
import { checkMomentumStateValue } from '../optim/sgd';
import { HgBatches } from './hg_batches';
import { Optimizer, type OptimizerStateDict, type ParamState, type ParamsInput, type StateValue } from '../optim/optimizer';
import { SummariesRoute, type RouteDecision } from './summaries_route';
import {
  OPTION_KEYS,
  checkGroup,
  checkSettings,
  groupDefaults,
  type NewtonSummaryGroupOptions,
  type NewtonSummaryOptions,
  type Settings,
} from './newton_summary_options';
import { nextLrs } from './lr_update';
import { SummariesAverage, type SavedAverage, type Summaries } from './summaries_average';
import { combineSummaries, combineSummariesAsync } from '../distributed/data_parallel';

export { NEWTON_SUMMARY_DEFAULTS, type NewtonSummaryGroupOptions, type NewtonSummaryOptions, type Updater } from './newton_summary_options';

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

/**
 * Wolinski's NewtonSummary: the caller's backward gives the gradient; each step proposes a direction per
 * parameter (momentum SGD's, or Adam's), and every `periodHg` steps the summaries H̄, ḡ and order3 of
 * `fullLoss` along it, on the next batch of `hgLoader`, give one learning rate per parameter group by the
 * anisotropic Nesterov cubic problem (nesterovLrs). Defaults: NEWTON_SUMMARY_DEFAULTS, the seed README's values.
 */
export class NewtonSummary extends Optimizer<Group> {
  readonly #hg: HgBatches;
  readonly #route: SummariesRoute;
  readonly #o: Settings;
  readonly #average: SummariesAverage | undefined;
  #step = 0;
  #lrsInitialized = false;
  #pending = false;
  #routeLogged = false;
  readonly logs: NewtonSummaryLog[] = [];

  constructor(paramGroups: ParamsInput<Group>, fullLoss: FullLoss, hgLoader: Batches, options?: NewtonSummaryOptions) {
    const where = 'NewtonSummary';
    const o = checkOptions(where, options, OPTION_KEYS) as NewtonSummaryOptions;
    super(where, paramGroups, groupDefaults(o), checkGroup);
    if (typeof fullLoss !== 'function')
      throw new TypeError(`${where}: fullLoss must be a function (x, y) => Tensor, got ${show(fullLoss)}`);
    this.#o = checkSettings(where, o);
    this.#average = o.average && new SummariesAverage(o.average);
    this.#hg = new HgBatches(where, hgLoader);
    const groups = this.paramGroups.map((g) => ({ params: g.params }));
    this.#route = new SummariesRoute(where, this.#o.summaries, o.taylor, groups, fullLoss, {
      noregul: this.#o.noregul,
      diagonal: this.#o.diagonal,
    });
    this.useDistributed(o.distributed);
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
    // One scope around it all: what the hg loader makes for this step is freed with the step's intermediates.
    tidy(() => {
      const where = 'NewtonSummary.step';
      this.#readyToStep(where);
      this.averageGradients(where); // distributed: the ranks' mean gradient, before the directions
      const step = this.#begin(where);
      try {
        const local = step.batch && this.#route.compute(step.batch, step.u);
        step.finish(
          this.#combining()
            ? this.#combined(
                where,
                step.batch,
                local,
                combineSummaries(where, local, this.#shardSize(step.batch), this.paramGroups.length, local?.H.dtype ?? 'float64'),
              )
            : local,
        );
      } finally {
        step.end();
      }
    });
  }

  /**
   * The same step with the summaries computed on a worker thread (computeHgAsync or computeHgTaylorAsync), so the event loop stays
   * free during the long part. Until it settles, other steps and changes of these parameters are refused.
   */
  override async stepAsync(): Promise<void> {
    const where = 'NewtonSummary.stepAsync';
    this.#readyToStep(where);
    // The parameters are held until the step settles, not only while its summaries are computed: a
    // Module.loadStateDict or Module.to between the directions and the update would be overwritten by it.
    await this.holdingParams(where, async (hold) => {
      // Only when distributed is there anything to wait for here: otherwise the step must be pending from
      // this call on, with no turn of the event loop in between.
      if (this.distributed) await this.averageGradientsAsync(where);
      // Its own scope: a stepAsync() started inside tidy() must not lose its directions and hg batch to that
      // scope's end while the summaries are computed (they are freed by end() and below).
      const { result: step, made } = detached(
        () => this.#begin(where),
        (s) => [...s.u, ...(s.batch ?? [])],
      );
      try {
        const local = step.batch && (await this.#route.computeAsync(step.batch, step.u, hold));
        step.finish(
          this.#combining()
            ? this.#combined(
                where,
                step.batch,
                local,
                await combineSummariesAsync(local, this.#shardSize(step.batch), this.paramGroups.length, local?.H.dtype ?? 'float64'),
              )
            : local,
        );
      } finally {
        step.end();
        for (const t of made) t.dispose();
      }
    });
  }

  /** Distributed and new learning rates due: every rank takes part in combining, also one whose hg batch was unusable. */
  #combining(): boolean {
    return this.distributed && this.#dueForLrs();
  }

  #shardSize(batch: [Tensor, Tensor] | null): number {
    return batch?.[0].shape[0] ?? 0;
  }

  /**
   * The union batch's summaries (freeing this rank's), or null — logged when this rank's batch was usable
   * but another's was not (its own unusable batch was logged when drawn): then no rank changes its rates.
   */
  #combined(where: string, batch: [Tensor, Tensor] | null, local: Summaries | null, combined: Summaries | null): Summaries | null {
    for (const t of Object.values(local ?? {})) t.dispose();
    if (!combined && batch) {
      this.#logKept(`${where}: another rank's hg batch holds NaN or Inf: previous learning rates kept`);
    }
    return combined;
  }

  /**
   * The one step sequence of step() and stepAsync(), which differ only in how the summaries are computed
   * between its two halves: the directions u and the hg batch (if new learning rates are due), then
   * `finish(summaries)` — new learning rates, the update — and `end()` on every path, which frees what the
   * step made and lets the next one start.
   */
  #begin(where: string): { u: Tensor[]; batch: [Tensor, Tensor] | null; finish(summaries: Summaries | null): void; end(): void } {
    // Not #assertIdle: the parameters were found free by #readyToStep, and stepAsync holds them itself since.
    this.#assertNotPending(where);
    this.#pending = true;
    let u: Tensor[] = [];
    let summaries: Summaries | null = null;
    // A step that threw after its directions (the updater's state moved, an hg batch may have been drawn)
    // still counts as a step without an update, so that the step count, the hg draws and periodHg stay
    // consistent (a state dict taken after it loads back).
    const stepBefore = this.#step;
    const countOnce = () => {
      if (this.#step === stepBefore) this.#step++;
    };
    try {
      // Checked before the directions change the updater's state: a NaN gradient or an overflowing momentum
      // must never stay in it (every later direction would inherit it).
      let skipped = this.#skipReason(where);
      if (!skipped) {
        u = tidy(() => this.#directions(where)); // returned: kept alive until end()
        // Finite by the check above unless the state already held a NaN (its bound passes NaN over).
        if (!native().allFinite(u.map((t) => t.handle(where)))) {
          this.skippedSteps++;
          skipped = 'the direction holds NaN or Inf: update skipped';
        }
      }
      // No summaries along a skipped step's direction.
      const batch = this.#dueForLrs() && !skipped ? this.#usableHgBatch() : null;
      return {
        u,
        batch,
        finish: (computed) => {
          summaries = computed;
          tidy(() => {
            if (computed) this.#useSummaries(computed);
            if (skipped) {
              this.#logKept(skipped);
              this.#step++;
            } else {
              this.#apply(u);
            }
          });
        },
        end: () => {
          for (const t of [...u, ...(summaries ? Object.values(summaries) : [])]) t.dispose();
          countOnce();
          this.#pending = false;
        },
      };
    } catch (err) {
      for (const t of u) t.dispose();
      if (u.length > 0) countOnce();
      this.#pending = false;
      throw err;
    }
  }

  /** Why this step's update is skipped before anything is written (counted in skippedSteps), or null. */
  #skipReason(where: string): string | null {
    if (!this.gradientsFinite()) return 'a gradient holds NaN or Inf: update skipped';
    const stays = (p: Tensor, group: Group & { params: Tensor[] }) => {
      const call = this.#updaterCall(p, group, where);
      return call.adam
        ? native().adamDirectionStaysFinite(...call.adam.args)
        : native().momentumDirectionStaysFinite(...call.momentum.args);
    };
    if (!this.updatesStayFinite(stays)) return "the direction would overflow the updater's state: update skipped";
    return null;
  }

  /**
   * The updater's native arguments for p (its state's handles and settings), shared by the direction and the
   * check before it: the momentum direction's, or Adam's with the step count it will reach.
   */
  #updaterCall(p: Tensor, group: Group, where: string) {
    const state = this.state.get(p) ?? {};
    const h = (t: StateValue | undefined) => (t instanceof Tensor ? t.handle(where) : null);
    const updater = this.#o.updater;
    if (updater === 'sgd') {
      return { momentum: { args: [p.handle(where), h(state.momentumBuffer), group.momentum, group.momentumDamp] as const } };
    }
    const step = ((state.step as number | undefined) ?? 0) + 1;
    const [betas, eps] = [updater.betas ?? ADAM_DEFAULTS.betas, updater.eps ?? ADAM_DEFAULTS.eps];
    const options = { step, beta1: betas[0], beta2: betas[1], eps };
    const [m, v] = [(state.expAvg as Tensor | undefined) ?? null, (state.expAvgSq as Tensor | undefined) ?? null];
    return { adam: { args: [p.handle(where), h(state.expAvg), h(state.expAvgSq), options] as const, step, m, v } };
  }

  #assertIdle(where: string): void {
    this.#assertNotPending(where);
    this.assertFree(where);
  }

  /** #assertIdle with the base's checks before a step (options as they are now, state beside its parameters). */
  #readyToStep(where: string): void {
    this.#assertNotPending(where);
    this.readyToStep(where);
  }

  #assertNotPending(where: string): void {
    if (this.#pending) throw new Error(`${where}: a stepAsync() of this optimizer is still pending; await it first`);
  }

  /** The next hg batch, or null (and a logged skip) when it holds NaN or Inf. */
  #usableHgBatch(): [Tensor, Tensor] | null {
    const [x, y] = this.#hg.next();
    if (native().allFinite([x.handle('NewtonSummary'), y.handle('NewtonSummary')])) return [x, y];
    this.#logKept('the hg batch holds NaN or Inf: previous learning rates kept');
    return null;
  }

  #dueForLrs(): boolean {
    return this.#step % this.#o.periodHg === 0;
  }

  /**
   * θ ← θ − lr_s·u for every group (u finite), unless a parameter would not stay finite (then the update is
   * skipped, logged and counted; the updater's state keeps this step's gradient, finite).
   */
  #apply(u: Tensor[]): void {
    const where = 'NewtonSummary.step';
    const updates = this.paramGroups.flatMap((group) => group.params.map((p) => ({ p, lr: group.lr })));
    const handles = updates.map(({ p, lr }, k) => [p.handle(where), u[k].handle(where), lr] as const);
    if (!handles.every((args) => native().updateStaysFinite(...args))) {
      this.skippedSteps++;
      this.#logKept('the update would make a parameter non-finite (a learning rate too large for the direction): update skipped');
    } else {
      for (const args of handles) native().applyUpdate(...args);
    }
    this.#step++;
  }

  /** u for every parameter (partition order), updating the updater's state. */
  #directions(where: string): Tensor[] {
    if (!this.allParams().some((p) => hasGrad(p, where))) {
      throw new Error(
        `${where}: no parameter of the groups has a gradient: compute the loss and call loss.backward() before step() (zeroGrad() clears them)`,
      );
    }
    return this.paramGroups.flatMap((group) =>
      group.params.map((p) => {
        const call = this.#updaterCall(p, group, where);
        if (call.momentum) {
          const [u, created] = native().momentumDirection(...call.momentum.args);
          if (created) this.setState(p, { momentumBuffer: new Tensor(created) });
          return new Tensor(u);
        }
        const { args, step, m, v } = call.adam;
        const [u, newM, newV] = native().adamDirection(...args);
        this.setState(p, { step, expAvg: newM ? new Tensor(newM) : m, expAvgSq: newV ? new Tensor(newV) : v });
        return new Tensor(u);
      }),
    );
  }

  /** New learning rates from this update's summaries (averaged if asked), or the reason there are none. */
  #useSummaries(raw: { H: Tensor; g: Tensor; order3: Tensor }): void {
    if (!native().allFinite([raw.H, raw.g, raw.order3].map((t) => t.handle('NewtonSummary')))) {
      this.#log({
        step: this.#step,
        H: rows(raw.H),
        g: Array.from(raw.g.toArray() as Float64Array, Number),
        order3: Array.from(raw.order3.toArray() as Float64Array, Number),
        eta: null,
        lrs: this.lrs(),
        found: false,
        reason: 'the summaries hold NaN or Inf (from the loss or its derivatives on this hg batch): previous learning rates kept',
        solver: emptySolver(),
      });
      return;
    }
    const { H, g, order3 } = this.#average ? this.#average.add(raw) : raw;
    let result: NesterovResult;
    try {
      result = this.#o.nesterov.use
        ? nesterovLrs(H, g, order3.abs().pow(1 / 3), { dampingInt: this.#o.nesterov.dampingInt })
        : ridgeLrs(H, g, { ridge: this.#o.ridge });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      result = { ...emptySolver(), lrs: null, reason: err.message }; // e.g. dampingInt = 0 with an indefinite H̄
    }
    const eta = result.lrs === null ? null : Array.from(result.lrs.toArray() as Float64Array, Number);
    let usable = result.found && (eta?.every(Number.isFinite) ?? false);
    if (usable) {
      const next = nextLrs(this.paramGroups, eta!, {
        removeNegative: this.#o.removeNegative,
        lrsClip: this.#o.lrsClip,
        first: !this.#lrsInitialized,
      });
      usable = next !== null; // a huge damping times η can overflow: never step with an infinite lr
      if (next) {
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

  /** Logs an update that changed nothing (no summaries were computed, or the step was skipped), and why. */
  #logKept(reason: string): void {
    this.#log({ step: this.#step, H: [], g: [], order3: [], eta: null, lrs: this.lrs(), found: false, reason, solver: emptySolver() });
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
      average: this.#average?.saved() ?? null,
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
    // The base's checks first (the groups' options and the per-parameter state, checked, not yet set), so that
    // a non-object or torch's layout is named as SGD's and Adam's loads name them.
    const apply = this.prepareLoad(stateDict);
    const sd = checkOptions(where, stateDict, [
      'state',
      'paramGroups',
      'step',
      'lrsInitialized',
      'hgDraws',
      'average',
      'summaries',
    ]) as OptimizerStateDict<Group> & {
      step?: unknown;
      lrsInitialized?: unknown;
      hgDraws?: unknown;
      average?: unknown;
      summaries?: unknown;
    };
    const step = checkInteger(where, 'step', sd.step ?? 0, 0);
    const lrsInitialized = checkBoolean(where, 'lrsInitialized', sd.lrsInitialized ?? false);
    const draws = checkInteger(where, 'hgDraws', sd.hgDraws ?? 0, 0);
    // One hg batch at most per step: more draws than steps is not a state this optimizer can have been in.
    if (draws > step) throw new RangeError(`${where}: hgDraws (${draws}) cannot exceed step (${step})`);
    const average = this.#checkedAverage(where, sd.average);
    const route = SummariesRoute.checkSaved(where, sd.summaries);
    // The one part that runs user code (a generic loader is replayed): before any change, and it moves the
    // loader's position only once the replay has succeeded. A refused state dict leaves the optimizer as it was.
    this.#hg.seek(draws);
    apply();
    this.#route.restore(route);
    this.#step = step;
    this.#lrsInitialized = lrsInitialized;
    this.#average?.restore(average);
  }

  /** The per-parameter state is the updater's: momentumBuffer ('sgd'), or Adam's step, expAvg and expAvgSq. */
  protected override checkStateValue(where: string, label: string, name: string, value: unknown, param: Tensor): StateValue {
    const checkTensor = (t: Tensor) => super.checkStateValue(where, label, name, t, param);
    return this.#o.updater === 'sgd'
      ? checkMomentumStateValue(where, label, name, value, checkTensor)
      : checkAdamStateValue(where, label, name, value, checkTensor);
  }

  protected override checkStateEntry(where: string, label: string, entry: ParamState): void {
    if (this.#o.updater !== 'sgd') checkAdamStateEntry(where, label, entry);
  }

  #checkedAverage(where: string, value: unknown): SavedAverage | undefined {
    if (value === undefined || value === null) return undefined;
    const a = checkOptions(`${where}: average`, value, ['count', 'H', 'g', 'order3']);
    const S = this.paramGroups.length;
    checkInteger(where, 'average.count', a.count, 1);
    for (const [key, shape] of [
      ['H', [S, S]],
      ['g', [S]],
      ['order3', [S]],
    ] as const) {
      const t = a[key];
      if (!(t instanceof Tensor)) throw new TypeError(`${where}: average.${key} must be a Tensor, got ${show(t)}`);
      if (formatShape(t.shape) !== formatShape(shape))
        throw new RangeError(`${where}: average.${key} has shape ${formatShape(t.shape)}, expected ${formatShape(shape)}`);
      if (!native().allFinite([t.handle(where)])) throw new RangeError(`${where}: average.${key} holds NaN or Inf`);
    }
    return a as unknown as SavedAverage;
  }
}

function hasGrad(p: Tensor, where: string): boolean {
  const g = native().grad(p.handle(where));
  if (g === null) return false;
  native().dispose(g);
  return true;
}

function rows(H: Tensor): number[][] {
  const S = H.shape[0];
  const flat = Array.from(H.toArray() as Float64Array, Number);
  return Array.from({ length: S }, (_, i) => flat.slice(i * S, (i + 1) * S));
}

function emptySolver(): Omit<NesterovResult, 'lrs'> {
  return { found: false, r: null, r0: 0, bracket: [0, 0], branch: null, dSingular: false, iterations: 0 };
}
