// One process group per process (as torch.distributed's default group), over libtorch's c10d: Gloo for CPU
// tensors, NCCL in CUDA builds. Every call returns a promise and waits off the JS thread; collectives start
// in call order, which is what keeps the ranks in step (every rank must make the same calls in the same order).
import { holding } from '../core/pending_holds';
import { native } from '../core/native';
import { zeros } from '../core/creation';
import { Tensor, type DeviceName } from '../core/tensor';
import { checkEach, checkInteger, checkOptions, show } from '../core/validate';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

export interface InitOptions {
  /** 'gloo' (CPU tensors, the default) or 'nccl' (CUDA builds of libtorch only; untested here). */
  backend?: Backend;
  /** This process's rank in [0, worldSize); default: $RANK, else 0. */
  rank?: number;
  /** The number of processes; default: $WORLD_SIZE, else 1. */
  worldSize?: number;
  /** Where rank 0 hosts the rendezvous store; default: $MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Its port; default: $MASTER_PORT, else 29500. */
  masterPort?: number;
  /**
   * How long the rendezvous and each collective may wait for the other ranks before failing (default:
   * $GRNEWT_DIST_TIMEOUT_MS, else 300000 = 5 minutes). A peer that dies is noticed at once, not after this.
   */
  timeoutMs?: number;
  /** NCCL only: the GPU of this process; default $LOCAL_RANK, else rank modulo the GPU count. */
  localRank?: number;
}

const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'mean', 'max', 'min'];
export const DEFAULT_TIMEOUT_MS = 300_000;

/** An integer from an option, else from an environment variable (named in the error), else a default. */
function fromEnv(where: string, name: string, value: unknown, variable: string, fallback: number, min: number, max: number): number {
  if (value !== undefined) return checkInteger(where, name, value, min, max);
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new RangeError(
      `${where}: ${name} from the environment (${variable}=${JSON.stringify(raw)}) must be an integer in [${min}, ${max}]`,
    );
  }
  return n;
}

/** The options init() would use: each given one checked, each missing one from torchrun's environment variables. */
export function resolveInitOptions(options?: InitOptions): Required<InitOptions> {
  const where = 'distributed.init';
  const o = checkOptions(where, options ?? {}, [
    'backend',
    'rank',
    'worldSize',
    'masterAddr',
    'masterPort',
    'timeoutMs',
    'localRank',
  ]) as InitOptions;
  const backend = o.backend ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl') throw new RangeError(`${where}: backend must be 'gloo' or 'nccl', got ${show(backend)}`);
  const worldSize = fromEnv(where, 'worldSize', o.worldSize, 'WORLD_SIZE', 1, 1, 2 ** 31 - 1);
  const rank = fromEnv(where, 'rank', o.rank, 'RANK', 0, 0, 2 ** 31 - 2);
  if (rank >= worldSize) throw new RangeError(`${where}: rank must be in [0, ${worldSize - 1}] (worldSize ${worldSize}), got ${rank}`);
  const masterAddr = o.masterAddr ?? (process.env.MASTER_ADDR || '127.0.0.1');
  if (typeof masterAddr !== 'string' || masterAddr.trim() === '')
    throw new TypeError(`${where}: masterAddr must be a host name or address, got ${show(masterAddr)}`);
  return {
    backend,
    rank,
    worldSize,
    masterAddr,
    masterPort: fromEnv(where, 'masterPort', o.masterPort, 'MASTER_PORT', 29500, 1, 65535),
    timeoutMs: fromEnv(where, 'timeoutMs', o.timeoutMs, 'GRNEWT_DIST_TIMEOUT_MS', DEFAULT_TIMEOUT_MS, 1, 2 ** 31 - 1),
    localRank: fromEnv(where, 'localRank', o.localRank, 'LOCAL_RANK', -1, -1, 2 ** 31 - 1),
  };
}

let initializing: Promise<void> | undefined;

/**
 * Joins the process group: rank 0 hosts a TCP store at masterAddr:masterPort, every rank connects to it and
 * then to every other rank. Resolves once all worldSize ranks have joined; rejects with an Error naming this
 * rank and the cause when they have not within timeoutMs (or the port is taken, the address unreachable...).
 */
export async function init(options?: InitOptions): Promise<void> {
  const o = resolveInitOptions(options);
  if (initializing) throw new Error('distributed.init: an init() is already pending; await it');
  initializing = native().distributedInit(o);
  try {
    await initializing;
  } finally {
    initializing = undefined;
  }
}

function state() {
  return native().distributedState();
}

/** Whether init() has set up a process group that destroy() has not yet left (torch.distributed.is_initialized). */
export function isInitialized(): boolean {
  return state().initialized;
}

function initialized(where: string) {
  const s = state();
  if (!s.initialized) throw new Error(`distributed.${where}: no process group; call await distributed.init() first`);
  return s;
}

/** This process's rank (Error before init()). */
export function rank(): number {
  return initialized('rank').rank!;
}

/** The number of processes in the group (Error before init()). */
export function worldSize(): number {
  return initialized('worldSize').worldSize!;
}

/** The group's backend, 'gloo' or 'nccl' (Error before init()). */
export function backend(): Backend {
  return initialized('backend').backend as Backend;
}

/** Which backends this build can use. */
export function availableBackends(): Backend[] {
  const s = state();
  return [...(s.glooAvailable ? (['gloo'] as const) : []), ...(s.ncclAvailable ? (['nccl'] as const) : [])];
}

function checkOp(where: string, op: unknown): ReduceOp {
  if (!REDUCE_OPS.includes(op as ReduceOp))
    throw new RangeError(`distributed.${where}: op must be one of ${REDUCE_OPS.join(', ')}, got ${show(op)}`);
  return op as ReduceOp;
}

function checkSrc(where: string, src: unknown): number {
  const size = worldSize();
  return checkInteger(`distributed.${where}`, 'src', src, 0, size - 1);
}

function checkTensors(where: string, value: unknown): Tensor[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new RangeError(`distributed.${where}: expected a Tensor or a non-empty array of Tensors`);
  checkEach(list, (t, i) => Tensor.handleOf(`distributed.${where}`, Array.isArray(value) ? `tensors[${i}]` : 'tensor', t));
  // One flattened collective: the native side refused a mix too, but without the call's name or the tensor's.
  const tensors = list as Tensor[];
  const other = tensors.findIndex((t) => t.dtype !== tensors[0].dtype || t.device !== tensors[0].device);
  if (other > 0)
    throw new TypeError(
      `distributed.${where}: tensors[${other}] is ${tensors[other].dtype} on ${tensors[other].device}, tensors[0] ${tensors[0].dtype} on ${tensors[0].device}: the tensors of one call must share their dtype and device`,
    );
  return tensors;
}

/**
 * Reduces `t` (or every tensor of an array, as one flattened collective) across the ranks, in place: every
 * rank ends with the same values. 'mean' is the sum divided by worldSize (floating dtypes only).
 * Resolves with `t`. While pending, an optimizer step on these tensors is refused.
 */
export async function allReduce<T extends Tensor | Tensor[]>(t: T, op: ReduceOp = 'sum'): Promise<T> {
  const where = 'allReduce';
  const tensors = checkTensors(where, t);
  checkOp(where, op);
  if (op === 'mean') {
    const integral = tensors.findIndex((x) => x.dtype === 'int64');
    if (integral >= 0) throw new TypeError(`distributed.allReduce: 'mean' needs float tensors, tensor ${integral} is int64 (use 'sum')`);
  }
  initialized(where);
  await sameLayoutEverywhere(`distributed.${where}`, tensors);
  await holding(`distributed.${where}`, tensors, () =>
    native().distributedAllReduce(
      tensors.map((x) => x.handle(where)),
      op,
    ),
  );
  return t;
}

/** Rank `src`'s values into `t` (or every tensor of an array) on every rank, in place. Resolves with `t`. */
export async function broadcast<T extends Tensor | Tensor[]>(t: T, src: number): Promise<T> {
  const where = 'broadcast';
  const tensors = checkTensors(where, t);
  initialized(where);
  checkSrc(where, src);
  await sameLayoutEverywhere(`distributed.${where}`, tensors);
  await holding(`distributed.${where}`, tensors, () =>
    native().distributedBroadcast(
      tensors.map((x) => x.handle(where)),
      src,
    ),
  );
  return t;
}

/** Every rank's `t` (same shape and dtype on every rank), stacked in rank order: shape [worldSize, ...t.shape]. */
export async function allGather(t: Tensor): Promise<Tensor> {
  const where = 'allGather';
  const [tensor] = checkTensors(where, t);
  if (Array.isArray(t)) throw new TypeError(`distributed.allGather: expected one Tensor, got an array`);
  initialized(where);
  await sameLayoutEverywhere(`distributed.${where}`, [tensor]);
  // Nothing to send (and Gloo's allgather of 0 bytes killed every rank with SIGFPE): the layout check above
  // was the collective that keeps the ranks in step.
  if (tensor.numel === 0) return zeros([worldSize(), ...tensor.shape], { dtype: tensor.dtype, device: tensor.device as DeviceName });
  return new Tensor(await native().distributedAllGather(tensor.handle(where)));
}

/** Resolves once every rank has called barrier(). */
export async function barrier(): Promise<void> {
  initialized('barrier');
  await native().distributedBarrier();
}

/**
 * Leaves the process group (also a broken one, after a peer died). Call barrier() first when the other ranks
 * still need this one. Resolves once its threads have stopped; init() may then be called again.
 */
export async function destroy(): Promise<void> {
  await native().distributedDestroy();
}

/** @internal Synchronous collectives for the optimizers' synchronous step() and constructors (they block the JS thread). */
export const blocking = {
  allReduce(where: string, tensors: Tensor[], op: ReduceOp): void {
    sameLayoutEverywhereSync(`${where}: distributed`, tensors);
    native().distributedAllReduceSync(
      tensors.map((x) => x.handle(where)),
      op,
    );
  },
  broadcast(where: string, tensors: Tensor[], src: number): void {
    sameLayoutEverywhereSync(`${where}: distributed`, tensors);
    native().distributedBroadcastSync(
      tensors.map((x) => x.handle(where)),
      src,
    );
  },
};

// Every rank must hand a collective tensors of the same dtypes and shapes: Gloo's transport aborts the process
// from its own thread (nothing can catch it) when the bytes differ, and a broadcast between layouts of one byte
// size reinterprets them. So a fingerprint of the layout goes first: one allreduce of [h, −h] under 'max' gives
// [max h, −min h], equal on every rank, and the layouts agree iff the two are opposite.

/** A 52-bit hash of the tensors' dtypes and shapes, exact in an int64 and a number. */
function layoutHash(tensors: Tensor[]): number {
  const text = tensors.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(';');
  let a = 0x811c9dc5,
    b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193);
    b = Math.imul(b ^ text.charCodeAt(i), 0x5bd1e995);
  }
  return (a >>> 0) * 2 ** 20 + ((b >>> 0) >>> 12);
}

function layoutProbe(tensors: Tensor[]): Tensor {
  const h = layoutHash(tensors);
  return new Tensor(native().fromData(new Float64Array([h, -h]), [2], 'int64', tensors[0].device, false));
}

function checkLayoutProbe(where: string, probe: Tensor, tensors: Tensor[]): void {
  const [hi, negLo] = Array.from(probe.toArray() as BigInt64Array, Number);
  probe.dispose();
  if (hi !== -negLo) {
    const mine = tensors.map((t) => `${t.dtype} [${t.shape}]`).join(', ');
    throw new RangeError(
      `${where}: the ranks' tensors differ in shape or dtype (rank ${rank()} has ${mine}): every rank must pass the same shapes and dtypes`,
    );
  }
}

async function sameLayoutEverywhere(where: string, tensors: Tensor[]): Promise<void> {
  const probe = layoutProbe(tensors);
  await native().distributedAllReduce([probe.handle(where)], 'max');
  checkLayoutProbe(where, probe, tensors);
}

function sameLayoutEverywhereSync(where: string, tensors: Tensor[]): void {
  const probe = layoutProbe(tensors);
  native().distributedAllReduceSync([probe.handle(where)], 'max');
  checkLayoutProbe(where, probe, tensors);
}
