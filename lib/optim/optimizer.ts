// What every optimizer shares, after torch.optim.Optimizer: parameter groups with their own options,
// per-parameter state, zeroGrad, and state dicts (parameters referred to by their index across groups).
import { assertFree } from '../busy';
import { native } from '../native';
import { Tensor, keep } from '../tensor';
import { checkOptions, show } from '../validate';

export type ParamsInput<O> = Tensor[] | Array<{ params: Tensor[] } & Partial<O>>;
export type StateValue = Tensor | number | boolean | null;
export type ParamState = Record<string, StateValue>;

export interface OptimizerStateDict<O> {
  state: Record<number, ParamState>;
  paramGroups: Array<O & { params: number[] }>;
  [extra: string]: unknown;
}

export abstract class Optimizer<O extends object> {
  readonly paramGroups: Array<{ params: Tensor[] } & O>;
  protected readonly state = new Map<Tensor, ParamState>();

  protected constructor(
    protected readonly where: string,
    params: ParamsInput<O>,
    defaults: O,
    checkGroup: (where: string, options: O) => O,
  ) {
    if (!Array.isArray(params) || params.length === 0) throw new TypeError(`${where}: params must be a non-empty array of Tensors or of { params }, got ${show(params)}`);
    const groups = params.every((p) => p instanceof Tensor) ? [{ params: params as Tensor[] }] : (params as Array<{ params: Tensor[] }>);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((group, s) => {
      const g = checkOptions(where, group) as { params?: unknown };
      if (!Array.isArray(g.params) || g.params.length === 0) throw new TypeError(`${where}: paramGroups[${s}].params must be a non-empty array of Tensors`);
      g.params.forEach((p, k) => {
        Tensor.handleOf(where, `paramGroups[${s}].params[${k}]`, p);
        if (!(p as Tensor).requiresGrad) throw new TypeError(`${where}: paramGroups[${s}].params[${k}] does not require grad (make it with { requiresGrad: true }, or set its requiresGrad = true)`);
        if (seen.has(p as Tensor)) throw new RangeError(`${where}: a tensor appears in two parameter groups (again in group ${s})`);
        seen.add(p as Tensor);
      });
      const { params: ps, ...overrides } = g as { params: Tensor[] } & Partial<O>;
      return { params: [...ps], ...checkGroup(where, { ...defaults, ...overrides } as O) };
    });
  }

  /**
   * Sets a parameter's state. Its tensors outlive any `tidy` scope the step runs in: they belong to the
   * optimizer from now on.
   */
  protected setState(p: Tensor, state: ParamState): void {
    for (const v of Object.values(state)) if (v instanceof Tensor) keep(v);
    this.state.set(p, state);
  }

  /** Every parameter, group after group. */
  protected allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.allParams()) p.clearGrad();
  }

  abstract step(): void;

  /** Steps skipped because a gradient held NaN or Inf (parameters are never made non-finite by a step). */
  skippedSteps = 0;

  /** True when every existing gradient is finite; otherwise counts a skipped step. */
  protected gradientsFinite(): boolean {
    const grads = this.allParams().map((p) => p.grad).filter((g): g is Tensor => g !== null);
    const finite = native().allFinite(grads.map((g) => g.handle('step')));
    for (const g of grads) g.dispose();
    if (!finite) this.skippedSteps++;
    return finite;
  }

  /** Refuses to touch parameters that a pending asynchronous call is using. */
  protected assertFree(where: string): void {
    assertFree(where, this.allParams());
  }

  /** The optimizer's state: live references to its state tensors (copy them to keep a snapshot). */
  stateDict(): OptimizerStateDict<O> {
    const state: Record<number, ParamState> = {};
    this.allParams().forEach((p, i) => {
      const s = this.state.get(p);
      if (s) state[i] = { ...s };
    });
    let offset = 0;
    const paramGroups = this.paramGroups.map(({ params, ...options }) => {
      const indices = params.map((_, k) => offset + k);
      offset += params.length;
      return { ...(options as unknown as O), params: indices };
    });
    return { state, paramGroups };
  }

  /** Restores a state dict made by an optimizer of the same shape (groups and parameter shapes). */
  loadStateDict(stateDict: OptimizerStateDict<O>): void {
    this.assertFree(`${this.where}.loadStateDict`);
    const sd = checkOptions(`${this.where}.loadStateDict`, stateDict) as unknown as OptimizerStateDict<O>;
    if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== this.paramGroups.length) {
      throw new RangeError(`${this.where}.loadStateDict: the state dict has ${show(sd.paramGroups?.length)} groups, the optimizer ${this.paramGroups.length}`);
    }
    sd.paramGroups.forEach((g, s) => {
      if (!Array.isArray(g.params) || g.params.length !== this.paramGroups[s].params.length) {
        throw new RangeError(`${this.where}.loadStateDict: group ${s} has ${show(g.params?.length)} parameters, the optimizer's ${this.paramGroups[s].params.length}`);
      }
    });
    const params = this.allParams();
    const restored = new Map<Tensor, ParamState>();
    for (const [key, entry] of Object.entries(sd.state ?? {})) {
      const p = params[Number(key)];
      if (!p) throw new RangeError(`${this.where}.loadStateDict: state for parameter ${key}, which does not exist`);
      restored.set(p, Object.fromEntries(Object.entries(entry).map(([name, v]) => {
        if (v instanceof Tensor && v.numel !== p.numel) throw new RangeError(`${this.where}.loadStateDict: state ${name} of parameter ${key} does not match its shape`);
        return [name, v instanceof Tensor ? v.clone() : v];
      })));
    }
    this.state.clear();
    for (const [p, s] of restored) this.setState(p, s);
    sd.paramGroups.forEach(({ params: _ignored, ...options }, s) => Object.assign(this.paramGroups[s], options));
  }
}

/** A numeric option that must be finite and ≥ min. */
export function checkNonNegative(where: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number') throw new TypeError(`${where}: ${name} must be a number, got ${show(value)}`);
  if (!Number.isFinite(value) || value < min) throw new RangeError(`${where}: ${name} must be a finite number ≥ ${min}, got ${value}`);
  return value;
}

export function checkUnitInterval(where: string, name: string, value: unknown, closedAtOne = false): number {
  checkNonNegative(where, name, value);
  if ((value as number) > 1 || (!closedAtOne && value === 1)) throw new RangeError(`${where}: ${name} must be in [0, 1${closedAtOne ? ']' : ')'}, got ${value}`);
  return value as number;
}
