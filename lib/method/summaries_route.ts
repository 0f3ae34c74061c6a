// How NewtonSummary computes its summaries (H̄, ḡ, order3): by the Taylor route (one forward pass of jets,
// ~2× a forward+backward) or by the autograd route (1 + 2S backward passes, any fullLoss). 'auto' finds the
// model from the parameters alone and, on the first hg batch, computes both routes: the Taylor route is kept
// only if its summaries equal the autograd route's on fullLoss — so a fullLoss that is not the model's nll,
// crossEntropy or mse (a regulariser, another forward) can never be summarised as another function.
import { crossEntropy, mse, nll } from '../nn/losses';
import { modulesHolding, type Module } from '../nn/module';
import type { ParamGroup } from './partition';
import { computeHg, computeHgAsyncWithin, computeHgWithin, type FullLoss, type Hg, type HgOptions } from './summaries';
import {
  checkInputDtype,
  computeHgTaylor,
  computeHgTaylorAsyncWithin,
  computeHgTaylorWithin,
  taylorLosses,
  taylorSupport,
  type TaylorLoss,
} from './taylor_route';
import type { Hold } from '../core/pending_holds';
import { keep, type Tensor, tidy } from '../core/tensor';
import { checkOptions, show } from '../core/validate';

export type SummariesChoice = 'auto' | 'taylor' | 'autograd';
export interface RouteDecision {
  route: 'taylor' | 'autograd';
  reason: string;
}
export interface TaylorPlan {
  model: Module;
  loss?: TaylorLoss;
}

/** Largest relative difference (per quantity, against its largest entry) for which the routes agree. */
export const ROUTE_TOLERANCE = { float32: 1e-4, float64: 1e-9 } as const;

/** The route a state dict says was decided. */
export interface SavedRoute {
  route: 'taylor' | 'autograd';
  loss: TaylorLoss | null;
}

export class SummariesRoute {
  readonly #where: string;
  readonly #groups: ParamGroup[];
  readonly #fullLoss: FullLoss;
  readonly #options: HgOptions;
  #plan: TaylorPlan | undefined;
  #decision: RouteDecision | undefined;
  /** What the first hg batch must confirm: fullLoss's value (taylor asked for), or all the summaries ('auto'). */
  #pending: 'loss' | 'summaries' | undefined;

  constructor(
    where: string,
    choice: SummariesChoice,
    taylor: TaylorPlan | undefined,
    groups: ParamGroup[],
    fullLoss: FullLoss,
    options: HgOptions,
  ) {
    this.#where = where;
    this.#groups = groups;
    this.#fullLoss = fullLoss;
    this.#options = options;
    if (choice === 'autograd') {
      this.#decision = { route: 'autograd', reason: "summaries: 'autograd' was asked for" };
      return;
    }
    const found = taylor ? { plan: taylor } : discover(groups);
    if ('reason' in found) {
      if (choice === 'taylor')
        throw new TypeError(`${where}: summaries 'taylor': ${found.reason}; pass taylor: { model } or use summaries 'autograd'`);
      this.#decision = { route: 'autograd', reason: found.reason };
      return;
    }
    this.#plan = found.plan;
    this.#pending = choice === 'taylor' ? 'loss' : 'summaries';
    if (choice === 'taylor')
      this.#decision = { route: 'taylor', reason: taylor ? 'taylor: { model } was given' : "summaries: 'taylor' was asked for" };
  }

  /** The route in use and why; undefined until the first hg batch decides it ('auto'). */
  get decision(): RouteDecision | undefined {
    return this.#decision;
  }

  /** What a state dict keeps: the decided route (and the Taylor route's loss), so a resumed run need not decide again. */
  saved(): SavedRoute | null {
    if (!this.#decision || this.#pending) return null;
    return { route: this.#decision.route, loss: this.#plan?.loss ?? null };
  }

  /** A state dict's `summaries`, checked before anything is restored (null: none saved). */
  static checkSaved(where: string, saved: unknown): SavedRoute | null {
    if (saved === undefined || saved === null) return null;
    const s = checkOptions(`${where}: summaries`, saved, ['route', 'loss']);
    if (s.route !== 'taylor' && s.route !== 'autograd')
      throw new TypeError(`${where}: summaries.route must be 'taylor' or 'autograd', got ${show(s.route)}`);
    if (s.loss !== null && s.loss !== 'nll' && s.loss !== 'crossEntropy' && s.loss !== 'mse')
      throw new TypeError(`${where}: summaries.loss must be 'nll', 'crossEntropy', 'mse' or null, got ${show(s.loss)}`);
    return { route: s.route, loss: s.loss };
  }

  /** Takes a saved decision (checked by checkSaved) over, if this route still has one to make ('auto') and it is possible here. */
  restore(s: SavedRoute | null): void {
    if (s === null) return;
    if (this.#pending !== 'summaries') return; // decided by the options, not by a check
    if (s.route === 'autograd') {
      this.#plan = undefined;
      this.#decision = { route: 'autograd', reason: 'restored from a state dict whose summaries used the autograd route' };
    } else if (s.loss !== null && taylorLosses(this.#plan!.model).includes(s.loss)) {
      this.#plan!.loss = s.loss;
      this.#decision = {
        route: 'taylor',
        reason: `restored from a state dict whose summaries used the Taylor route with loss '${s.loss}'`,
      };
    } else {
      return; // not usable here: decide on the next hg batch
    }
    this.#pending = undefined;
  }

  /** The summaries along u on one batch (the first call may compute both routes to choose). */
  compute([x, y]: [Tensor, Tensor], u: Tensor[]): Hg {
    if (this.#pending === 'summaries') return this.#choose(x, y, u, undefined);
    if (this.#decision?.route === 'autograd') return computeHg(this.#groups, this.#fullLoss, x, y, u, this.#options);
    this.#checkDtype(x);
    return this.#confirmLoss(computeHgTaylor(this.#plan!.model, this.#groups, x, y, u, { ...this.#options, loss: this.#loss(x, y) }), x, y);
  }

  /**
   * The same on a worker thread; the one call that chooses the route runs on this thread. `within`: the
   * caller's hold on the parameters (its step's), which the worker's use of them is a part of.
   */
  async computeAsync([x, y]: [Tensor, Tensor], u: Tensor[], within: Hold): Promise<Hg> {
    if (this.#pending === 'summaries') {
      // Made now, used after the caller's await: kept from a tidy() scope the step may have been started in
      // (the caller frees them).
      const chosen = this.#choose(x, y, u, within);
      for (const t of Object.values(chosen)) keep(t);
      return chosen;
    }
    if (this.#decision?.route === 'autograd') return computeHgAsyncWithin(within, this.#groups, this.#fullLoss, x, y, u, this.#options);
    this.#checkDtype(x);
    const loss = this.#loss(x, y);
    return this.#confirmLoss(
      await computeHgTaylorAsyncWithin(within, this.#plan!.model, this.#groups, x, y, u, { ...this.#options, loss }),
      x,
      y,
    );
  }

  /** An hg batch of another dtype than the model's is named here, before #loss runs fullLoss on it. */
  #checkDtype(x: Tensor): void {
    checkInputDtype(this.#where, "the hg batch's x", x, this.#plan!.model.parameters()[0]?.dtype);
  }

  /** The Taylor route's loss: the one given, or (once) the candidate whose value is fullLoss's on this batch. */
  #loss(x: Tensor, y: Tensor): TaylorLoss | undefined {
    const plan = this.#plan!;
    if (plan.loss !== undefined || this.#pending !== 'loss') return plan.loss;
    const exact = tidy(() => this.#fullLoss(x, y).item());
    const model = plan.model;
    const tried: string[] = [];
    for (const loss of taylorLosses(model)) {
      const value = tidy(() => lossValue(loss, model.forward(x), y));
      if (value !== undefined && Math.abs(value - exact) <= tolerance(this.#groups) * Math.max(1, Math.abs(exact)))
        return (plan.loss = loss);
      tried.push(`${loss} ${value ?? 'refuses these labels'}`);
    }
    // Said here: the route's default loss would otherwise fail on the labels or be refused by #confirmLoss.
    throw new RangeError(
      `${this.#where}: fullLoss gives ${exact} on the first hg batch, and no loss of the model's Taylor route does (${tried.join(', ')}): fullLoss must be one of them applied to the model's output, or pass taylor: { model, loss } for what it computes, or use summaries 'autograd'`,
    );
  }

  /** Once (taylor asked for): the route's loss must be fullLoss's, or its summaries would be of another function. */
  #confirmLoss(r: Hg & { loss: Tensor }, x: Tensor, y: Tensor): Hg {
    if (this.#pending === 'loss') {
      const fast = r.loss.item(),
        exact = tidy(() => this.#fullLoss(x, y).item());
      if (!Number.isFinite(exact)) {
        for (const t of Object.values(r)) t.dispose();
        throw new RangeError(
          `${this.#where}: fullLoss is ${exact} on the first hg batch, so the Taylor route's loss cannot be checked against it: look at the model's initialisation and the data`,
        );
      }
      if (!(Math.abs(fast - exact) <= tolerance(this.#groups) * Math.max(1, Math.abs(exact)))) {
        for (const t of Object.values(r)) t.dispose();
        throw new RangeError(
          `${this.#where}: the Taylor route's loss is ${fast} but fullLoss gives ${exact} on the same batch: taylor.model and taylor.loss must compute what fullLoss does`,
        );
      }
      this.#pending = undefined;
    }
    r.loss.dispose();
    return { H: r.H, g: r.g, order3: r.order3 };
  }

  /**
   * 'auto', first batch: both routes on its first CHOICE_SAMPLES samples; if the Taylor route's summaries equal
   * the autograd route's there, it is chosen and computes the whole batch's. The autograd route's memory grows
   * with the batch (VGG-11: 1.6 GiB at 64 samples), so it never runs on a whole hg batch only to be compared.
   */
  #choose(x: Tensor, y: Tensor, u: Tensor[], within: Hold | undefined): Hg {
    const model = this.#plan!.model,
      name = model.constructor.name;
    const n = Math.min(x.shape[0] ?? 0, CHOICE_SAMPLES);
    const whole = n === x.shape[0];
    const [xs, ys] = whole ? [x, y] : [x.narrow(0, 0, n), y.narrow(0, 0, n)]; // views, freed below
    const on = whole ? 'the first hg batch' : `the first ${n} samples of the first hg batch`;
    try {
      const exact = computeHgWithin(within, this.#groups, this.#fullLoss, xs, ys, u, this.#options);
      const limit = tolerance(this.#groups);
      let closest = Infinity;
      let refusal: string | undefined; // why the Taylor route refused the batch, when it refused it for every loss
      for (const loss of this.#plan!.loss ? [this.#plan!.loss] : taylorLosses(model)) {
        let fast: (Hg & { loss: Tensor }) | undefined;
        try {
          fast = computeHgTaylorWithin(within, model, this.#groups, xs, ys, u, { ...this.#options, loss });
        } catch (err) {
          // e.g. float labels for crossEntropy, or an x of another dtype than the model's
          if (err instanceof TypeError || err instanceof RangeError) {
            refusal = err.message;
            continue;
          }
          throw err;
        }
        const difference = relativeDifference(fast, exact);
        closest = Math.min(closest, difference);
        if (difference <= limit) {
          for (const t of Object.values(exact)) t.dispose();
          this.#plan!.loss = loss;
          this.#pending = undefined;
          this.#decision = {
            route: 'taylor',
            reason: `the parameters are a ${name}'s and, on ${on}, the Taylor route with loss '${loss}' gave the autograd route's summaries of fullLoss (largest relative difference ${difference.toExponential(1)} ≤ ${limit})`,
          };
          if (!whole) {
            for (const t of Object.values(fast)) t.dispose();
            fast = computeHgTaylorWithin(within, model, this.#groups, x, y, u, { ...this.#options, loss });
          }
          fast.loss.dispose();
          return { H: fast.H, g: fast.g, order3: fast.order3 };
        }
        for (const t of Object.values(fast)) t.dispose();
      }
      this.#pending = undefined;
      this.#plan = undefined;
      this.#decision = {
        route: 'autograd',
        reason:
          !Number.isFinite(closest) && refusal !== undefined
            ? `the parameters are a ${name}'s, but the Taylor route refused the first hg batch (${refusal})`
            : `the parameters are a ${name}'s, but fullLoss is not its ${taylorLosses(model).join(' or ')} loss: on ${on} the Taylor route's summaries differ from the autograd route's (largest relative difference ${Number.isFinite(closest) ? closest.toExponential(1) : 'n/a'} > ${limit})`,
      };
      if (whole) return exact;
      for (const t of Object.values(exact)) t.dispose();
      return computeHgWithin(within, this.#groups, this.#fullLoss, x, y, u, this.#options);
    } finally {
      if (!whole) {
        xs.dispose();
        ys.dispose();
      }
    }
  }
}

/** Samples of the first hg batch on which 'auto' compares the two routes. */
const CHOICE_SAMPLES = 64;

/** The outermost module holding every parameter of the groups that the Taylor route supports, or why none. */
function discover(groups: ParamGroup[]): { plan: TaylorPlan } | { reason: string } {
  const holders = modulesHolding(groups.flatMap((g) => g.params));
  if (holders.length === 0) return { reason: 'the parameters do not all belong to one nn.Module' };
  const supported = [...holders].reverse().find((m) => taylorSupport(m).supported);
  if (!supported)
    return {
      reason: `the parameters belong to a ${holders.at(-1)!.constructor.name}, which the Taylor route does not support (${taylorSupport(holders.at(-1)!).reason})`,
    };
  return { plan: { model: supported } };
}

function tolerance(groups: ParamGroup[]): number {
  return groups[0].params[0].dtype === 'float64' ? ROUTE_TOLERANCE.float64 : ROUTE_TOLERANCE.float32;
}

/** max over H, g, order3 of max|a − b| / max|b| (0/0 counts as equal). */
function relativeDifference(a: Hg, b: Hg): number {
  let worst = 0;
  for (const key of ['H', 'g', 'order3'] as const) {
    const x = a[key].toArray(),
      y = b[key].toArray();
    let diff = 0,
      scale = 0;
    for (let i = 0; i < y.length; i++) {
      diff = Math.max(diff, Math.abs(Number(x[i]) - Number(y[i])));
      scale = Math.max(scale, Math.abs(Number(y[i])));
    }
    if (Number.isNaN(diff)) return Infinity;
    worst = Math.max(worst, diff === 0 ? 0 : scale === 0 ? Infinity : diff / scale);
  }
  return worst;
}

function lossValue(loss: TaylorLoss, out: Tensor, y: Tensor): number | undefined {
  try {
    return { nll, crossEntropy, mse }[loss](out, y).item();
  } catch {
    return undefined; // labels of the wrong kind for this loss
  }
}

export function checkSummariesChoice(where: string, value: unknown): SummariesChoice {
  if (value !== 'auto' && value !== 'taylor' && value !== 'autograd')
    throw new TypeError(`${where}: summaries must be 'auto', 'taylor' or 'autograd', got ${show(value)}`);
  return value;
}
