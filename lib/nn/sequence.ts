// A chain of parts applied in order — Sequential's and the built-in models' forward — and its Taylor
// description, both read from the same list so that they cannot drift apart.
import type { Tensor } from '../core/tensor';
import { taylorStepsOf, type TaylorDescribed, type TaylorStep } from './taylor_steps';

/** x through every part in order. */
export function forwardSequence(parts: readonly TaylorDescribed[], x: Tensor): Tensor {
  return parts.reduce((h, part) => part.forward(h), x);
}

/** The parts' Taylor steps one after the other, or why one of them has none. */
export function describeSequence(parts: readonly TaylorDescribed[], owner: string): TaylorStep[] | string {
  const steps: TaylorStep[] = [];
  for (const [k, part] of parts.entries()) {
    const inner = taylorStepsOf(part);
    if (typeof inner === 'string')
      return `the ${owner} holds a ${part.constructor.name} (step ${k}), which the Taylor route cannot follow: ${inner}`;
    for (const step of inner) steps.push(step); // no spread: argument lists have a size limit
  }
  return steps;
}
