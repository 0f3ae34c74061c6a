// Process-wide settings and facts.
import { native } from './native';
import { checkInteger } from './validate';

/** Seeds libtorch's generators (randn, shuffling, initialisation) for reproducible runs. */
export function manualSeed(seed: number): void {
  native().manualSeed(checkInteger('manualSeed', 'seed', seed, 0));
}

/** Threads libtorch uses inside one op (it starts with 1 here). Process-wide. */
export function setNumThreads(n: number): void {
  native().setNumThreads(checkInteger('setNumThreads', 'n', n, 1));
}

export function getNumThreads(): number {
  return native().numThreads();
}

export const cuda = {
  /** Whether this build of grnewt and libtorch can run tensors on a CUDA device. */
  isAvailable(): boolean {
    return native().cudaAvailable();
  },
};

/** Native tensor handles not yet freed (by dispose or GC) in this process, and the bytes they hold. */
export function memory(): { liveTensors: number; bytes: number } {
  return native().memory();
}

/** The libtorch version the addon was built against. */
export function torchVersion(): string {
  return native().torchVersion();
}
