// The base of every model: named parameters (leaves requiring grad) and child modules, in registration
// order, with the conversions, modes and state dicts of torch.nn.Module.
import { native } from '../core/native';
import { assertFree } from '../core/pending_holds';
import { Tensor, checkDevice, checkDtype, keep, type DeviceName, type Dtype } from '../core/tensor';
import { checkBoolean, checkOptions, formatShape, show } from '../core/validate';
import type { TaylorStep } from './taylor_steps';

// Who registered what: lets an optimizer given only parameters find the model they belong to (NewtonSummary's
// automatic choice of the Taylor route). Weak, so a model and its parameters are collected as usual.
const ownerOf = new WeakMap<Tensor, Module>();
const parentOf = new WeakMap<Module, Module>();

/**
 * The modules that hold every one of `params`: the innermost module holding them all, then its parents up to
 * the outermost (the model a user calls). Empty when some tensor was never registered or they share no module.
 */
export function modulesHolding(params: readonly Tensor[]): Module[] {
  const chainOf = (p: Tensor): Module[] => {
    const chain: Module[] = [];
    for (let m = ownerOf.get(p); m !== undefined && !chain.includes(m); m = parentOf.get(m)) chain.push(m);
    return chain;
  };
  if (params.length === 0) return [];
  let common = chainOf(params[0]);
  for (const p of params.slice(1)) {
    if (common.length === 0) break;
    const chain = new Set(chainOf(p));
    common = common.filter((m) => chain.has(m));
  }
  return common;
}

/**
 * Base of every layer and model (torch.nn.Module): subclasses define forward() and register their parameters
 * and child modules, which namedParameters(), stateDict(), to() and zeroGrad() then walk in registration order.
 */
export abstract class Module {
  #training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  /**
   * @internal This module's forward as steps for the Taylor route, or why it cannot say (nn/taylor_steps.ts).
   * Built-in layers and models define it beside their forward; the route uses it only from the class that
   * defines both (taylorStepsOf), so a subclass never passes on its base's description.
   */
  taylorSteps(): TaylorStep[] | string {
    return `${this.constructor.name} does not describe its forward as Taylor steps`;
  }

  /** Registers `value` as a parameter (made a leaf that requires grad) under `name`. */
  protected registerParameter(name: string, value: Tensor): Tensor {
    checkName('registerParameter', name, this.#parameters, this.#children);
    if (!(value instanceof Tensor)) throw new TypeError(`registerParameter: ${name} must be a Tensor, got ${show(value)}`);
    if (!value.isLeaf) throw new TypeError(`registerParameter: ${name} must be a leaf tensor (use detach())`);
    if (!value.requiresGrad) value.requiresGrad = true;
    keep(value); // a parameter belongs to its module: a model built inside tidy() keeps it (as tf.tidy keeps variables)
    this.#parameters.set(name, value);
    ownerOf.set(value, this);
    return value;
  }

  /** Registers a child module under `name`: its parameters are named `name.<its names>`. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    checkName('registerModule', name, this.#parameters, this.#children);
    if (!(module instanceof Module)) throw new TypeError(`registerModule: ${name} must be a Module, got ${show(module)}`);
    // A module inside itself would make every walk of the tree (parameters(), stateDict()...) endless.
    if ((module as Module) === this || module.#contains(this))
      throw new RangeError(
        `registerModule: ${name} must not be this module or one that contains it (modules form a tree), got ${show(module)}`,
      );
    this.#children.set(name, module);
    parentOf.set(module, this);
    return module;
  }

  /**
   * Every parameter with its dotted name: own parameters first, then each child's, depth first. A parameter
   * reached twice (a module used at two places) is listed once, under its first name, as in torch.
   */
  namedParameters(): Array<[string, Tensor]> {
    const seen = new Set<Tensor>();
    return this.#everyNamedParameter().filter(([, p]) => !seen.has(p) && seen.add(p));
  }

  /** namedParameters() with a shared parameter under each of its names: the state dict's keys, as torch's. */
  #everyNamedParameter(): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [...this.#parameters];
    for (const [childName, child] of this.#children) {
      for (const [name, p] of child.#everyNamedParameter()) out.push([`${childName}.${name}`, p]);
    }
    return out;
  }

  /** Whether `module` is one of this module's descendants. */
  #contains(module: Module): boolean {
    return [...this.#children.values()].some((child) => child === module || child.#contains(module));
  }

  /** The parameters, in `namedParameters()` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** The direct children, in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.#children];
  }

  /** Drops every parameter's accumulated gradient (torch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.clearGrad();
  }

  /** Converts every parameter in place (same Tensor objects, new dtype/device); gradients are dropped. */
  to(options: { dtype?: Dtype; device?: DeviceName }): this {
    const o = checkOptions('Module.to', options, ['dtype', 'device']);
    if (o.dtype !== undefined) checkDtype('Module.to', o.dtype);
    if (o.device !== undefined) checkDevice('Module.to', o.device);
    if (o.dtype === 'int64') throw new TypeError('Module.to: parameters must stay float32 or float64');
    assertFree('Module.to', this.parameters());
    // Every parameter converted and checked before any is changed: float64 values beyond float32's range
    // became Infinity in the parameters (and the model was left half converted by a failure).
    const named = this.namedParameters();
    const converted = named.map(([, p]) => p.to(o as { dtype?: Dtype; device?: DeviceName }));
    const finite = (t: Tensor) => native().allFinite([t.handle('Module.to')]);
    const overflowed = named.findIndex(([, p], i) => p.dtype !== converted[i].dtype && !finite(converted[i]) && finite(p));
    if (overflowed >= 0) {
      for (const c of converted) c.dispose();
      throw new RangeError(
        `Module.to: ${named[overflowed][0]} holds values beyond ${o.dtype}'s range (they would become Infinity); the model is unchanged`,
      );
    }
    named.forEach(([, p], i) => {
      p.clearGrad();
      p.assign(converted[i], false);
      converted[i].dispose();
    });
    return this;
  }

  get training(): boolean {
    return this.#training;
  }
  /** Training mode for this module and its children (affects layers that behave differently). */
  train(mode = true): this {
    checkBoolean('train', 'mode', mode);
    this.#training = mode;
    for (const child of this.#children.values()) child.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Name → a detached tensor sharing each parameter's values (a shared parameter under each of its names). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(
      this.#everyNamedParameter().map(([name, p]) => {
        p.handle('stateDict', `parameter ${name}`); // named if disposed (detach's error named none)
        return [name, p.detach()];
      }),
    );
  }

  /** Copies values into the parameters in place; the names must match exactly, and each shape. */
  loadStateDict(stateDict: Record<string, Tensor>): void {
    if (stateDict === null || typeof stateDict !== 'object')
      throw new TypeError(`loadStateDict: stateDict must be an object, got ${show(stateDict)}`);
    const params = new Map(this.#everyNamedParameter());
    // Own keys only: a parameter named like an Object.prototype member ('toString') is not found on the prototype.
    const missing = [...params.keys()].filter((k) => !Object.hasOwn(stateDict, k));
    const unexpected = Object.keys(stateDict).filter((k) => !params.has(k));
    if (missing.length || unexpected.length) {
      throw new RangeError(`loadStateDict: keys do not match the model (missing: ${show(missing)}, unexpected: ${show(unexpected)})`);
    }
    for (const [name, p] of params) {
      const value = stateDict[name];
      if (!(value instanceof Tensor)) throw new TypeError(`loadStateDict: ${name} must be a Tensor, got ${show(value)}`);
      if (formatShape(value.shape) !== formatShape(p.shape)) {
        throw new RangeError(`loadStateDict: ${name} has shape ${formatShape(value.shape)}, the model's is ${formatShape(p.shape)}`);
      }
    }
    // As every optimizer step and state dict load: a NaN or Inf is never written into a parameter (a
    // diverged run's checkpoint would otherwise train on silently, every loss NaN). Checked in the parameter's
    // dtype: float64 values beyond float32's range, finite as given, became Infinity in a float32 model.
    const values = new Map<Tensor, Tensor>();
    try {
      for (const [name, p] of params) {
        const given = stateDict[name];
        given.handle('loadStateDict', name);
        const value = given.dtype === p.dtype ? given : given.to({ dtype: p.dtype });
        if (value !== given) values.set(p, value);
        if (p.dtype !== 'int64' && !native().allFinite([value.handle('loadStateDict')]))
          throw new RangeError(
            given.dtype === p.dtype || !native().allFinite([given.handle('loadStateDict')])
              ? `loadStateDict: ${name} must be finite, got a tensor holding NaN or Inf`
              : `loadStateDict: ${name} holds ${given.dtype} values beyond the model's ${p.dtype} range (they would become Infinity)`,
          );
      }
      assertFree('loadStateDict', params.values());
      for (const [name, p] of params) p.assign(values.get(p) ?? stateDict[name], true);
    } finally {
      for (const v of values.values()) v.dispose();
    }
  }
}

function checkName(where: string, name: unknown, params: Map<string, unknown>, children: Map<string, unknown>): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new TypeError(`${where}: name must be a non-empty string without '.', got ${show(name)}`);
  }
  if (params.has(name) || children.has(name)) throw new RangeError(`${where}: name ${show(name)} is already registered`);
}
