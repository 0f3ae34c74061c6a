// Parameters in use by a pending asynchronous call: changing them meanwhile (an optimizer step, a state
// dict load, a second asynchronous call) would race with the worker thread, so it is refused instead.
import type { Tensor } from './tensor';

const inUse = new WeakMap<Tensor, string>();

/** Throws if any of `tensors` is held by a pending asynchronous call. */
export function assertFree(where: string, tensors: Iterable<Tensor>): void {
  for (const t of tensors) {
    const holder = inUse.get(t);
    if (holder)
      throw new Error(`${where}: a parameter is in use by a pending ${holder}; await it before changing or reusing the parameters`);
  }
}

/**
 * Runs `work` with `tensors` marked as held by `holder`, and releases them when it settles, on every path:
 * `work` throwing synchronously (a forward pass that throws, NaN input refused), its promise rejecting (a
 * native error on the worker thread) or resolving. There is no other way to take a hold, so none can leak.
 */
export async function holding<T>(holder: string, tensors: Tensor[], work: () => Promise<T>): Promise<T> {
  assertFree(holder, tensors);
  for (const t of tensors) inUse.set(t, holder);
  try {
    return await work();
  } finally {
    for (const t of tensors) inUse.delete(t);
  }
}
