// The Tensor class: a JS owner of one native tensor handle, with the differentiable ops as methods.
// Arguments are checked here, with messages that name the op, the argument and the value, before any
// native call; the native layer re-checks and turns libtorch's own errors into JS errors.
import { native, type NativeTensor } from './native';
import { MAX_OP_INT, checkBoolean, checkInteger, checkNumber, checkOptions, checkPair, formatShape, normalizeDim, show } from './validate';

export type Dtype = 'float32' | 'float64' | 'int64';
export type DeviceName = 'cpu' | 'cuda' | `cuda:${number}`;
export type TypedData = Float32Array | Float64Array | BigInt64Array;

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}
export interface MaxPool2dOptions {
  /** Defaults to the kernel size, as in torch. */
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  ceilMode?: boolean;
}

/** `Symbol.dispose` where the runtime has it (Node ≥ 20.4), else the symbol TypeScript's `using` looks up. */
export const disposeSymbol: typeof Symbol.dispose = Symbol.dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose);

type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow';
type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'tanh' | 'relu' | 'sigmoid';

export class Tensor {
  #handle: NativeTensor;
  #disposed = false;
  #shape: number[] | undefined; // shape, dtype and device never change for a handle: cache them
  #dtype: Dtype | undefined;
  #device: string | undefined;

  /** @internal Tensors are made by `grnewt.tensor`, `zeros`, `ones`, `randn` and by ops. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    scopes.at(-1)?.push(this);
  }

  /** @internal The live native handle; `where` names the caller in the error for a disposed tensor. */
  handle(where: string): NativeTensor {
    if (this.#disposed) throw new Error(`${where}: the tensor has been disposed`);
    return this.#handle;
  }

  /** @internal Checks that `value` is a live Tensor and returns its handle. */
  static handleOf(where: string, name: string, value: unknown): NativeTensor {
    if (!(value instanceof Tensor)) throw new TypeError(`${where}: ${name} must be a Tensor, got ${show(value)}`);
    return value.handle(where);
  }

  get shape(): number[] {
    return [...this.#dims()];
  }
  get ndim(): number {
    return this.#dims().length;
  }
  get numel(): number {
    return this.#dims().reduce((a, b) => a * b, 1);
  }
  get dtype(): Dtype {
    return (this.#dtype ??= native().dtype(this.handle('dtype')) as Dtype);
  }
  get device(): string {
    return (this.#device ??= native().device(this.handle('device')));
  }
  get requiresGrad(): boolean {
    return native().requiresGrad(this.handle('requiresGrad'));
  }
  /** Only leaf tensors of a floating dtype can be made to require grad. */
  set requiresGrad(value: boolean) {
    checkBoolean('requiresGrad', 'value', value);
    if (!this.isLeaf) throw new Error('requiresGrad: only leaf tensors (not computed from a tensor that requires grad) can change it; use detach()');
    if (value && this.dtype === 'int64') throw new TypeError('requiresGrad: only float32/float64 tensors can require grad, this one is int64');
    native().setRequiresGrad(this.handle('requiresGrad'), value);
  }
  /** Whether this tensor is a leaf of the graph (made by the user, or not computed from a tensor requiring grad). */
  get isLeaf(): boolean {
    return native().isLeaf(this.handle('isLeaf'));
  }
  /** The accumulated gradient of a leaf after `backward()`, or null. A new handle on each access. */
  get grad(): Tensor | null {
    const g = native().grad(this.handle('grad'));
    return g === null ? null : new Tensor(g);
  }
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Row-major copy of the values: Float32Array, Float64Array or BigInt64Array by dtype. */
  toArray(): TypedData {
    return native().toArray(this.handle('toArray'));
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new RangeError(`item: the tensor must hold exactly one value, its shape is ${formatShape(this.#dims())}`);
    return native().item(this.handle('item'));
  }
  /** Accumulates the gradient of this scalar into every leaf that requires grad. */
  backward(options?: { retainGraph?: boolean }): void {
    const o = checkOptions('backward', options);
    const retainGraph = o.retainGraph === undefined ? false : checkBoolean('backward', 'retainGraph', o.retainGraph);
    if (this.numel !== 1) throw new RangeError(`backward: the tensor must be a scalar (one value), its shape is ${formatShape(this.#dims())}`);
    if (!this.requiresGrad) throw new TypeError('backward: the tensor has no graph (nothing it was computed from requires grad)');
    native().backward(this.handle('backward'), retainGraph);
  }
  /** A tensor sharing this one's values, cut from the graph. */
  detach(): Tensor {
    return new Tensor(native().detach(this.handle('detach')));
  }
  /** A copy converted to another dtype and/or device (a new handle on the same data when nothing changes). */
  to(options: { dtype?: Dtype; device?: DeviceName }): Tensor {
    const o = checkOptions('to', options);
    if (o.dtype !== undefined) checkDtype('to', o.dtype);
    if (o.device !== undefined) checkDevice('to', o.device);
    return new Tensor(native().to(this.handle('to'), o.dtype as string | undefined, o.device as string | undefined));
  }
  /** A copy with its own storage, cut from the graph. */
  clone(): Tensor {
    return new Tensor(native().clone(this.handle('clone')));
  }
  /** Frees this handle's reference to native memory now; later use is an error. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    native().dispose(this.#handle);
  }
  [disposeSymbol](): void {
    this.dispose();
  }
  toString(): string {
    return this.#disposed ? 'Tensor(disposed)' : `Tensor(shape=${formatShape(this.#dims())}, dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- elementwise -------------------------------------------------------------------------------
  add(other: Tensor | number): Tensor { return binary('add', this, other); }
  sub(other: Tensor | number): Tensor { return binary('sub', this, other); }
  mul(other: Tensor | number): Tensor { return binary('mul', this, other); }
  div(other: Tensor | number): Tensor { return binary('div', this, other); }
  pow(exponent: Tensor | number): Tensor { return binary('pow', this, exponent); }
  neg(): Tensor { return unary('neg', this); }
  exp(): Tensor { return unary('exp', this); }
  log(): Tensor { return unary('log', this); }
  sqrt(): Tensor { return unary('sqrt', this); }
  abs(): Tensor { return unary('abs', this); }
  tanh(): Tensor { return unary('tanh', this); }
  relu(): Tensor { return unary('relu', this); }
  sigmoid(): Tensor { return unary('sigmoid', this); }
  elu(alpha = 1): Tensor {
    checkNumber('elu', 'alpha', alpha);
    this.#requireFloating('elu');
    return new Tensor(native().elu(this.handle('elu'), alpha));
  }

  /** max(x, min) elementwise (its gradient is 0 where x < min). */
  clampMin(min: number): Tensor {
    checkNumber('clampMin', 'min', min);
    return new Tensor(native().clampMin(this.handle('clampMin'), min));
  }

  // ---- linear algebra and reductions -------------------------------------------------------------
  matmul(other: Tensor): Tensor {
    const hb = Tensor.handleOf('matmul', 'other', other);
    const a = this.#dims(), b = other.#dims();
    if (a.length === 0 || b.length === 0) throw new RangeError(`matmul: both operands need at least one dimension, got ${formatShape(a)} @ ${formatShape(b)}`);
    const inner = b.length === 1 ? b[0] : b[b.length - 2];
    if (a[a.length - 1] !== inner) {
      throw new RangeError(`matmul: inner dimensions differ: ${formatShape(a)} @ ${formatShape(b)} (${a[a.length - 1]} vs ${inner})`);
    }
    if (a.length > 2 || b.length > 2) broadcastShapes('matmul', a.slice(0, -2), b.slice(0, -2), a, b);
    sameDtype('matmul', this, other);
    sameDevice('matmul', this, other);
    return new Tensor(native().matmul(this.handle('matmul'), hb));
  }
  /** Sum over `dim` (a dim or a list of dims; all when omitted). */
  sum(dim?: number | number[], keepDim = false): Tensor {
    return this.#reduce('sum', dim, keepDim);
  }
  /** Mean over `dim` (a dim or a list of dims; all when omitted). */
  mean(dim?: number | number[], keepDim = false): Tensor {
    this.#requireFloating('mean');
    return this.#reduce('mean', dim, keepDim);
  }

  // ---- shape ---------------------------------------------------------------------------------------
  /** A tensor with the same values in `shape`; one size may be -1 (inferred). */
  reshape(shape: number[]): Tensor {
    if (!Array.isArray(shape)) throw new TypeError(`reshape: shape must be an array of sizes, got ${show(shape)}`);
    shape.forEach((d, i) => checkInteger('reshape', `shape[${i}]`, d, -1));
    const inferred = shape.filter((d) => d === -1).length;
    if (inferred > 1) throw new RangeError(`reshape: at most one size may be -1, got ${formatShape(shape)}`);
    const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
    const fits = inferred ? known > 0 && this.numel % known === 0 : known === this.numel;
    if (!fits) throw new RangeError(`reshape: cannot view a tensor of shape ${formatShape(this.#dims())} (${this.numel} elements) as ${formatShape(shape)}`);
    return new Tensor(native().reshape(this.handle('reshape'), shape));
  }
  transpose(dim0: number, dim1: number): Tensor {
    const rank = this.ndim;
    const d0 = normalizeDim('transpose', 'dim0', dim0, rank), d1 = normalizeDim('transpose', 'dim1', dim1, rank);
    return new Tensor(native().transpose(this.handle('transpose'), d0, d1));
  }

  // ---- classification ------------------------------------------------------------------------------
  logSoftmax(dim: number): Tensor {
    this.#requireFloating('logSoftmax');
    return new Tensor(native().logSoftmax(this.handle('logSoftmax'), normalizeDim('logSoftmax', 'dim', dim, this.ndim)));
  }
  softmax(dim: number): Tensor {
    this.#requireFloating('softmax');
    return new Tensor(native().softmax(this.handle('softmax'), normalizeDim('softmax', 'dim', dim, this.ndim)));
  }
  /** out[i][j] = this[i][index[i][j]] for dim = 1 (and likewise for other dims), as torch.gather. */
  gather(dim: number, index: Tensor): Tensor {
    const hi = Tensor.handleOf('gather', 'index', index);
    const d = normalizeDim('gather', 'dim', dim, this.ndim);
    if (index.dtype !== 'int64') throw new TypeError(`gather: index must be an int64 tensor, got ${index.dtype}`);
    const x = this.#dims(), ix = index.#dims();
    if (ix.length !== x.length) throw new RangeError(`gather: index must have the input's rank ${x.length}, got shape ${formatShape(ix)}`);
    ix.forEach((size, k) => {
      if (k !== d && size > x[k]) throw new RangeError(`gather: index shape ${formatShape(ix)} exceeds input shape ${formatShape(x)} at dim ${k}`);
    });
    sameDevice('gather', this, index);
    return new Tensor(native().gather(this.handle('gather'), d, hi));
  }

  /** The slices of this tensor at `index` (int64, 1-D) along `dim`. */
  indexSelect(dim: number, index: Tensor): Tensor {
    const hi = Tensor.handleOf('indexSelect', 'index', index);
    const d = normalizeDim('indexSelect', 'dim', dim, this.ndim);
    if (index.dtype !== 'int64' || index.ndim !== 1) throw new TypeError(`indexSelect: index must be a 1-D int64 tensor, got ${index.dtype} ${formatShape(index.dims())}`);
    return new Tensor(native().indexSelect(this.handle('indexSelect'), d, hi));
  }
  /** Pads the last dimensions with `value`; `pads` = [lastLow, lastHigh, previousLow, previousHigh, …] as torch. */
  pad(pads: number[], value = 0): Tensor {
    if (!Array.isArray(pads) || pads.length % 2 !== 0 || pads.length / 2 > this.ndim) {
      throw new TypeError(`pad: pads must be an array of pairs, at most one per dimension, got ${show(pads)}`);
    }
    pads.forEach((p, i) => checkInteger('pad', `pads[${i}]`, p, 0, MAX_OP_INT));
    checkNumber('pad', 'value', value);
    return new Tensor(native().pad(this.handle('pad'), pads, value));
  }
  /** Index of the largest value along `dim` (int64). */
  argmax(dim: number): Tensor {
    return new Tensor(native().argmax(this.handle('argmax'), normalizeDim('argmax', 'dim', dim, this.ndim)));
  }

  // ---- convolutional layers ------------------------------------------------------------------------
  /** 2-D convolution of this [N,C,H,W] (or [C,H,W]) input with weight [O, C/groups, kh, kw]. */
  conv2d(weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor {
    const where = 'conv2d';
    const hw = Tensor.handleOf(where, 'weight', weight);
    const hb = bias === undefined || bias === null ? null : Tensor.handleOf(where, 'bias', bias);
    const o = checkOptions(where, options);
    const stride = checkPair(where, 'stride', o.stride ?? 1, 1);
    const padding = checkPair(where, 'padding', o.padding ?? 0, 0);
    const dilation = checkPair(where, 'dilation', o.dilation ?? 1, 1);
    const groups = checkInteger(where, 'groups', o.groups ?? 1, 1, MAX_OP_INT);
    const x = this.#dims(), w = weight.#dims();
    if (x.length !== 3 && x.length !== 4) throw new RangeError(`${where}: input must be [N,C,H,W] or [C,H,W], got ${formatShape(x)}`);
    if (w.length !== 4) throw new RangeError(`${where}: weight must be [out, in/groups, kh, kw], got ${formatShape(w)}`);
    const channels = x[x.length - 3];
    if (channels !== w[1] * groups) {
      throw new RangeError(`${where}: input has ${channels} channels but weight ${formatShape(w)} with groups=${groups} expects ${w[1] * groups}`);
    }
    if (w[0] % groups !== 0) throw new RangeError(`${where}: out channels ${w[0]} must be divisible by groups=${groups}`);
    if (bias && (bias.ndim !== 1 || bias.#dims()[0] !== w[0])) {
      throw new RangeError(`${where}: bias must have shape [${w[0]}], got ${formatShape(bias.#dims())}`);
    }
    checkWindowFits(where, x, [w[2], w[3]], stride, padding, dilation);
    sameDtype(where, this, weight);
    sameDevice(where, this, weight);
    if (bias) sameDtype(where, this, bias);
    return new Tensor(native().conv2d(this.handle(where), hw, hb, stride, padding, dilation, groups));
  }
  /** 2-D max pooling of this [N,C,H,W] (or [C,H,W]) input. */
  maxPool2d(kernelSize: number | [number, number], options?: MaxPool2dOptions): Tensor {
    const where = 'maxPool2d';
    const kernel = checkPair(where, 'kernelSize', kernelSize, 1);
    const o = checkOptions(where, options);
    const stride = o.stride === undefined ? kernel : checkPair(where, 'stride', o.stride, 1);
    const padding = checkPair(where, 'padding', o.padding ?? 0, 0);
    const dilation = checkPair(where, 'dilation', o.dilation ?? 1, 1);
    const ceilMode = o.ceilMode === undefined ? false : checkBoolean(where, 'ceilMode', o.ceilMode);
    const x = this.#dims();
    if (x.length !== 3 && x.length !== 4) throw new RangeError(`${where}: input must be [N,C,H,W] or [C,H,W], got ${formatShape(x)}`);
    if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1]) {
      throw new RangeError(`${where}: padding ${formatShape(padding)} must be at most half the kernel size ${formatShape(kernel)}`);
    }
    this.#requireFloating(where);
    checkWindowFits(where, x, kernel, stride, padding, dilation);
    return new Tensor(native().maxPool2d(this.handle(where), kernel, stride, padding, dilation, ceilMode));
  }

  /**
   * @internal Replaces this tensor's values in place, outside autograd, keeping its identity (modules,
   * optimizers and partitions holding it see the change). With `sameShape`, values are copied into the
   * existing storage (dtype converted); without, shape, dtype and device follow `src`.
   */
  assign(src: Tensor, sameShape: boolean): void {
    native().assign(this.handle('assign'), src.handle('assign'), sameShape);
    this.#shape = this.#dtype = this.#device = undefined;
  }
  /** @internal Drops the accumulated gradient of a leaf. */
  clearGrad(): void {
    native().clearGrad(this.handle('zeroGrad'));
  }

  /** @internal The cached shape itself (callers must not modify it). */
  dims(): readonly number[] {
    return this.#dims();
  }
  #dims(): number[] {
    return (this.#shape ??= native().shape(this.handle('shape')));
  }
  #requireFloating(where: string): void {
    if (this.dtype === 'int64') throw new TypeError(`${where}: needs a float32 or float64 tensor, got int64`);
  }
  #reduce(where: 'sum' | 'mean', dim: number | number[] | undefined, keepDim: boolean): Tensor {
    checkBoolean(where, 'keepDim', keepDim);
    let dims: number[] | null = null;
    if (dim !== undefined) {
      const list = Array.isArray(dim) ? dim : [dim];
      dims = list.map((d, i) => normalizeDim(where, Array.isArray(dim) ? `dim[${i}]` : 'dim', d, this.ndim));
      if (new Set(dims).size !== dims.length) throw new RangeError(`${where}: dim lists a dimension twice: ${show(dim)}`);
    }
    return new Tensor(native()[where](this.handle(where), dims, keepDim));
  }
}

// ---- scopes ------------------------------------------------------------------------------------------
// Tensors left to the garbage collector are freed late, and a loop that makes many of them pays for fresh
// memory each time (measured here: ~10× slower for 64 KiB results). `tidy` frees a block's temporaries
// as soon as the block ends.
const scopes: Tensor[][] = [];

/**
 * Runs `fn` and then disposes every tensor created during it, except the tensors it returns (a Tensor, or
 * an array or plain object of them, one level deep) and those passed to `keep`. Scopes nest: what a
 * nested scope returns belongs to the enclosing one.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: fn must be a function, got ${show(fn)}`);
  const scope: Tensor[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    release(scope, new Set());
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) throw new TypeError('tidy: fn must be synchronous (it returned a Promise)');
  release(scope, new Set(returnedTensors(result)));
  return result;
}

/** Disposes a closed scope's tensors, handing the returned ones to the enclosing scope. */
function release(scope: Tensor[], returned: Set<Tensor>): void {
  const parent = scopes.at(-1);
  for (const t of scope) {
    if (returned.has(t)) parent?.push(t);
    else if (!keptForever.has(t)) t.dispose();
  }
}

const keptForever = new WeakSet<Tensor>();

/** Exempts `t` from disposal by the enclosing `tidy` scopes (e.g. new parameters made inside a step). */
export function keep<T extends Tensor>(t: T): T {
  Tensor.handleOf('keep', 't', t);
  keptForever.add(t);
  return t;
}

function returnedTensors(result: unknown): Tensor[] {
  if (result instanceof Tensor) return [result];
  if (Array.isArray(result)) return result.filter((x): x is Tensor => x instanceof Tensor);
  if (result !== null && typeof result === 'object' && Object.getPrototypeOf(result) === Object.prototype) {
    return Object.values(result).filter((x): x is Tensor => x instanceof Tensor);
  }
  return [];
}

export function checkDtype(where: string, dtype: unknown): Dtype {
  if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'int64') {
    throw new TypeError(`${where}: dtype must be 'float32', 'float64' or 'int64', got ${show(dtype)}`);
  }
  return dtype;
}

export function checkDevice(where: string, device: unknown): string {
  if (typeof device !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(device)) {
    throw new TypeError(`${where}: device must be 'cpu' or 'cuda', got ${show(device)}`);
  }
  if (device !== 'cpu' && !native().cudaAvailable()) {
    throw new TypeError(`${where}: device ${show(device)} asked for, but this build of grnewt has no CUDA (cuda.isAvailable() is false)`);
  }
  return device;
}

/** @internal The op named `op` applied to tensors and/or numbers (at least one tensor). */
export function binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
  const ha = a instanceof Tensor ? a.handle(op) : checkOperand(op, 'a', a);
  const hb = b instanceof Tensor ? b.handle(op) : checkOperand(op, 'b', b);
  if (a instanceof Tensor && b instanceof Tensor) {
    const da = a.dims(), db = b.dims();
    if (!sameShape(da, db)) broadcastShapes(op, da, db);
    sameDevice(op, a, b);
  } else if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new TypeError(`${op}: at least one operand must be a Tensor, got ${show(a)} and ${show(b)}`);
  }
  return new Tensor(native()[op](ha, hb));
}

/** @internal */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  return new Tensor(native()[op](Tensor.handleOf(op, 'input', x)));
}

function checkOperand(op: string, name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${op}: ${name} must be a Tensor or a number, got ${show(value)}`);
  return value;
}

/** The broadcast of two shapes, as numpy/torch define it; RangeError naming both operands if none. */
function broadcastShapes(where: string, a: readonly number[], b: readonly number[], fullA = a, fullB = b): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${where}: shapes ${formatShape(fullA)} and ${formatShape(fullB)} are not broadcastable`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function sameDtype(where: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new TypeError(`${where}: operands must have the same dtype, got ${a.dtype} and ${b.dtype}`);
}

function sameDevice(where: string, a: Tensor, b: Tensor): void {
  if (a.device !== b.device) throw new TypeError(`${where}: operands are on different devices (${a.device} and ${b.device})`);
}

/** The sliding window (kernel, dilated, over the padded input) must fit at least once. */
function checkWindowFits(where: string, x: number[], kernel: number[], stride: number[], padding: number[], dilation: number[]): void {
  for (let k = 0; k < 2; k++) {
    const size = x[x.length - 2 + k] + 2 * padding[k];
    const span = dilation[k] * (kernel[k] - 1) + 1;
    if (span > size) {
      throw new RangeError(`${where}: kernel ${formatShape(kernel)} (dilation ${formatShape(dilation)}) is larger than the padded input ${formatShape(x.slice(-2).map((s, i) => s + 2 * padding[i]))}`);
    }
  }
}
