// An optimizer state dict as torch.optim saves it (optimizer.state_dict(), read by loadTorch): snake_case names,
// `param_groups`, a step count kept as a tensor. loadStateDict renames it into grnewt's layout and then checks it
// as it checks its own, so a PyTorch run's optimizer can be resumed here.
import { Tensor } from '../core/tensor';
import { show } from '../core/validate';
import type { OptimizerStateDict, ParamState } from './optimizer';

/** How torch.optim names one optimizer's state dict. */
export interface TorchNames {
  /** torch's group option → grnewt's. */
  options: Readonly<Record<string, string>>;
  /** torch's per-parameter state → grnewt's; a null value in torch's means no state (SGD without momentum). */
  state: Readonly<Record<string, string>>;
  /** torch's state entries that count steps: a one-element tensor there (torch ≥ 1.12), a number here. */
  counts: readonly string[];
  /** torch options for what this optimizer does not do (amsgrad, maximize...): only this value (or null) loads. */
  absent: Readonly<Record<string, unknown>>;
}

/** torch options about how an update is computed (kernels, graphs) or a scheduler's bookkeeping, not what it computes. */
const IMPLEMENTATION_OPTIONS = new Set(['foreach', 'capturable', 'differentiable', 'fused', 'initial_lr']);

/** Whether a state dict has torch's layout (param_groups) rather than grnewt's (paramGroups). */
export function isTorchLayout(sd: Record<string, unknown>): boolean {
  return 'param_groups' in sd && !('paramGroups' in sd);
}

/** torch's state dict of `optimizer` (e.g. 'Adam') in grnewt's names; values are checked afterwards by loadStateDict. */
export function fromTorchStateDict<O>(
  where: string,
  optimizer: string,
  names: TorchNames,
  sd: Record<string, unknown>,
): OptimizerStateDict<O> {
  const groups = sd.param_groups;
  if (!Array.isArray(groups)) throw new TypeError(`${where}: param_groups must be an array, got ${show(groups)}`);
  const known = [...Object.keys(names.options), ...Object.keys(names.absent), ...IMPLEMENTATION_OPTIONS, 'params'];
  // As torch's load_state_dict: the saved ids of `params`, group after group, name the optimizer's parameters
  // in order, and the state is keyed by those ids (torch.save writes 0, 1, ... but any distinct ids map).
  const positionOf = new Map<string, number>();
  const paramGroups = groups.map((group, s) => {
    if (!isRecord(group)) throw new TypeError(`${where}: param_groups[${s}] must be an object, got ${show(group)}`);
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(group)) {
      if (name === 'params') {
        if (!Array.isArray(value)) throw new TypeError(`${where}: param_groups[${s}].params must be an array of ids, got ${show(value)}`);
        out.params = value.map((id, k) => {
          if (typeof id !== 'number' && typeof id !== 'string' && typeof id !== 'bigint')
            throw new TypeError(`${where}: param_groups[${s}].params[${k}] must be a parameter id, got ${show(id)}`);
          if (positionOf.has(String(id))) throw new RangeError(`${where}: parameter id ${show(id)} appears twice in param_groups`);
          positionOf.set(String(id), positionOf.size);
          return positionOf.size - 1;
        });
      } else if (Object.hasOwn(names.options, name)) out[names.options[name]] = value;
      else if (Object.hasOwn(names.absent, name)) {
        if (value !== null && value !== names.absent[name])
          throw new RangeError(
            `${where}: param_groups[${s}].${name} is ${show(value)}: torch.optim.${optimizer}'s ${name}, which grnewt's ${optimizer} does not have (only ${show(names.absent[name])} loads)`,
          );
      } else if (!IMPLEMENTATION_OPTIONS.has(name))
        throw new RangeError(
          `${where}: param_groups[${s}] has ${show(name)}, not an option of torch.optim.${optimizer} (known: ${known.join(', ')})`,
        );
    }
    return out;
  });
  const given = sd.state ?? {};
  if (!isRecord(given)) throw new TypeError(`${where}: state must be an object, got ${show(given)}`);
  const state: Record<string, ParamState> = {};
  for (const [key, entry] of Object.entries(given)) {
    if (!isRecord(entry)) throw new TypeError(`${where}: state ${key} must be an object, got ${show(entry)}`);
    const position = positionOf.get(key);
    if (position === undefined) throw new RangeError(`${where}: state ${key} is for a parameter id that no param_groups entry lists`);
    const converted: ParamState = {};
    for (const [name, value] of Object.entries(entry)) {
      if (!Object.hasOwn(names.state, name))
        throw new RangeError(
          `${where}: state ${key} has ${show(name)}, not in torch.optim.${optimizer}'s state (${Object.keys(names.state).join(', ')})`,
        );
      if (value === null) continue;
      converted[names.state[name]] = names.counts.includes(name) ? count(where, `state ${key}.${name}`, value) : (value as Tensor);
    }
    if (Object.keys(converted).length > 0) state[position] = converted;
  }
  return { state, paramGroups } as unknown as OptimizerStateDict<O>;
}

/** A step count: a number, or torch's one-element tensor of it (its value is checked as a count afterwards). */
function count(where: string, label: string, value: unknown): number {
  if (typeof value === 'number') return value;
  if (value instanceof Tensor && value.numel === 1) return Number(value.item());
  throw new TypeError(`${where}: ${label} must be a step count (a number or a one-element tensor), got ${show(value)}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Tensor);
}
