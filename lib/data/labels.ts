// Class labels read from data files (IDX, CSV): integers in 0..MAX_CLASSES-1. The number of classes sizes
// a model's output layer, so a single absurd label (2e9) must be refused, not turned into a layer of 2e9 rows.
import { show } from '../core/validate';

/** More classes than this is not a classification dataset grnewt trains on (a 100-wide last layer would be 26 MB). */
export const MAX_CLASSES = 65536;

/**
 * Checks every label and returns how many classes they span (the largest + 1). A loop, not
 * Math.max(…labels), which overflows the call stack beyond ~125k labels.
 */
export function classCount(where: string, labels: ArrayLike<number | bigint>): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const raw = labels[i];
    const c = typeof raw === 'bigint' ? Number(raw) : raw;
    if (!Number.isInteger(c) || c < 0 || c >= MAX_CLASSES) {
      throw new RangeError(`${where}: label ${i} is ${show(raw)}; labels must be integers in 0..${MAX_CLASSES - 1}`);
    }
    if (c > max) max = c;
  }
  return max + 1;
}
