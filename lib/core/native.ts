// The one place that touches the compiled addon. It is loaded on first use (libtorch pulls in hundreds of
// shared libraries, ~0.5–1 s), once per thread, and a failure to load says why and what to do.
import { createRequire } from 'node:module';
import * as path from 'node:path';

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
export interface TaylorProfile { layers: number; allocation: number; bias: number; elementwise: number; pool: number; loss: number; total: number; peakRows: number }

/** @internal The addon's exports, as lib/ calls them. */
export interface NativeAddon {
  fromData(data: Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array, shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  zeros(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  ones(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  randn(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  rand(shape: number[], dtype: string, device: string, requiresGrad: boolean): H;
  shape(t: H): number[];
  dtype(t: H): string;
  device(t: H): string;
  requiresGrad(t: H): boolean;
  isLeaf(t: H): boolean;
  setRequiresGrad(t: H, value: boolean): void;
  grad(t: H): H | null;
  clearGrad(t: H): void;
  assign(dst: H, src: H, sameShape: boolean): void;
  toArray(t: H): Float32Array | Float64Array | BigInt64Array;
  item(t: H): number;
  backward(t: H, retainGraph: boolean): void;
  detach(t: H): H;
  to(t: H, dtype: Maybe<string>, device: Maybe<string>): H;
  clone(t: H): H;
  asStrided(base: H, sizes: number[], strides: number[], offset: number): H;
  dispose(t: H): void;
  memory(): { liveTensors: number; bytes: number; allocator: { enabled: boolean; inUseBytes: number; peakBytes: number; cachedBytes: number; cachedBlocks: number; limitBytes: number; hits: number; misses: number } };
  emptyCache(): void;
  resetPeakMemory(): void;
  setCacheLimit(bytes: number): void;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  numThreads(): number;
  setGradEnabled(enabled: boolean): void;
  gradEnabled(): boolean;
  cudaAvailable(): boolean;
  torchVersion(): string;
  benchAddLoop(iterations: number): number;

  neg(x: H): H; exp(x: H): H; log(x: H): H; sqrt(x: H): H; abs(x: H): H;
  tanh(x: H): H; relu(x: H): H; sigmoid(x: H): H;
  add(a: Operand, b: Operand): H; sub(a: Operand, b: Operand): H; mul(a: Operand, b: Operand): H;
  div(a: Operand, b: Operand): H; pow(a: Operand, b: Operand): H;
  elu(x: H, alpha: number): H;
  clampMin(x: H, min: number): H;
  matmul(a: H, b: H): H;
  sum(x: H, dims: number[] | null, keepDim: boolean): H;
  mean(x: H, dims: number[] | null, keepDim: boolean): H;
  reshape(x: H, shape: number[]): H;
  transpose(x: H, dim0: number, dim1: number): H;
  logSoftmax(x: H, dim: number): H;
  softmax(x: H, dim: number): H;
  gather(x: H, dim: number, index: H): H;
  indexSelect(x: H, dim: number, index: H): H;
  argmax(x: H, dim: number): H;
  eq(a: H, b: Operand): H;
  pad(x: H, pads: number[], value: number): H;
  conv2d(x: H, weight: H, bias: H | null, stride: number[], padding: number[], dilation: number[], groups: number): H;
  computeHg(loss: H, params: H[][], direction: H[][], noregul: boolean, diagonal: boolean): { H: H; g: H; order3: H };
  computeHgAsync(loss: H, params: H[][], direction: H[][], noregul: boolean, diagonal: boolean): Promise<{ H: H; g: H; order3: H }>;
  diffN(loss: H, params: H[][], direction: H[][], order: number): H;
  taylorHg(steps: TaylorStep[], loss: string, x: H, target: H, groups: number, noregul: boolean, diagonal: boolean): { H: H; g: H; order3: H; loss: H };
  taylorHgProfile(steps: TaylorStep[], loss: string, x: H, target: H, groups: number, noregul: boolean, diagonal: boolean): { H: H; g: H; order3: H; loss: H; profile: TaylorProfile };
  taylorHgAsync(steps: TaylorStep[], loss: string, x: H, target: H, groups: number, noregul: boolean, diagonal: boolean): Promise<{ H: H; g: H; order3: H; loss: H }>;
  gradients(loss: H, params: H[]): H[];
  nesterovLrs(H: H, g: H, d: H, dampingInt: number): NativeNesterovResult;
  ridgeLrs(H: H, g: H, ridge: number): NativeNesterovResult;
  sgdStep(param: H, buffer: H | null, lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean): H | null;
  adamStep(param: H, expAvg: H | null, expAvgSq: H | null, step: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): [H | null, H | null];
  momentumDirection(param: H, buffer: H | null, momentum: number, momentumDamp: number): [H, H | null];
  adamDirection(param: H, expAvg: H | null, expAvgSq: H | null, step: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): [H, H | null, H | null];
  applyUpdate(param: H, u: H, lr: number): void;
  allFinite(tensors: H[]): boolean;
  maxPool2d(x: H, kernelSize: number[], stride: number[], padding: number[], dilation: number[], ceilMode: boolean): H;

  // --- several processes (native/addon/distributed_api.cpp, native/distributed/process_group.h) ---
  // One c10d process group per process. Errors are plain Errors naming this rank, the operation and the cause
  // ("Connection closed by peer", a timeout); after one the group is broken and every call throws at once.
  /** Async: joins the group (rank 0 hosts the TCP store); every field required, integers range-checked.
   *  Rejects: RangeError for a bad field, Error when already initialised or the rendezvous failed / timed out. */
  distributedInit(options: { backend: string; rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number; localRank: number }): Promise<void>;
  /** Sync: the group's state (nulls before init) and which backends this build has. Never throws. */
  distributedState(): { initialized: boolean; rank: number | null; worldSize: number | null; backend: string | null; broken: string | null; glooAvailable: boolean; ncclAvailable: boolean };
  /** Async: in-place allreduce of the tensors (same dtype and device; one flattened collective), op 'sum' | 'mean' | 'max' | 'min'.
   *  Throws at once: TypeError (mixed dtypes, 'mean' on integers), RangeError (op), Error (no group); rejects: Error (peer failure). */
  distributedAllReduce(tensors: H[], op: string): Promise<void>;
  /** Sync (blocks the JS thread until done): as distributedAllReduce, for the optimizers' synchronous step(). */
  distributedAllReduceSync(tensors: H[], op: string): void;
  /** Async: rank src's values into every rank's tensors, in place (one flattened collective). RangeError: src outside [0, worldSize). */
  distributedBroadcast(tensors: H[], src: number): Promise<void>;
  /** Sync (blocking): as distributedBroadcast, for the optimizers' constructors. */
  distributedBroadcastSync(tensors: H[], src: number): void;
  /** Async: every rank's tensor stacked in rank order, a new tensor [worldSize, ...shape]. */
  distributedAllGather(t: H): Promise<H>;
  /** Async: resolves once every rank has entered it. */
  distributedBarrier(): Promise<void>;
  /** Async: forgets the group at once, frees it (joining its threads) off the JS thread. Never rejects for lack of a group. */
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
  try {
    return nodeGypBuild(packageRoot) as NativeAddon;
  } catch (err) {
    throw new Error(explainLoadFailure(err as Error), { cause: err });
  }
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
