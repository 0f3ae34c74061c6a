// The one place that touches the compiled addon. It is loaded on first use (libtorch pulls in hundreds of
// shared libraries, ~0.5–1 s), once per thread, and a failure to load says why and what to do.
import { createRequire } from 'node:module';
import { checkEnvironment } from './environment';
import * as path from 'node:path';
import type { AllocatorStats } from './runtime';

/** Opaque native tensor handle; only `lib/` ever holds one. */
export interface NativeTensor {
  readonly __nativeTensor: unique symbol;
}
type H = NativeTensor;
type Operand = H | number;
type Maybe<T> = T | null | undefined;

/** @internal One model step for the Taylor route (see native/addon/taylor_model.h). */
export type TaylorStep = { kind: string } & Record<string, unknown>;
/** Seconds per stage of one native Taylor-route call (native/method/taylor.h's Profile), and its most jet rows. */
export interface TaylorProfile {
  layers: number;
  allocation: number;
  bias: number;
  elementwise: number;
  pool: number;
  loss: number;
  /** The adjoint implementation's plain forward pass and the backward pass of λ. */
  values: number;
  /** The adjoint implementation's contractions with λ (the second-order sources). */
  sources: number;
  total: number;
  peakRows: number;
}

/** @internal sgdStep's settings (torch.optim.SGD's, for one parameter). */
export interface SgdStepOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}
/** @internal adamStep's settings (torch.optim.Adam's, amsgrad off); `step` counts this step (≥ 1). */
export interface AdamStepOptions {
  step: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}
/** @internal adamDirection's settings: the moments' only (the direction is Adam's step at lr = 1, no weight decay). */
export interface AdamDirectionOptions {
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
}
/** @internal The Taylor route's settings: `groups` is the partition's number of subsets (S). */
export interface TaylorHgOptions {
  loss: 'crossEntropy' | 'mse';
  groups: number;
  noregul: boolean;
  diagonal: boolean;
}
/** @internal distributedInit's settings, all required (the façade fills them from torchrun's environment variables). */
export interface DistributedInitOptions {
  backend: string;
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  localRank: number;
}
/** @internal The summaries every route returns, as handles: H̄ [S,S], ḡ [S], D's diagonal [S] (float64). */
export interface NativeHg {
  H: H;
  g: H;
  order3: H;
}

/**
 * @internal The addon's exports, as lib/ calls them: each documented here once.
 *
 * Conventions (native/addon/): every export is synchronous unless it says it returns a Promise; those run on
 * a libuv worker and settle on the JS thread. Tensors travel as opaque handles (H). An export with more than
 * three scalar settings takes them as one options object read by key (native/addon/js_options.h): every key
 * is required, and a missing or mistyped key is a TypeError naming it (`adamStep: options.step is missing`).
 * Errors are always JS errors, never a crash (native/addon/js_errors.h):
 * - TypeError: an argument of the wrong type (`x must be a Tensor`, `lr must be a number`), an unknown dtype
 *   or device, a loss without a graph;
 * - RangeError: an integer out of its range (every integer is range-checked: `dim must be an integer in
 *   -2147483647..2147483647, got 4294967296`), mismatched shapes or groups, out of memory;
 * - Error: a disposed handle (`x: the tensor has been disposed`), or libtorch's own message.
 * The façade checks arguments with friendlier messages first; these checks are the last line.
 */
export interface NativeAddon {
  // --- creation (native/addon/tensor_api.cpp) ---
  /** A new tensor holding a copy of `data` (`shape`'s product must equal its length), converted to `dtype` on `device`. */
  fromData(
    data: Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array,
    shape: number[],
    dtype: string,
    device: string,
    requiresGrad: boolean,
  ): H;
  /** A new tensor of zeros. */
  zeros(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  /** A new tensor of ones. */
  ones(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  /** A new tensor of standard normal samples (floating dtypes only, else TypeError). */
  randn(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  /** A new tensor of uniform samples in [0, 1) (floating dtypes only, else TypeError). */
  rand(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;

  // --- properties ---
  /** The tensor's sizes. */
  shape(t: H): number[];
  /** 'float32', 'float64' or 'int64' (other libtorch types by their libtorch name). */
  dtype(t: H): string;
  /** 'cpu', 'cuda', or 'cuda:N' for a device index above 0. */
  device(t: H): string;
  /** Whether autograd records operations on the tensor. */
  requiresGrad(t: H): boolean;
  /** Whether the tensor is a leaf of the graph (made by the user, not by an op). */
  isLeaf(t: H): boolean;
  /** Sets requires_grad; Error (libtorch's) on a non-leaf. */
  setRequiresGrad(t: H, value: boolean): void;
  /** A new handle on the accumulated gradient, or null when there is none. */
  grad(t: H): H | null;
  /** Drops the accumulated gradient (torch's zero_grad(set_to_none=True)). */
  clearGrad(t: H): void;

  // --- values ---
  /** dst takes src's values in place, outside autograd (dst keeps its identity); `sameShape`: RangeError unless the shapes match exactly, else dtype/device may change too. */
  assign(dst: H, src: H, sameShape: boolean): void;
  /** A host copy: Float32Array, Float64Array, or BigInt64Array for integral tensors. */
  toArray(t: H): Float32Array | Float64Array | BigInt64Array;
  /** The single value; RangeError unless the tensor holds exactly one. */
  item(t: H): number;
  /** Converted to `dtype` and/or `device` (null/undefined: keep); shares the storage when nothing changes (at::Tensor::to). */
  to(t: H, dtype: Maybe<string>, device: Maybe<string>): H;
  /** A detached copy. */
  clone(t: H): H;
  /** A view of `base`'s storage (torch.as_strided); RangeError unless `base` is contiguous 1-D and the view stays inside it. */
  asStrided(base: H, sizes: number[], strides: number[], offset: number): H;
  /** Frees the tensor now (idempotent); the handle is unusable afterwards. */
  dispose(t: H): void;

  // --- autograd ---
  /** Accumulates d(t)/d(leaf) into every leaf's grad; RangeError unless t is a scalar, TypeError if it has no graph. */
  backward(t: H, retainGraph: boolean): void;
  /** The same values, cut from the graph. */
  detach(t: H): H;
  /** d(loss)/d(param) for each param, without touching any grad (zeros where loss does not depend on one). */
  gradients(loss: H, params: H[]): H[];
  /** Turns graph recording on or off for this thread (torch.set_grad_enabled). */
  setGradEnabled(enabled: boolean): void;
  /** Whether this thread records graphs. */
  gradEnabled(): boolean;

  // --- runtime: memory, threads, seed, build ---
  /** Live handles and their bytes (process-wide), and the caching allocator's counters. */
  memory(): { liveTensors: number; bytes: number; allocator: AllocatorStats };
  /** Frees the tensors of handles V8 has collected (also done as handles are made, and by memory()). */
  sweep(): void;
  /** Frees the allocator's cached blocks. */
  emptyCache(): void;
  /** Restarts the allocator's peakBytes from the bytes in use now. */
  resetPeakMemory(): void;
  /** The most bytes the allocator keeps cached; RangeError unless 0 ≤ bytes ≤ 9e15. */
  setCacheLimit(bytes: number): void;
  /** Seeds libtorch's generators; seed in 0..2**53 − 1. */
  manualSeed(seed: number): void;
  /** libtorch's intra-op threads (this thread's and the worker pool's); n in 1..runtime::kMaxThreads. */
  setNumThreads(n: number): void;
  /** libtorch's intra-op threads now. */
  numThreads(): number;
  /** Whether this build and machine can run on CUDA. */
  cudaAvailable(): boolean;
  /** The libtorch version the addon runs on, e.g. '1.13.0'. */
  torchVersion(): string;
  /** Seconds taken by `iterations` (0..1e9) additions of two 4-element float32 tensors in C++ (the bench's baseline). */
  benchAddLoop(iterations: number): number;

  // --- differentiable ops (native/addon/ops_api.cpp): each returns a new tensor ---
  /** −x */
  neg(x: H): H;
  /** eˣ */
  exp(x: H): H;
  /** ln x */
  log(x: H): H;
  /** √x */
  sqrt(x: H): H;
  /** |x| */
  abs(x: H): H;
  /** tanh x */
  tanh(x: H): H;
  /** max(x, 0) */
  relu(x: H): H;
  /** 1 / (1 + e⁻ˣ) */
  sigmoid(x: H): H;
  /** a + b, broadcasting; a number operand is a scalar of the tensor operand's dtype (TypeError if both are numbers), as for sub, mul, div, pow. */
  add(a: Operand, b: Operand): H;
  /** a − b */
  sub(a: Operand, b: Operand): H;
  /** a · b */
  mul(a: Operand, b: Operand): H;
  /** a / b */
  div(a: Operand, b: Operand): H;
  /** aᵇ */
  pow(a: Operand, b: Operand): H;
  /** x for x > 0, alpha·(eˣ − 1) otherwise. */
  elu(x: H, alpha: number): H;
  /** max(x, min) */
  clampMin(x: H, min: number): H;
  /** torch.matmul (batched, broadcasting). */
  matmul(a: H, b: H): H;
  /** Sum over `dims` (null: all). */
  sum(x: H, dims: number[] | null, keepDim: boolean): H;
  /** Mean over `dims` (null: all). */
  mean(x: H, dims: number[] | null, keepDim: boolean): H;
  /** Largest values over `dims` (null: all), as torch.amax (ties share the gradient). */
  amax(x: H, dims: number[] | null, keepDim: boolean): H;
  /** Smallest values over `dims` (null: all), as torch.amin. */
  amin(x: H, dims: number[] | null, keepDim: boolean): H;
  /** A size may be -1 (inferred). */
  reshape(x: H, shape: number[]): H;
  /** `length` entries of `dim` from `start` (a view). */
  narrow(x: H, dim: number, start: number, length: number): H;
  /** The tensors joined along `dim` (same dtype and device; equal sizes but along dim). */
  cat(tensors: H[], dim: number): H;
  /** The tensors (one shape, dtype and device) stacked along a new `dim`. */
  stack(tensors: H[], dim: number): H;
  /** x with dimensions dim0 and dim1 swapped (a view). */
  transpose(x: H, dim0: number, dim1: number): H;
  /** x with its dimensions in the order `dims`, a permutation (a view). */
  permute(x: H, dims: number[]): H;
  /** log(softmax(x)) along `dim`, computed stably. */
  logSoftmax(x: H, dim: number): H;
  /** e^x / Σ e^x along `dim`. */
  softmax(x: H, dim: number): H;
  /** torch.gather; RangeError for an index out of bounds. */
  gather(x: H, dim: number, index: H): H;
  /** The slices of x at the int64 `index` along `dim`. */
  indexSelect(x: H, dim: number, index: H): H;
  /** int64 indices of the largest values along `dim`. */
  argmax(x: H, dim: number): H;
  /** A bool tensor (b: a tensor or a number). */
  eq(a: H, b: Operand): H;
  /** Constant padding: `pads` as torch.nn.functional.pad's (last dimension first, each ≥ 0). */
  pad(x: H, pads: number[], value: number): H;
  /** stride, padding, dilation: [h, w]; groups ≥ 1. Positional: one scalar setting. */
  conv2d(x: H, weight: H, bias: H | null, stride: number[], padding: number[], dilation: number[], groups: number): H;
  /** kernelSize, stride, padding, dilation: [h, w]. Positional: one scalar setting. */
  maxPool2d(x: H, kernelSize: number[], stride: number[], padding: number[], dilation: number[], ceilMode: boolean): H;

  // --- the summaries (native/addon/summaries_api.cpp, async_api.cpp) ---
  /**
   * H̄, ḡ and D's diagonal of `loss` for the partition `params` along `direction` (one tensor per parameter,
   * grouped alike), by autograd (1 + 2S backward passes). RangeError for a parameter in two subsets, an empty
   * subset, or a direction that does not match; TypeError for a loss without a graph.
   */
  computeHg(loss: H, params: H[][], direction: H[][], noregul: boolean, diagonal: boolean): NativeHg;
  /** computeHg on a worker thread: the arguments are read on this thread (a wrong type throws at once); computeHg's other errors reject the Promise. */
  computeHgAsync(loss: H, params: H[][], direction: H[][], noregul: boolean, diagonal: boolean): Promise<NativeHg>;
  /** Every D^order L[u_i1..u_in] (i1 ≤ … ≤ in, lexicographic), order in 1..8: the tests' reference for computeHg. */
  diffN(loss: H, params: H[][], direction: H[][], order: number): H;
  /**
   * The summaries of loss(model(x), target) by Taylor mode, `steps` describing the model (native/addon/taylor_model.h),
   * plus the loss's value. TypeError for an unknown step kind, activation or loss; RangeError for a group index
   * out of 0..groups − 1 or shapes that do not chain.
   */
  taylorHg(steps: TaylorStep[], x: H, target: H, options: TaylorHgOptions): NativeHg & { loss: H };
  /** taylorHg plus where its time went, by stage (the bench's). */
  taylorHgProfile(steps: TaylorStep[], x: H, target: H, options: TaylorHgOptions): NativeHg & { loss: H; profile: TaylorProfile };
  /** taylorHg on a worker thread: the arguments are read on this thread (their errors throw at once); the rest reject the Promise. */
  taylorHgAsync(steps: TaylorStep[], x: H, target: H, options: TaylorHgOptions): Promise<NativeHg & { loss: H }>;

  // --- the learning-rate solver ---
  /** The anisotropic Nesterov cubic problem's η for H̄ [S,S], ḡ [S], D's diagonal d [S] (≥ 0) and λ = dampingInt ≥ 0; RangeError for λ = 0 with an H̄ that is not positive definite. */
  nesterovLrs(H: H, g: H, d: H, dampingInt: number): NativeNesterovResult;
  /** η = (H̄ + ridge·I)⁻¹ ḡ (branch 'ridge'); not found when that matrix is singular; RangeError unless ridge is finite ≥ 0. */
  ridgeLrs(H: H, g: H, ridge: number): NativeNesterovResult;

  // --- optimizer updates, in place (native/addon/optim_api.cpp): a null state is created and handed back ---
  /** torch.optim.SGD on `param` from its grad (no-op without one). Result: the momentum buffer when it was created here, else null. */
  sgdStep(param: H, buffer: H | null, options: SgdStepOptions): H | null;
  /** torch.optim.Adam on `param` from its grad (no-op without one). Result: [expAvg, expAvgSq], each a new handle when created here, else null. */
  adamStep(param: H, expAvg: H | null, expAvgSq: H | null, options: AdamStepOptions): [H | null, H | null];
  /** NewtonSummary's momentum direction: buffer ← grad first, then momentum·buffer + (1 − momentumDamp)·grad. Result: [u, the buffer if created here else null]. */
  momentumDirection(param: H, buffer: H | null, momentum: number, momentumDamp: number): [H, H | null];
  /** The step Adam would take at lr = 1 (m̂ / (√v̂ + eps)), updating the moments. Result: [u, expAvg?, expAvgSq?] (new handles when created here, else null). */
  adamDirection(param: H, expAvg: H | null, expAvgSq: H | null, options: AdamDirectionOptions): [H, H | null, H | null];
  /** param ← param − lr·u. */
  applyUpdate(param: H, u: H, lr: number): void;
  /** Whether sgdStep with these arguments would leave the parameter and its buffer finite; writes nothing. */
  sgdStepStaysFinite(param: H, buffer: H | null, options: SgdStepOptions): boolean;
  /** Whether adamStep with these arguments would leave the parameter and its moments finite; writes nothing. */
  adamStepStaysFinite(param: H, expAvg: H | null, expAvgSq: H | null, options: AdamStepOptions): boolean;
  /** Whether momentumDirection with these arguments would leave the buffer finite (the gradient checked finite first); writes nothing. */
  momentumDirectionStaysFinite(param: H, buffer: H | null, momentum: number, momentumDamp: number): boolean;
  /** Whether adamDirection with these arguments would leave the moments and the direction finite; writes nothing. */
  adamDirectionStaysFinite(param: H, expAvg: H | null, expAvgSq: H | null, options: AdamDirectionOptions): boolean;
  /** Whether param − lr·u is finite; writes nothing. */
  updateStaysFinite(param: H, u: H, lr: number): boolean;
  /** Whether every value of every tensor is finite (native/core/finite.cpp; on a GPU, one wait per device). */
  allFinite(tensors: H[]): boolean;
  // --- several processes (native/addon/distributed_api.cpp → native/distributed/process_group.h) ---
  // One c10d process group per process. Collectives start on the JS thread in call order (every rank must
  // make the same calls in the same order). Failures are Errors naming this rank, the operation and the cause
  // ("Connection reset by peer", a timeout); after one the group is broken and every call throws at once.
  /** Async: joins the group (rank 0 hosts the TCP store), resolving once every rank has joined. Throws at once:
   *  TypeError/RangeError for a missing, mistyped or out-of-range key, Error when a group exists or is being
   *  made; rejects: RangeError (rank ≥ worldSize...), Error (rendezvous failed or timed out, no Gloo in this build). */
  distributedInit(options: DistributedInitOptions): Promise<void>;
  /** Sync: the group's state (nulls before init), `broken` (the first failure's message) and which backends this build has. Never throws. */
  distributedState(): {
    initialized: boolean;
    rank: number | null;
    worldSize: number | null;
    backend: string | null;
    broken: string | null;
    glooAvailable: boolean;
    ncclAvailable: boolean;
  };
  /** Async: in-place allreduce of the tensors (same dtype and device; one flattened collective), op 'sum' | 'mean' | 'max' | 'min'
   *  (mean: the sum divided by worldSize). Throws at once: TypeError (mixed dtypes, 'mean' on integers), RangeError (op), Error (no group, broken group);
   *  rejects: Error (a peer failed or timed out). */
  distributedAllReduce(tensors: H[], op: string): Promise<void>;
  /** Sync, blocking the JS thread until done: as distributedAllReduce (the optimizers' synchronous step()). */
  distributedAllReduceSync(tensors: H[], op: string): void;
  /** Async: rank src's values into every rank's tensors, in place (one flattened collective). RangeError: src outside [0, worldSize). */
  distributedBroadcast(tensors: H[], src: number): Promise<void>;
  /** Sync, blocking: as distributedBroadcast (the optimizers' constructors). */
  distributedBroadcastSync(tensors: H[], src: number): void;
  /** Async: every rank's tensor stacked in rank order, a new tensor [worldSize, ...shape] (same shape and dtype on every rank). */
  distributedAllGather(t: H): Promise<H>;
  /** Async: resolves once every rank has entered it. */
  distributedBarrier(): Promise<void>;
  /** Async: forgets the group at once (also a broken one) and frees it, joining its threads, off the JS thread. Resolves also without a group. */
  distributedDestroy(): Promise<void>;
}

export interface NativeNesterovResult {
  found: boolean;
  /** η, in H's dtype; null when no solution was found. */
  lrs: H | null;
  /** ‖Dη‖ at the solution. */
  r: number | null;
  /** Relative residual of η = (H̄ + ½λ‖Dη‖D²)⁻¹ḡ. */
  residual?: number;
  /** |‖Dη‖ − r| / max(r, 1) at the returned point (≤ 1e-12 when found); absent from ridgeLrs' answer. */
  gap?: number;
  /** Why no solution was found. */
  reason?: string;
  /** Start of the search: 0 when H̄ ≻ 0, else where H̄ + ½λrD² stops being singular. */
  r0: number;
  /** The interval Brent's method searched. */
  bracket: [number, number];
  /** 'newton' (λ = 0), 'positive-definite', 'indefinite', 'hard-case' or 'ridge'; null if no search started. */
  branch: string | null;
  /** Some d_s ≈ 0 (below 1e-6·max d): those subsets were eliminated exactly first. */
  dSingular: boolean;
  iterations: number;
}

const packageRoot = path.join(__dirname, '..', '..');
let addon: NativeAddon | undefined;

/** @internal The addon, loaded on first call. */
export function native(): NativeAddon {
  return (addon ??= load());
}

function load(): NativeAddon {
  const requireHere = createRequire(__filename);
  const nodeGypBuild = requireHere('node-gyp-build') as (dir: string) => unknown;
  checkEnvironment();
  let loaded: NativeAddon;
  try {
    loaded = nodeGypBuild(packageRoot) as NativeAddon;
  } catch (err) {
    throw new Error(explainLoadFailure(err as Error), { cause: err });
  }
  // The tensors of handles V8 collected are freed by a sweep, which runs as new handles are made: a program that
  // has gone idle makes none, so one runs every second too (unref'd: it never keeps the process alive).
  setInterval(() => loaded.sweep(), 1000).unref();
  return loaded;
}

/** @internal Turns the loader's message into what went wrong and the command that fixes it. */
export function explainLoadFailure(err: Error): string {
  const message = String(err?.message ?? err);
  const missingLib = /(lib(?:torch\w*|c10\w*)\.so[.\d]*): cannot open shared object file/.exec(message);
  if (missingLib) {
    const version = /\.so\.(\d+\.\d+)/.exec(missingLib[1])?.[1];
    return (
      `grnewt: the native addon needs libtorch${version ? ` ${version}` : ''}, but ${missingLib[1]} was not found.\n` +
      `  Debian 12 / Ubuntu: sudo apt-get install libtorch${version ?? '-dev'}\n` +
      `  another libtorch: rebuild grnewt from source against it (README, "Building from source"),\n` +
      `  with LIBTORCH_DIR=/path/to/libtorch.\n  (loader said: ${message})`
    );
  }
  if (/undefined symbol/.test(message)) {
    return (
      `grnewt: the native addon and the libtorch found at run time do not match (${message}).\n` +
      `  The prebuilt addon is built against Debian's libtorch 1.13: install it (sudo apt-get install libtorch1.13),\n` +
      `  or rebuild grnewt from source against your libtorch (README, "Building from source").`
    );
  }
  if (/No native build was found/.test(message)) {
    return (
      `grnewt: no native addon for ${process.platform}-${process.arch} (prebuilt binaries cover linux-x64, glibc).\n` +
      `  Build it from source: npm run build (needs cmake, a C++17 compiler and libtorch; README, "Building from source").\n` +
      `  (loader said: ${message})`
    );
  }
  return `grnewt: the native addon failed to load: ${message}`;
}
