// Partitions of a model's parameters into subsets, each of which gets one learning rate. Order matters:
// directions, H̄'s rows and the learning rates follow the partition's order of subsets and tensors.
import type { Module } from '../nn/module';
import { Tensor } from '../core/tensor';
import { checkEach, checkInteger, show } from '../core/validate';
import { NO_PARAMETERS_HINT } from '../optim/optimizer';

export interface ParamGroup {
  params: Tensor[];
}
export interface Partition {
  paramGroups: ParamGroup[];
  nameGroups: string[][];
}

/** One subset per parameter tensor, in `namedParameters()` order. Every partition leaves out frozen parameters (requiresGrad = false). */
export function canonical(model: Module): Partition {
  return fromNames(
    named('canonical', model).map(([name]) => [name]),
    model,
  );
}

/** A single subset holding every parameter. */
export function trivial(model: Module): Partition {
  return fromNames([named('trivial', model).map(([name]) => name)], model);
}

/**
 * One subset per suffix (a parameter belongs to the first whose name it ends with, after a '.' or as the
 * whole name), then one for the rest. Subsets that would be empty are left out: they have no learning rate.
 */
export function names(model: Module, suffixes: string[]): Partition {
  if (!Array.isArray(suffixes) || checkEach(suffixes, (s) => typeof s !== 'string' || s === '').some(Boolean)) {
    throw new TypeError(`partition.names: suffixes must be an array of non-empty strings, got ${show(suffixes)}`);
  }
  return bySuffix('names', model, suffixes);
}

/** names(), its errors naming `where` (the helper the user called). */
function bySuffix(where: string, model: Module, suffixes: string[]): Partition {
  const groups: string[][] = suffixes.map(() => []);
  const rest: string[] = [];
  for (const [name] of named(where, model)) {
    const k = suffixes.findIndex((s) => name === s || name.endsWith(`.${s}`));
    (k >= 0 ? groups[k] : rest).push(name);
  }
  return fromNames(
    [...groups, rest].filter((g) => g.length > 0),
    model,
  );
}

/** Weights, biases, then the rest (each left out when empty). */
export function wb(model: Module): Partition {
  return bySuffix('wb', model, ['weight', 'bias']);
}

/**
 * The model's layers (modules owning parameters, in order) cut into n contiguous blocks, the first ones one
 * layer longer when they do not divide evenly; subsets: each block's weights, then each block's biases,
 * then any other parameters (as the reference's 'blocks-n').
 */
export function blocks(model: Module, n: number): Partition {
  const owners: string[] = [];
  const byOwner = new Map<string, string[]>();
  for (const [name] of named('blocks', model)) {
    const owner = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
    if (!byOwner.has(owner)) {
      owners.push(owner);
      byOwner.set(owner, []);
    }
    byOwner.get(owner)!.push(name);
  }
  checkInteger('partition.blocks', 'n', n, 1);
  if (n > owners.length) throw new RangeError(`partition.blocks: n = ${n} exceeds the ${owners.length} layers of the model`);
  const q = Math.floor(owners.length / n),
    r = owners.length % n;
  const weights: string[][] = [],
    biases: string[][] = [],
    rest: string[] = [];
  let k = 0;
  for (let b = 0; b < n; b++) {
    const size = b < r ? q + 1 : q;
    const w: string[] = [],
      bi: string[] = [];
    for (const owner of owners.slice(k, k + size)) {
      for (const name of byOwner.get(owner)!) {
        if (name.endsWith('weight')) w.push(name);
        else if (name.endsWith('bias')) bi.push(name);
        else rest.push(name);
      }
    }
    weights.push(w);
    biases.push(bi);
    k += size;
  }
  return fromNames(
    [...weights, ...biases, rest].filter((g) => g.length > 0),
    model,
  );
}

/**
 * Checks a partition given as `paramGroups` (generated or hand-written) and returns its tensors per subset:
 * every subset non-empty, every entry a live tensor that requires grad, no tensor in two subsets.
 */
export function checkParamGroups(where: string, paramGroups: unknown): Tensor[][] {
  if (!Array.isArray(paramGroups) || paramGroups.length === 0) {
    throw new TypeError(`${where}: paramGroups must be a non-empty array of { params: Tensor[] }, got ${show(paramGroups)}`);
  }
  const seen = new Map<Tensor, number>();
  return checkEach(paramGroups, (group, s) => {
    const params = (group as ParamGroup | null)?.params;
    if (!Array.isArray(params)) throw new TypeError(`${where}: paramGroups[${s}] must be { params: Tensor[] }, got ${show(group)}`);
    if (params.length === 0) throw new RangeError(`${where}: paramGroups[${s}] is empty (a subset needs at least one tensor)`);
    checkEach(params, (p, k) => {
      Tensor.handleOf(where, `paramGroups[${s}].params[${k}]`, p);
      if (!p.requiresGrad)
        throw new TypeError(
          `${where}: paramGroups[${s}].params[${k}] does not require grad: leave a frozen parameter out (the partition helpers do), or make it with { requiresGrad: true }`,
        );
      if (!p.isLeaf)
        throw new TypeError(
          `${where}: paramGroups[${s}].params[${k}] is not a leaf tensor (a result of ops on parameters, not a parameter: pass the parameters themselves)`,
        );
      const other = seen.get(p);
      if (other !== undefined) throw new RangeError(`${where}: a tensor is in two subsets (paramGroups[${other}] and paramGroups[${s}])`);
      seen.set(p, s);
    });
    return params as Tensor[];
  });
}

function named(where: string, model: Module): Array<[string, Tensor]> {
  if (typeof (model as Module | null)?.namedParameters !== 'function') {
    throw new TypeError(`partition.${where}: model must be an nn.Module, got ${show(model)}`);
  }
  const all = model.namedParameters();
  if (all.length === 0) throw new RangeError(`partition.${where}: the model has no parameters${NO_PARAMETERS_HINT}`);
  // A frozen parameter (requiresGrad = false, for fine-tuning) gets no direction and no learning rate.
  const params = all.filter(([, p]) => p.requiresGrad);
  if (params.length === 0) throw new RangeError(`partition.${where}: every parameter of the model is frozen (requiresGrad = false)`);
  return params;
}

function fromNames(nameGroups: string[][], model: Module): Partition {
  const byName = new Map(model.namedParameters());
  return { paramGroups: nameGroups.map((g) => ({ params: g.map((n) => byName.get(n)!) })), nameGroups };
}
