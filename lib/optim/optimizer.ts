// What every optimizer shares, after torch.optim.Optimizer: parameter groups with their own options,
// per-parameter state, zeroGrad, and state dicts (parameters referred to by their index across groups).
import { assertFree, type Hold, holding } from '../core/pending_holds';
import { averageGradients, averageGradientsAsync, broadcastParameters, checkDistributedOption } from '../distributed/data_parallel';
import { native } from '../core/native';
import { type DeviceName, Tensor, keep } from '../core/tensor';
import { checkEach, checkOptions, show } from '../core/validate';
import { type TorchNames, fromTorchStateDict, isTorchLayout } from './torch_state_dict';

export type ParamsInput<O> = Tensor[] | Array<{ params: Tensor[] } & Partial<O>>;
export type StateValue = Tensor | number | boolean | null;
export type ParamState = Record<string, StateValue>;

export interface OptimizerStateDict<O> {
  state: Record<number, ParamState>;
  paramGroups: Array<O & { params: number[] }>;
  [extra: string]: unknown;
}

/** Why a module's parameters() may be empty: its layers were assigned to fields but never registered. */
export const NO_PARAMETERS_HINT =
  " (a custom module's parameters() is empty when its layers are not registered: call this.registerModule('name', layer) in its constructor)";

export abstract class Optimizer<O extends object> {
  readonly paramGroups: Array<{ params: Tensor[] } & O>;
  protected readonly state = new Map<Tensor, ParamState>();
  /** The options a group has (the defaults' keys) and their check: loadStateDict applies both to what it loads. */
  readonly #optionNames: Set<string>;
  readonly #checkGroup: (where: string, options: O) => O;

  protected constructor(
    protected readonly where: string,
    params: ParamsInput<O>,
    defaults: O,
    checkGroup: (where: string, options: O) => O,
  ) {
    this.#optionNames = new Set(Object.keys(defaults));
    this.#checkGroup = checkGroup;
    if (!Array.isArray(params) || params.length === 0)
      throw new TypeError(
        `${where}: params must be a non-empty array of Tensors or of { params }, got ${show(params)}${Array.isArray(params) ? NO_PARAMETERS_HINT : ''}`,
      );
    const isTensor = checkEach(params as readonly unknown[], (p) => p instanceof Tensor);
    const groups = isTensor.some(Boolean) ? [{ params: params as Tensor[] }] : (params as Array<{ params: Tensor[] }>);
    const seen = new Set<Tensor>();
    this.paramGroups = checkEach(groups, (group, s) => {
      const g = checkOptions(`${where}: paramGroups[${s}]`, group, ['params', ...this.#optionNames]) as { params?: unknown };
      if (!Array.isArray(g.params) || g.params.length === 0)
        throw new TypeError(`${where}: paramGroups[${s}].params must be a non-empty array of Tensors`);
      checkEach(g.params, (p, k) => {
        Tensor.handleOf(where, `paramGroups[${s}].params[${k}]`, p);
        if (!(p as Tensor).requiresGrad)
          throw new TypeError(
            `${where}: paramGroups[${s}].params[${k}] does not require grad: leave a frozen parameter out (e.g. model.parameters().filter((p) => p.requiresGrad)), or make it with { requiresGrad: true }`,
          );
        // As torch's: a computed tensor's value is recomputed from its leaves, so a step on it would change nothing.
        if (!(p as Tensor).isLeaf)
          throw new TypeError(
            `${where}: paramGroups[${s}].params[${k}] is not a leaf tensor (it is computed from others): optimize the leaves it comes from`,
          );
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

  /** `{ distributed: true }`: data parallel across the process group (see distributed/data_parallel.ts). */
  #distributed = false;
  get distributed(): boolean {
    return this.#distributed;
  }

  /**
   * Turns data parallelism on: rank 0's parameter values are broadcast to every rank now (so every rank starts
   * from the same point), and each step averages the gradients across ranks first. Blocks until every rank
   * has built its optimizer.
   */
  protected useDistributed(value: unknown): void {
    this.#distributed = checkDistributedOption(this.where, value);
    if (this.#distributed) broadcastParameters(this.where, this.allParams());
  }

  /** When distributed: each gradient ← its mean across ranks (one flattened allreduce; blocks the JS thread). */
  protected averageGradients(where: string): void {
    if (this.#distributed) averageGradients(where, this.allParams());
  }

  /** The same, waited for off the JS thread (inside the caller's hold on the parameters: holdingParams). */
  protected async averageGradientsAsync(where: string): Promise<void> {
    if (this.#distributed) await averageGradientsAsync(where, this.allParams());
  }

  /**
   * `work`, an asynchronous step, with the parameters held from this call until it settles: nothing may change
   * them between its parts (a Module.loadStateDict or Module.to run while a step was pending had the step's
   * update, computed before, written over what it loaded).
   */
  protected holdingParams<T>(where: string, work: (hold: Hold) => Promise<T>): Promise<T> {
    return holding(where, this.allParams(), work);
  }

  /**
   * A step made of one update rule (SGD's, Adam's): refused while a pending call holds the parameters, then the
   * gradients averaged across ranks when distributed, then `update`.
   */
  protected stepWith(where: string, update: () => void): void {
    this.readyToStep(where);
    this.averageGradients(where);
    update();
  }

  /** The same with the averaging waited for off the JS thread (the update itself is short). */
  protected async stepAsyncWith(where: string, update: () => void): Promise<void> {
    this.readyToStep(where);
    // Not distributed: nothing to wait for, and no turn of the event loop between the check and the update.
    if (!this.distributed) return update();
    await this.holdingParams(where, async () => {
      await this.averageGradientsAsync(where);
      update();
    });
  }

  /** Every parameter, group after group. */
  protected allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    this.#checkParams(`${this.where}.zeroGrad`);
    for (const p of this.allParams()) p.clearGrad();
  }

  /**
   * The groups' params as they are now (paramGroups is public, and torch's may be appended to): Tensors, each
   * in one place only. Something else failed as 'p.clearGrad is not a function'; a tensor listed twice was
   * silently stepped twice.
   */
  #checkParams(where: string): void {
    const seen = new Set<Tensor>();
    this.paramGroups.forEach((group, s) => {
      if (!Array.isArray(group.params) || group.params.length === 0)
        throw new TypeError(`${where}: paramGroups[${s}].params must be a non-empty array of Tensors, got ${show(group.params)}`);
      checkEach(group.params, (p, k) => {
        Tensor.handleOf(where, `paramGroups[${s}].params[${k}]`, p); // a Tensor, not disposed
        if (seen.has(p)) throw new RangeError(`${where}: paramGroups[${s}].params[${k}] is listed twice: it would be stepped twice`);
        seen.add(p);
      });
    });
  }

  abstract step(): void;

  /**
   * The step as a Promise, so that a loop can await any optimizer alike. The base (for a subclass that only
   * writes step()) runs step() at once; SGD and Adam wait for the distributed averaging off the JS thread
   * (stepAsyncWith), NewtonSummary computes its summaries on a worker thread.
   */
  async stepAsync(): Promise<void> {
    this.step();
  }

  /**
   * Steps skipped because a gradient held NaN or Inf, or because the update would have made a parameter or its
   * state non-finite (an lr or a gradient so large that it overflows): parameters are never made non-finite by a step.
   */
  skippedSteps = 0;

  /** True when every existing gradient is finite; otherwise counts a skipped step. */
  protected gradientsFinite(): boolean {
    const grads = this.allParams()
      .map((p) => p.grad)
      .filter((g): g is Tensor => g !== null);
    const finite = native().allFinite(grads.map((g) => g.handle('step')));
    for (const g of grads) g.dispose();
    if (!finite) this.skippedSteps++;
    return finite;
  }

  /** True when `staysFinite` holds for every parameter of every group (checked before any is written); otherwise counts a skipped step. */
  protected updatesStayFinite(staysFinite: (param: Tensor, group: { params: Tensor[] } & O) => boolean): boolean {
    const finite = this.paramGroups.every((group) => group.params.every((p) => staysFinite(p, group)));
    if (!finite) this.skippedSteps++;
    return finite;
  }

  /**
   * What every step checks and mends first: the groups' params are Tensors listed once, no pending call holds
   * them, the groups' options (a schedule may have changed them) are valid, and the state has the parameters'
   * dtype and device.
   */
  protected readyToStep(where: string): void {
    this.#checkParams(where);
    this.assertFree(where);
    this.#checkGroups(where);
    this.#stateFollowsParameters(where);
  }

  /**
   * The groups' options as they are now, checked as the constructor checks them, so a bad one is named here
   * rather than by the native update.
   */
  #checkGroups(where: string): void {
    this.paramGroups.forEach((group, s) => {
      const { params: _, ...options } = group;
      this.#checkGroup(`${where}: paramGroups[${s}]`, options as unknown as O);
    });
  }

  /**
   * A state tensor of another dtype or device than its parameter (moved since by `Module.to`) is converted to
   * the parameter's, as torch's loadStateDict casts a loaded state: the update rules read both together.
   */
  #stateFollowsParameters(where: string): void {
    for (const [p, state] of this.state) {
      // stateDict() hands out the live state tensors: one disposed by the caller is named, not 'the tensor' (its
      // name is made only then: this runs at every step).
      for (const [name, v] of Object.entries(state)) {
        if (!(v instanceof Tensor) || !v.isDisposed) continue;
        const i = this.allParams().indexOf(p);
        v.handle(where, `${i >= 0 ? `state[${i}]` : 'the state of a parameter no longer in paramGroups'}.${name}`);
      }
      const moved = Object.entries(state).filter(([, v]) => v instanceof Tensor && (v.dtype !== p.dtype || v.device !== p.device));
      if (moved.length === 0) continue;
      const next: ParamState = { ...state };
      for (const [name, v] of moved) {
        next[name] = (v as Tensor).to({ dtype: p.dtype, device: p.device as DeviceName });
        (v as Tensor).dispose();
      }
      this.setState(p, next);
    }
  }

  /** Refuses to touch parameters that a pending asynchronous call is using. */
  protected assertFree(where: string): void {
    assertFree(where, this.allParams());
  }

  /** The optimizer's state: live references to its state tensors (copy them to keep a snapshot). */
  stateDict(): OptimizerStateDict<O> {
    // In its parameters' dtype and device (moved since by Module.to): loadStateDict requires them, and this
    // state dict taken before the next step converted the state was refused by the optimizer that wrote it.
    this.#stateFollowsParameters(`${this.where}.stateDict`);
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

  /** How torch.optim names this optimizer's state dict, for loadStateDict of one torch saved; none: not accepted. */
  protected readonly torchNames?: TorchNames;

  /**
   * Restores a state dict made by an optimizer of the same shape (groups and parameter shapes): this one's
   * stateDict(), or, for SGD and Adam, torch.optim's optimizer.state_dict() as loadTorch reads it.
   */
  loadStateDict(stateDict: OptimizerStateDict<O>): void {
    this.prepareLoad(stateDict)();
  }

  /**
   * loadStateDict's checks, all of them, with nothing changed yet; returns what applies the state dict (which
   * does not throw). A subclass with more to check, or to do that may throw, does it in between.
   */
  protected prepareLoad(stateDict: OptimizerStateDict<O>): () => void {
    const where = `${this.where}.loadStateDict`;
    this.assertFree(where);
    if (stateDict === null || typeof stateDict !== 'object' || Array.isArray(stateDict))
      throw new TypeError(`${where}: stateDict must be an object (stateDict()'s, or torch's loaded by loadTorch), got ${show(stateDict)}`);
    const given = stateDict as Record<string, unknown>;
    if (isTorchLayout(given) && !this.torchNames)
      throw new TypeError(`${where}: this is torch's layout (param_groups), which only SGD and Adam read`);
    const sd = isTorchLayout(given) && this.torchNames ? fromTorchStateDict<O>(where, this.where, this.torchNames, given) : stateDict;
    if (sd.paramGroups === undefined)
      throw new TypeError(
        `${where}: the state dict has no paramGroups (stateDict() gives state and paramGroups; torch's has param_groups)`,
      );
    if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== this.paramGroups.length) {
      throw new RangeError(`${where}: the state dict has ${show(sd.paramGroups?.length)} groups, the optimizer ${this.paramGroups.length}`);
    }
    sd.paramGroups.forEach((g, s) => {
      if (!Array.isArray(g.params) || g.params.length !== this.paramGroups[s].params.length) {
        throw new RangeError(
          `${where}: group ${s} has ${show(g.params?.length)} parameters, the optimizer's ${this.paramGroups[s].params.length}`,
        );
      }
    });
    // Every group's options, checked as the constructor checks them, before anything changes: a NaN lr from
    // a checkpoint would make the next step write NaN into every parameter.
    const options = sd.paramGroups.map((g, s) => this.#loadedOptions(where, g as unknown as Record<string, unknown>, s));
    const params = this.allParams();
    const restored = new Map<Tensor, ParamState>();
    const state = sd.state ?? {};
    if (state === null || typeof state !== 'object' || Array.isArray(state))
      throw new TypeError(`${where}: state must be an object, got ${show(state)}`);
    for (const [key, entry] of Object.entries(state)) {
      const index = Number(key);
      const p = Number.isSafeInteger(index) && String(index) === key ? params[index] : undefined;
      if (!p) throw new RangeError(`${where}: state for parameter ${key}, which does not exist`);
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
        throw new TypeError(`${where}: state ${key} must be an object, got ${show(entry)}`);
      const checked: ParamState = {};
      for (const [name, v] of Object.entries(entry as Record<string, unknown>)) {
        const value = this.checkStateValue(where, `state ${key}.${name}`, name, v, p);
        // defineProperty: a key named "__proto__" stays a key, it does not replace the prototype
        Object.defineProperty(checked, name, {
          value: value instanceof Tensor ? value.clone() : value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      this.checkStateEntry(where, `state ${key}`, checked);
      restored.set(p, checked);
    }
    return () => {
      this.state.clear();
      for (const [p, s] of restored) this.setState(p, s);
      options.forEach((o, s) => {
        for (const name of this.#optionNames) (this.paramGroups[s] as Record<string, unknown>)[name] = (o as Record<string, unknown>)[name];
      });
    };
  }

  /** A loaded group's options: only known names, each checked by the constructor's check. */
  #loadedOptions(where: string, g: Record<string, unknown>, s: number): O {
    const current = this.paramGroups[s] as Record<string, unknown>;
    const merged: Record<string, unknown> = {};
    for (const name of this.#optionNames) merged[name] = current[name];
    for (const name of Object.keys(g)) {
      if (name === 'params') continue;
      if (!this.#optionNames.has(name))
        throw new RangeError(`${where}: group ${s} has an unknown option ${show(name)} (known: ${[...this.#optionNames].join(', ')})`);
      merged[name] = g[name];
    }
    return this.#checkGroup(`${where}: group ${s}`, merged as O);
  }

  /**
   * A loaded per-parameter state value, checked (subclasses name their state and its types). By default:
   * a tensor of the parameter's shape and dtype with finite values, a finite number, a boolean or null.
   */
  protected checkStateValue(where: string, label: string, _name: string, value: unknown, param: Tensor): StateValue {
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError(`${where}: ${label} must be finite, got ${value}`);
      return value;
    }
    if (value instanceof Tensor) {
      if (value.dtype !== param.dtype || value.shape.join() !== param.shape.join()) {
        throw new RangeError(
          `${where}: ${label} does not match its parameter (${value.dtype} [${value.shape}] vs ${param.dtype} [${param.shape}])`,
        );
      }
      if (!native().allFinite([value.handle(where)])) throw new RangeError(`${where}: ${label} holds NaN or Inf`);
      return value;
    }
    throw new TypeError(`${where}: ${label} must be a Tensor, a number, a boolean or null, got ${show(value)}`);
  }

  /**
   * A loaded parameter's whole state, once each value passed checkStateValue: an optimizer whose update reads
   * several values together (Adam's step count with its two moments) refuses an entry that lacks one.
   */
  protected checkStateEntry(_where: string, _label: string, _entry: ParamState): void {}
}

/** A numeric option that must be finite and ≥ min. */
export function checkNonNegative(where: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number') throw new TypeError(`${where}: ${name} must be a number, got ${show(value)}`);
  if (!Number.isFinite(value) || value < min) throw new RangeError(`${where}: ${name} must be a finite number ≥ ${min}, got ${value}`);
  return value;
}

export function checkUnitInterval(where: string, name: string, value: unknown, closedAtOne = false): number {
  checkNonNegative(where, name, value);
  if ((value as number) > 1 || (!closedAtOne && value === 1))
    throw new RangeError(`${where}: ${name} must be in [0, 1${closedAtOne ? ']' : ')'}, got ${value}`);
  return value as number;
}
