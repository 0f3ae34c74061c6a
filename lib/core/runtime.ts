// Process-wide settings and facts.
import * as os from 'node:os';
import { native } from './native';
import { checkInteger, checkNumber, show } from './validate';

/** Seeds libtorch's generators (randn, shuffling, initialisation) for reproducible runs. */
export function manualSeed(seed: number): void {
  native().manualSeed(checkInteger('manualSeed', 'seed', seed, 0));
}

/**
 * The most intra-op threads that make sense here: this machine's cores. More only oversubscribe them
 * (10000 threads turned a 200-example epoch into minutes).
 */
export function maxThreads(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** Threads libtorch uses inside one op (it starts with 1 here), at most maxThreads(). Process-wide. */
export function setNumThreads(n: number): void {
  const max = maxThreads();
  if (typeof n === 'number' && Number.isSafeInteger(n) && n > max) {
    throw new RangeError(`setNumThreads: n must be at most ${max} (this machine's cores), got ${n}`);
  }
  native().setNumThreads(checkInteger('setNumThreads', 'n', n, 1));
}

/** The intra-op thread count libtorch uses now (see setNumThreads). */
export function getNumThreads(): number {
  return native().numThreads();
}

/** CUDA devices, as torch.cuda. */
export const cuda = {
  /** Whether this build of grnewt and libtorch can run tensors on a CUDA device. */
  isAvailable(): boolean {
    return native().cudaAvailable();
  },
};

/** grnewt's CPU allocator: tensor memory in use (now and at its peak) and the cache of freed blocks. */
export interface AllocatorStats {
  /** false when GRNEWT_CPU_CACHE=0 left libtorch's own allocator in place (then every count is 0). */
  enabled: boolean;
  /** CPU tensor memory handed out now, and the most since the process started or resetPeakMemory(). */
  inUseBytes: number;
  peakBytes: number;
  /** Freed blocks of 128 KiB or more kept for reuse (up to limitBytes, by default a quarter of the RAM). */
  cachedBytes: number;
  cachedBlocks: number;
  limitBytes: number;
  /** Allocations of 128 KiB or more served from the cache / by the system. */
  hits: number;
  misses: number;
}

/**
 * Native tensor handles not yet freed (by dispose or GC) in this process, the bytes they hold, and the CPU
 * allocator's state. Freed blocks of 128 KiB or more are cached and reused, because faulting fresh pages
 * in dominated training steps on slow-page-fault machines (LeNet forward+backward: 480 ms → 71 ms).
 */
export function memory(): { liveTensors: number; bytes: number; allocator: AllocatorStats } {
  return native().memory();
}

/** Starts memory().allocator.peakBytes afresh from the memory in use now. */
export function resetPeakMemory(): void {
  native().resetPeakMemory();
}

/** Returns every cached CPU block to the system (live tensors are not affected). */
export function emptyCache(): void {
  native().emptyCache();
}

/** The most bytes the CPU cache keeps (lowering it frees blocks at once; 0 disables caching). */
export function setCacheLimit(bytes: number): void {
  const n = checkNumber('setCacheLimit', 'bytes', bytes);
  if (!(n >= 0) || !Number.isFinite(n)) throw new RangeError(`setCacheLimit: bytes must be a finite number ≥ 0, got ${show(bytes)}`);
  native().setCacheLimit(n);
}

/** The libtorch version the addon was built against. */
export function torchVersion(): string {
  return native().torchVersion();
}
