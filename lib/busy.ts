// Parameters in use by a pending asynchronous call: changing them meanwhile (an optimizer step, a state
// dict load, a second asynchronous call) would race with the worker thread, so it is refused instead.
import type { Tensor } from './tensor';

const inUse = new WeakMap<Tensor, string>();

/** Throws if any of `tensors` is held by a pending asynchronous call. */
export function assertFree(where: string, tensors: Iterable<Tensor>): void {
  for (const t of tensors) {
    const holder = inUse.get(t);
    if (holder) throw new Error(`${where}: a parameter is in use by a pending ${holder}; await it before changing or reusing the parameters`);
  }
}

/** Marks `tensors` as held by `holder` until the returned release function is called. */
export function hold(holder: string, tensors: Tensor[]): () => void {
  assertFree(holder, tensors);
  for (const t of tensors) inUse.set(t, holder);
  return () => {
    for (const t of tensors) inUse.delete(t);
  };
}
