// Parameters in use by a pending asynchronous call: changing them meanwhile (an optimizer step, a state
// dict load, a second asynchronous call) would race with the worker thread, so it is refused instead.
import type { Tensor } from './tensor';

/** One pending call's hold on its tensors; a call made as a part of it passes it as `within`. */
export class Hold {
  constructor(readonly holder: string) {}
}

const inUse = new WeakMap<Tensor, Hold>();

/** Throws if any of `tensors` is held by a pending asynchronous call (other than `within`, the caller's own). */
export function assertFree(where: string, tensors: Iterable<Tensor>, within?: Hold): void {
  for (const t of tensors) {
    const hold = inUse.get(t);
    if (hold && hold !== within)
      throw new Error(`${where}: a parameter is in use by a pending ${hold.holder}; await it before changing or reusing the parameters`);
  }
}

/**
 * Runs `work` with `tensors` marked as held by `holder`, and releases them when it settles, on every path:
 * `work` throwing synchronously (a forward pass that throws, NaN input refused), its promise rejecting (a
 * native error on the worker thread) or resolving. There is no other way to take a hold, so none can leak.
 * `within`: the hold of the call this one is a part of (NewtonSummary.stepAsync's, around its summaries):
 * tensors it holds are used, and stay held by it afterwards.
 */
export async function holding<T>(holder: string, tensors: Tensor[], work: (hold: Hold) => Promise<T>, within?: Hold): Promise<T> {
  assertFree(holder, tensors, within);
  const hold = new Hold(holder);
  const taken = tensors.filter((t) => !inUse.has(t));
  for (const t of taken) inUse.set(t, hold);
  try {
    return await work(hold);
  } finally {
    for (const t of taken) inUse.delete(t);
  }
}
