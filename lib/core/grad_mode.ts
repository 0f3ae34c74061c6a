// Scopes that switch autograd recording off (noGrad) or back on (enableGrad), as torch.no_grad() and
// torch.enable_grad(). libtorch's grad mode belongs to the calling thread, and JS runs on one thread, so a
// scope sets it, runs fn synchronously, and restores the previous mode however fn ends.
import { native } from './native';
import { show } from './validate';

/** Runs `fn` with autograd recording off: its results have no graph and cost no graph memory (evaluation, metrics). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode('noGrad', false, fn);
}

/** Runs `fn` with autograd recording on, also inside a `noGrad` scope. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode('enableGrad', true, fn);
}

/** Whether ops record a graph now (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return native().gradEnabled();
}

function withGradMode<T>(where: string, enabled: boolean, fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`${where}: fn must be a function, got ${show(fn)}`);
  const addon = native();
  const previous = addon.gradEnabled();
  addon.setGradEnabled(enabled);
  let result: T;
  try {
    result = fn();
  } finally {
    addon.setGradEnabled(previous);
  }
  // The mode cannot follow an async function past its first await: it would leak into unrelated code.
  if (result instanceof Promise) {
    throw new TypeError(`${where}: fn must be synchronous (it returned a Promise); wrap each synchronous part in ${where}() instead`);
  }
  return result;
}
