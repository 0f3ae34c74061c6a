// The Tensor class: a JS owner of one native tensor handle, with the differentiable ops as methods.
// Arguments are checked here, with messages that name the op, the argument and the value, before any
// native call; the native layer re-checks and turns libtorch's own errors into JS errors.
import { native, type NativeTensor } from './native';
import { assertFree } from './pending_holds';
import { formatValues, nestedList, summaryShape, type NestedList } from './tensor_format';
import {
  MAX_OP_INT,
  checkBoolean,
  checkEach,
  checkInteger,
  checkNumber,
  checkOptions,
  checkPair,
  formatShape,
  normalizeDim,
  show,
} from './validate';

export type Dtype = 'float32' | 'float64' | 'int64';
export type DeviceName = 'cpu' | 'cuda' | `cuda:${number}`;
export type TypedData = Float32Array | Float64Array | BigInt64Array;
/** The typed array `toArray()` returns for a dtype (the union of them when the dtype is not known statically). */
export type ArrayOf<D extends Dtype> = D extends 'float32' ? Float32Array : D extends 'float64' ? Float64Array : BigInt64Array;
/** One element of a tensor of dtype D in JS: a number, or a bigint for int64. */
export type ValueOf<D extends Dtype> = D extends 'int64' ? bigint : number;
/** What an op that keeps floating dtypes returns: Tensor<'float32'> or Tensor<'float64'>, else any dtype. */
export type FloatResult<D extends Dtype> = [D] extends ['float32']
  ? Tensor<'float32'>
  : [D] extends ['float64']
    ? Tensor<'float64'>
    : Tensor;
/** `toJSON()`'s form: int64 values as numbers, or strings beyond ±2^53 where a number would lose digits. */
export interface TensorJSON {
  dtype: Dtype;
  shape: number[];
  device: string;
  data: NestedList<number | string>;
}
export type { NestedList } from './tensor_format';

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

/**
 * A tensor of dtype D ('float32', 'float64' or 'int64'; any of them when not known statically). D follows
 * the data where the result's dtype is certain (creation with a dtype or typed array, `to({ dtype })`,
 * shape ops, float ops on float tensors), so that `toArray()` returns the matching typed array.
 */
export class Tensor<D extends Dtype = Dtype> {
  #handle: NativeTensor;
  #freedBy: 'dispose' | 'tidy' | null = null;
  #shape: number[] | undefined; // shape, dtype and device never change for a handle: cache them
  #dtype: Dtype | undefined;
  #device: string | undefined;

  /** Tensors are made by `grnewt.tensor`, `zeros`, `ones`, `randn` and by ops (the handle is opaque). */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    scopes.at(-1)?.push(this);
  }

  /**
   * @internal The live native handle; `where` names the caller in the error for a disposed tensor, and `name`
   * the argument it was given as (an optimizer's disposed parameter was only 'grad: the tensor has been disposed').
   */
  handle(where: string, name = 'the tensor'): NativeTensor {
    if (this.#freedBy === 'dispose') {
      throw new Error(
        `${where}: ${name} has been disposed: its dispose() freed it. Call dispose() after its last use, or keep a copy with clone() first`,
      );
    }
    if (this.#freedBy === 'tidy') {
      throw new Error(
        `${where}: ${name} has been disposed: it was made inside a tidy() scope, which freed it when the scope ended. ` +
          'To use it afterwards, return it from the function given to tidy(), or pass it to grnewt.keep()',
      );
    }
    return this.#handle;
  }

  /** @internal Checks that `value` is a live Tensor and returns its handle. */
  static handleOf(where: string, name: string, value: unknown): NativeTensor {
    if (!(value instanceof Tensor)) throw new TypeError(`${where}: ${name} must be a Tensor, got ${show(value)}`);
    return value.handle(where, name);
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
  get dtype(): D {
    return (this.#dtype ??= native().dtype(this.handle('dtype')) as Dtype) as D;
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
    if (!this.isLeaf)
      throw new Error('requiresGrad: only leaf tensors (not computed from a tensor that requires grad) can change it; use detach()');
    if (value && this.dtype === 'int64')
      throw new TypeError('requiresGrad: only float32/float64 tensors can require grad, this one is int64');
    // A worker thread differentiating with respect to it would read the flag as it changes (and fail).
    assertFree('requiresGrad', [this]);
    native().setRequiresGrad(this.handle('requiresGrad'), value);
  }
  /** Whether this tensor is a leaf of the graph (made by the user, or not computed from a tensor requiring grad). */
  get isLeaf(): boolean {
    return native().isLeaf(this.handle('isLeaf'));
  }
  /** The accumulated gradient of a leaf after `backward()`, or null. A new handle on each access. */
  get grad(): Tensor<D> | null {
    const g = native().grad(this.handle('grad'));
    return g === null ? null : new Tensor<D>(g);
  }
  get isDisposed(): boolean {
    return this.#freedBy !== null;
  }

  /** Row-major copy of the values: Float32Array, Float64Array or BigInt64Array by dtype. */
  toArray(): ArrayOf<D> {
    return native().toArray(this.handle('toArray')) as ArrayOf<D>;
  }
  /** The values as nested JS arrays (numbers; bigints for int64), as torch's `tolist()`; a 0-d tensor gives its value. */
  tolist(): NestedList<ValueOf<D>> {
    return nestedList(this.toArray() as unknown as ArrayLike<ValueOf<D>>, this.#dims());
  }
  /**
   * `{ dtype, shape, device, data }` with `data` the nested values, for `JSON.stringify`. int64 values are
   * numbers, or strings beyond ±2^53 where a number would lose digits (JSON has no bigints).
   */
  toJSON(): TensorJSON | { disposed: true } {
    if (this.isDisposed) return { disposed: true };
    const values = this.toArray();
    const data =
      values instanceof BigInt64Array
        ? Array.from(values, (v) => (v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : String(v)))
        : Array.from(values);
    return { dtype: this.dtype, shape: this.shape, device: this.device, data: nestedList(data, this.#dims()) };
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new RangeError(`item: the tensor must hold exactly one value, its shape is ${formatShape(this.#dims())}`);
    return native().item(this.handle('item'));
  }
  /** Accumulates the gradient of this scalar into every leaf that requires grad. */
  backward(options?: { retainGraph?: boolean }): void {
    const o = checkOptions('backward', options, ['retainGraph']);
    const retainGraph = o.retainGraph === undefined ? false : checkBoolean('backward', 'retainGraph', o.retainGraph);
    if (this.numel !== 1)
      throw new RangeError(`backward: the tensor must be a scalar (one value), its shape is ${formatShape(this.#dims())}`);
    if (!this.requiresGrad) {
      throw new TypeError(
        'backward: the tensor has no graph (nothing it was computed from requires grad): make the leaves with { requiresGrad: true }, and do not compute it inside noGrad()',
      );
    }
    native().backward(this.handle('backward'), retainGraph);
  }
  /** A tensor sharing this one's values, cut from the graph. */
  detach(): Tensor<D> {
    return new Tensor(native().detach(this.handle('detach')));
  }
  /** A copy converted to another dtype and/or device (a new handle on the same data when nothing changes). */
  to<E extends Dtype = D>(options: { dtype?: E; device?: DeviceName }): Tensor<E> {
    const o = checkOptions('to', options, ['dtype', 'device']);
    if (o.dtype !== undefined) checkDtype('to', o.dtype);
    if (o.device !== undefined) checkDevice('to', o.device);
    return new Tensor(native().to(this.handle('to'), o.dtype as string | undefined, o.device as string | undefined));
  }
  /** A copy with its own storage, cut from the graph. */
  clone(): Tensor<D> {
    return new Tensor(native().clone(this.handle('clone')));
  }
  /** Frees this handle's reference to native memory now; later use is an error. Idempotent. */
  dispose(): void {
    this.#free('dispose');
  }
  /** @internal Frees the tensor as its tidy() scope ends (later use says so). */
  freeByScope(): void {
    this.#free('tidy');
  }
  #free(by: 'dispose' | 'tidy'): void {
    if (this.#freedBy !== null) return;
    this.#freedBy = by;
    native().dispose(this.#handle);
  }
  [disposeSymbol](): void {
    this.dispose();
  }
  /**
   * The values, dtype, shape and device, as torch prints them: `tensor([[1., 2.], [3., 4.]], dtype=float32,
   * shape=[2, 2], device=cpu)`, with tensors of more than 1000 elements summarised by their first and last
   * 3 entries along each long dimension.
   */
  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    const dims = this.#dims();
    const shown = summaryShape(dims);
    const values = formatValues(this.#shownValues(dims, shown), shown, 'tensor('.length, dims);
    const grad = this.requiresGrad ? ', requiresGrad=true' : '';
    return `tensor(${values}, dtype=${this.dtype}, shape=[${this.#dims().join(', ')}], device=${this.device}${grad})`;
  }
  /** The values a printout shows (summaryShape's): each long dimension's first and last entries, gathered here. */
  #shownValues(dims: number[], shown: number[]): Float32Array | Float64Array | BigInt64Array {
    if (shown.every((size, k) => size === dims[k])) return this.toArray();
    let part: Tensor = this;
    const made: Tensor[] = [];
    try {
      dims.forEach((size, k) => {
        if (shown[k] === size) return;
        const half = shown[k] / 2;
        const index = new Tensor(
          native().fromData(
            Float64Array.from({ length: shown[k] }, (_, i) => (i < half ? i : size - shown[k] + i)),
            [shown[k]],
            'int64',
            this.device,
            false,
          ),
        );
        made.push(index);
        part = part.indexSelect(k, index);
        made.push(part);
      });
      return part.toArray();
    } finally {
      for (const t of made) t.dispose();
    }
  }
  /** What console.log and util.inspect show: the same as toString(). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- elementwise -------------------------------------------------------------------------------
  add(other: Tensor<D> | number): FloatResult<D>;
  add(other: Tensor | number): Tensor;
  add(other: Tensor | number): Tensor {
    return binary('add', this, other);
  }
  sub(other: Tensor<D> | number): FloatResult<D>;
  sub(other: Tensor | number): Tensor;
  sub(other: Tensor | number): Tensor {
    return binary('sub', this, other);
  }
  mul(other: Tensor<D> | number): FloatResult<D>;
  mul(other: Tensor | number): Tensor;
  mul(other: Tensor | number): Tensor {
    return binary('mul', this, other);
  }
  div(other: Tensor<D> | number): FloatResult<D>;
  div(other: Tensor | number): Tensor;
  div(other: Tensor | number): Tensor {
    return binary('div', this, other);
  }
  pow(exponent: Tensor<D> | number): FloatResult<D>;
  pow(exponent: Tensor | number): Tensor;
  pow(exponent: Tensor | number): Tensor {
    return binary('pow', this, exponent);
  }
  neg(): FloatResult<D> {
    return unary('neg', this) as FloatResult<D>;
  }
  exp(): FloatResult<D> {
    return unary('exp', this) as FloatResult<D>;
  }
  log(): FloatResult<D> {
    return unary('log', this) as FloatResult<D>;
  }
  sqrt(): FloatResult<D> {
    return unary('sqrt', this) as FloatResult<D>;
  }
  abs(): FloatResult<D> {
    return unary('abs', this) as FloatResult<D>;
  }
  tanh(): FloatResult<D> {
    return unary('tanh', this) as FloatResult<D>;
  }
  relu(): FloatResult<D> {
    return unary('relu', this) as FloatResult<D>;
  }
  sigmoid(): FloatResult<D> {
    return unary('sigmoid', this) as FloatResult<D>;
  }
  elu(alpha = 1): FloatResult<D> {
    checkNumber('elu', 'alpha', alpha);
    this.#requireFloating('elu');
    return new Tensor(native().elu(this.handle('elu'), alpha)) as FloatResult<D>;
  }

  /** max(x, min) elementwise (its gradient is 0 where x < min). */
  clampMin(min: number): FloatResult<D> {
    checkNumber('clampMin', 'min', min);
    return new Tensor(native().clampMin(this.handle('clampMin'), min)) as FloatResult<D>;
  }

  // ---- linear algebra and reductions -------------------------------------------------------------
  matmul(other: Tensor<D>): Tensor<D>;
  matmul(other: Tensor): Tensor;
  matmul(other: Tensor): Tensor {
    const hb = Tensor.handleOf('matmul', 'other', other);
    const a = this.#dims(),
      b = other.#dims();
    if (a.length === 0 || b.length === 0)
      throw new RangeError(`matmul: both operands need at least one dimension, got ${formatShape(a)} @ ${formatShape(b)}`);
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
  sum(dim?: number | number[], keepDim = false): Tensor<D> {
    return this.#reduce('sum', dim, keepDim);
  }
  /** Mean over `dim` (a dim or a list of dims; all when omitted). */
  mean(dim?: number | number[], keepDim = false): Tensor<D> {
    this.#requireFloating('mean');
    return this.#reduce('mean', dim, keepDim);
  }

  /** Largest values over `dim` (a dim or a list of dims; all when omitted), as torch.amax: argmax gives where. */
  max(dim?: number | number[], keepDim = false): Tensor<D> {
    return this.#reduce('amax', dim, keepDim, 'max');
  }
  /** Smallest values over `dim` (a dim or a list of dims; all when omitted), as torch.amin. */
  min(dim?: number | number[], keepDim = false): Tensor<D> {
    return this.#reduce('amin', dim, keepDim, 'min');
  }

  // ---- shape ---------------------------------------------------------------------------------------
  /** A tensor with the same values in `shape`; one size may be -1 (inferred). */
  reshape(shape: number[]): Tensor<D> {
    if (!Array.isArray(shape)) throw new TypeError(`reshape: shape must be an array of sizes, got ${show(shape)}`);
    checkEach(shape, (d, i) => checkInteger('reshape', `shape[${i}]`, d, -1));
    const inferred = shape.filter((d) => d === -1).length;
    if (inferred > 1) throw new RangeError(`reshape: at most one size may be -1, got ${formatShape(shape)}`);
    const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
    const fits = inferred ? known > 0 && this.numel % known === 0 : known === this.numel;
    if (!fits)
      throw new RangeError(
        `reshape: cannot view a tensor of shape ${formatShape(this.#dims())} (${this.numel} elements) as ${formatShape(shape)}`,
      );
    return new Tensor(native().reshape(this.handle('reshape'), shape));
  }
  /** A dimension of size 1 inserted at `dim` (−ndim−1 … ndim), as torch.unsqueeze. */
  unsqueeze(dim: number): Tensor<D> {
    const dims = this.#dims();
    const d = normalizeDim('unsqueeze', 'dim', dim, dims.length + 1);
    return new Tensor(native().reshape(this.handle('unsqueeze'), [...dims.slice(0, d), 1, ...dims.slice(d)]));
  }
  /** Without the dimensions of size 1 (all of them, or `dim` if its size is 1), as torch.squeeze. */
  squeeze(dim?: number): Tensor<D> {
    const dims = this.#dims();
    const d = dim === undefined ? undefined : normalizeDim('squeeze', 'dim', dim, dims.length);
    const kept = dims.filter((n, i) => n !== 1 || (d !== undefined && i !== d));
    return new Tensor(native().reshape(this.handle('squeeze'), kept));
  }
  /** Dimensions startDim … endDim merged into one (by default all: a 1-D tensor), as torch.flatten. */
  flatten(startDim = 0, endDim = -1): Tensor<D> {
    const dims = this.#dims();
    const [a, b] = [normalizeDim('flatten', 'startDim', startDim, dims.length), normalizeDim('flatten', 'endDim', endDim, dims.length)];
    if (a > b) throw new RangeError(`flatten: startDim (${startDim}) comes after endDim (${endDim})`);
    const merged = dims.slice(a, b + 1).reduce((p, n) => p * n, 1);
    return new Tensor(
      native().reshape(this.handle('flatten'), dims.length === 0 ? [1] : [...dims.slice(0, a), merged, ...dims.slice(b + 1)]),
    );
  }
  /** The dimensions in the order `dims` (a permutation of 0 … ndim−1, negatives counted from the end), as torch.permute: a view. */
  permute(dims: number[]): Tensor<D> {
    const rank = this.ndim;
    if (!Array.isArray(dims) || dims.length !== rank)
      throw new TypeError(`permute: dims must list each of the ${rank} dimensions once, got ${show(dims)}`);
    const wanted = checkEach(dims, (d, i) => normalizeDim('permute', `dims[${i}]`, d, rank));
    if (new Set(wanted).size !== rank) throw new RangeError(`permute: dims must list each dimension once, got ${show(dims)}`);
    return new Tensor(native().permute(this.handle('permute'), wanted));
  }
  /** `length` entries of `dim` from `start` (negative: from the end), as torch.narrow: a view. */
  narrow(dim: number, start: number, length: number): Tensor<D> {
    const dims = this.#dims();
    const d = normalizeDim('narrow', 'dim', dim, dims.length);
    const size = dims[d] ?? 1;
    checkInteger('narrow', 'start', start, -size, Math.max(size - 1, 0));
    const from = start < 0 ? start + size : start;
    checkInteger('narrow', 'length', length, 0, size - from);
    return new Tensor(native().narrow(this.handle('narrow'), d, from, length));
  }
  transpose(dim0: number, dim1: number): Tensor<D> {
    const rank = this.ndim;
    const d0 = normalizeDim('transpose', 'dim0', dim0, rank),
      d1 = normalizeDim('transpose', 'dim1', dim1, rank);
    return new Tensor(native().transpose(this.handle('transpose'), d0, d1));
  }

  // ---- classification ------------------------------------------------------------------------------
  logSoftmax(dim: number): Tensor<D> {
    this.#requireFloating('logSoftmax');
    return new Tensor(native().logSoftmax(this.handle('logSoftmax'), normalizeDim('logSoftmax', 'dim', dim, this.ndim)));
  }
  softmax(dim: number): Tensor<D> {
    this.#requireFloating('softmax');
    return new Tensor(native().softmax(this.handle('softmax'), normalizeDim('softmax', 'dim', dim, this.ndim)));
  }
  /** out[i][j] = this[i][index[i][j]] for dim = 1 (and likewise for other dims), as torch.gather. */
  gather(dim: number, index: Tensor): Tensor<D> {
    const hi = Tensor.handleOf('gather', 'index', index);
    const d = normalizeDim('gather', 'dim', dim, this.ndim);
    if (index.dtype !== 'int64')
      throw new TypeError(
        `gather: index must be an int64 tensor, got ${index.dtype}; make it with { dtype: 'int64' } or convert it with index.to({ dtype: 'int64' })`,
      );
    const x = this.#dims(),
      ix = index.#dims();
    if (ix.length !== x.length) throw new RangeError(`gather: index must have the input's rank ${x.length}, got shape ${formatShape(ix)}`);
    ix.forEach((size, k) => {
      if (k !== d && size > x[k])
        throw new RangeError(`gather: index shape ${formatShape(ix)} exceeds input shape ${formatShape(x)} at dim ${k}`);
    });
    sameDevice('gather', this, index);
    return new Tensor(withIndexInRange('gather', index, x[d] ?? 1, () => native().gather(this.handle('gather'), d, hi)));
  }

  /** The slices of this tensor at `index` (int64, 1-D) along `dim`. */
  indexSelect(dim: number, index: Tensor): Tensor<D> {
    const hi = Tensor.handleOf('indexSelect', 'index', index);
    const d = normalizeDim('indexSelect', 'dim', dim, this.ndim);
    if (index.dtype !== 'int64' || index.ndim !== 1)
      throw new TypeError(`indexSelect: index must be a 1-D int64 tensor, got ${index.dtype} ${formatShape(index.dims())}`);
    return new Tensor(
      withIndexInRange('indexSelect', index, this.#dims()[d] ?? 1, () => native().indexSelect(this.handle('indexSelect'), d, hi)),
    );
  }
  /** Pads the last dimensions with `value`; `pads` = [lastLow, lastHigh, previousLow, previousHigh, …] as torch. */
  pad(pads: number[], value = 0): Tensor<D> {
    if (!Array.isArray(pads) || pads.length % 2 !== 0 || pads.length / 2 > this.ndim) {
      throw new TypeError(`pad: pads must be an array of pairs, at most one per dimension, got ${show(pads)}`);
    }
    checkEach(pads, (p, i) => checkInteger('pad', `pads[${i}]`, p, 0, MAX_OP_INT));
    checkNumber('pad', 'value', value);
    return new Tensor(native().pad(this.handle('pad'), pads, value));
  }
  /** Index of the largest value along `dim` (int64; the first one on ties). */
  argmax(dim: number): Tensor<'int64'> {
    const d = normalizeDim('argmax', 'dim', dim, this.ndim);
    if ((this.#dims()[d] ?? 1) === 0) throw new RangeError(`argmax: dim ${d} has size 0 (no maximum), shape ${formatShape(this.#dims())}`);
    return new Tensor(native().argmax(this.handle('argmax'), d));
  }
  /**
   * 1 where this tensor equals `other` (a tensor, broadcasting, or a number), 0 elsewhere, as float32:
   * grnewt has no bool dtype, and the mean of the result is the fraction of equal entries. Not differentiable.
   */
  eq(other: Tensor | number): Tensor<'float32'> {
    if (other instanceof Tensor) {
      const ho = other.handle('eq');
      const da = this.#dims(),
        db = other.#dims();
      if (!sameShape(da, db)) broadcastShapes('eq', da, db);
      sameDevice('eq', this, other);
      return new Tensor(native().eq(this.handle('eq'), ho));
    }
    return new Tensor(native().eq(this.handle('eq'), checkOperand('eq', 'other', other)));
  }

  // ---- convolutional layers ------------------------------------------------------------------------
  /** 2-D convolution of this [N,C,H,W] (or [C,H,W]) input with weight [O, C/groups, kh, kw]. */
  conv2d(weight: Tensor<D>, bias?: Tensor<D> | null, options?: Conv2dOptions): Tensor<D>;
  conv2d(weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor;
  conv2d(weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor {
    const where = 'conv2d';
    const hw = Tensor.handleOf(where, 'weight', weight);
    const hb = bias === undefined || bias === null ? null : Tensor.handleOf(where, 'bias', bias);
    const o = checkOptions(where, options, ['stride', 'padding', 'dilation', 'groups']);
    const stride = checkPair(where, 'stride', o.stride ?? 1, 1);
    const padding = checkPair(where, 'padding', o.padding ?? 0, 0);
    const dilation = checkPair(where, 'dilation', o.dilation ?? 1, 1);
    const groups = checkInteger(where, 'groups', o.groups ?? 1, 1, MAX_OP_INT);
    const x = this.#dims(),
      w = weight.#dims();
    if (x.length !== 3 && x.length !== 4) throw new RangeError(`${where}: input must be [N,C,H,W] or [C,H,W], got ${formatShape(x)}`);
    if (w.length !== 4) throw new RangeError(`${where}: weight must be [out, in/groups, kh, kw], got ${formatShape(w)}`);
    const channels = x[x.length - 3];
    if (channels !== w[1] * groups) {
      throw new RangeError(
        `${where}: input has ${channels} channels but weight ${formatShape(w)} with groups=${groups} expects ${w[1] * groups}`,
      );
    }
    if (w[0] % groups !== 0) throw new RangeError(`${where}: out channels ${w[0]} must be divisible by groups=${groups}`);
    if (bias && (bias.ndim !== 1 || bias.#dims()[0] !== w[0])) {
      throw new RangeError(`${where}: bias must have shape [${w[0]}], got ${formatShape(bias.#dims())}`);
    }
    checkWindowFits(where, x, [w[2], w[3]], padding, dilation);
    sameDtype(where, this, weight);
    sameDevice(where, this, weight);
    if (bias) sameDtype(where, this, bias);
    return new Tensor(native().conv2d(this.handle(where), hw, hb, stride, padding, dilation, groups));
  }
  /** 2-D max pooling of this [N,C,H,W] (or [C,H,W]) input. */
  maxPool2d(kernelSize: number | [number, number], options?: MaxPool2dOptions): Tensor<D> {
    const where = 'maxPool2d';
    const kernel = checkPair(where, 'kernelSize', kernelSize, 1);
    const o = checkOptions(where, options, ['stride', 'padding', 'dilation', 'ceilMode']);
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
    checkWindowFits(where, x, kernel, padding, dilation);
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
    if (this.dtype === 'int64')
      throw new TypeError(`${where}: needs a float32 or float64 tensor, got int64; convert it with .to({ dtype: 'float32' })`);
  }
  #reduce(op: 'sum' | 'mean' | 'amax' | 'amin', dim: number | number[] | undefined, keepDim: boolean, where: string = op): Tensor<D> {
    checkBoolean(where, 'keepDim', keepDim);
    if ((op === 'amax' || op === 'amin') && this.numel === 0) throw new RangeError(`${where}: the tensor is empty (no ${where}imum)`);
    let dims: number[] | null = null;
    if (dim !== undefined) {
      const list = Array.isArray(dim) ? dim : [dim];
      dims = checkEach(list, (d, i) => normalizeDim(where, Array.isArray(dim) ? `dim[${i}]` : 'dim', d, this.ndim));
      if (new Set(dims).size !== dims.length) throw new RangeError(`${where}: dim lists a dimension twice: ${show(dim)}`);
    }
    return new Tensor(native()[op](this.handle(where), dims, keepDim));
  }
}

/**
 * run(), an op indexing a dim of `size` by `index`, with an index out of range named: libtorch's own error names
 * no op, and on a GPU a bad index asserts in the kernel, so there it is checked first; on the CPU only once
 * libtorch has refused it (no read of the index on the way that succeeds, which is every call of nll).
 */
function withIndexInRange<T>(where: string, index: Tensor, size: number, run: () => T): T {
  if (index.device !== 'cpu') indexInRange(where, index, size);
  try {
    return run();
  } catch (err) {
    indexInRange(where, index, size);
    throw err;
  }
}

function indexInRange(where: string, index: Tensor, size: number): void {
  if (index.numel === 0) return;
  const [lo, hi] = minMax(index);
  if (lo < 0 || hi >= size)
    throw new RangeError(`${where}: index holds ${lo < 0 ? lo : hi}, outside 0..${size - 1} (the size of the indexed dim)`);
}

/** @internal The smallest and largest values of a non-empty tensor, read back together. */
export function minMax(t: Tensor): [number, number] {
  return tidy(() => {
    const [lo, hi] = Array.from(stack([t.min(), t.max()]).toArray(), Number);
    return [lo, hi];
  });
}

/** The tensors joined along `dim` (equal sizes but along dim; one dtype and device), as torch.cat. */
export function cat<D extends Dtype>(tensors: Tensor<D>[], dim = 0): Tensor<D> {
  const shapes = joined('cat', tensors);
  const rank = shapes[0].length;
  if (rank === 0) throw new RangeError('cat: zero-dimensional tensors cannot be joined (stack them)');
  const d = normalizeDim('cat', 'dim', dim, rank);
  shapes.forEach((s, k) => {
    if (s.length !== rank || s.some((n, i) => i !== d && n !== shapes[0][i]))
      throw new RangeError(
        `cat: tensors[${k}] is ${formatShape(s)}, tensors[0] ${formatShape(shapes[0])}: sizes must match but along dim ${d}`,
      );
  });
  return new Tensor(native().cat(handles('cat', tensors), d));
}

/** The tensors (one shape, dtype and device) stacked along a new dimension `dim`, as torch.stack. */
export function stack<D extends Dtype>(tensors: Tensor<D>[], dim = 0): Tensor<D> {
  const shapes = joined('stack', tensors);
  shapes.forEach((s, k) => {
    if (!sameShape(s, shapes[0]))
      throw new RangeError(`stack: tensors[${k}] is ${formatShape(s)}, tensors[0] ${formatShape(shapes[0])}: they must have one shape`);
  });
  return new Tensor(native().stack(handles('stack', tensors), normalizeDim('stack', 'dim', dim, shapes[0].length + 1)));
}

/** The shapes of a non-empty array of tensors of one dtype and device. */
function joined(where: string, tensors: unknown): number[][] {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new TypeError(`${where}: tensors must be a non-empty array of Tensors, got ${show(tensors)}`);
  checkEach(tensors, (t, k) => Tensor.handleOf(where, `tensors[${k}]`, t));
  const [first] = tensors as Tensor[];
  (tensors as Tensor[]).forEach((t, k) => {
    if (t.dtype !== first.dtype || t.device !== first.device)
      throw new TypeError(
        `${where}: tensors[${k}] is ${t.dtype} on ${t.device}, tensors[0] ${first.dtype} on ${first.device}: convert it with .to()`,
      );
  });
  return (tensors as Tensor[]).map((t) => t.shape);
}

function handles(where: string, tensors: Tensor[]) {
  return tensors.map((t) => t.handle(where));
}

// ---- scopes ------------------------------------------------------------------------------------------
// Tensors left to the garbage collector are freed late, and a loop that makes many of them pays for fresh
// memory each time (measured here: ~10× slower for 64 KiB results). `tidy` frees a block's temporaries
// as soon as the block ends.
const scopes: Tensor[][] = [];

/**
 * Runs `fn` and then disposes every tensor created during it, except the tensors it returns (a Tensor, or
 * arrays and plain objects holding them, at any depth) and those passed to `keep`. Scopes nest: what a
 * nested scope returns belongs to the enclosing one.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: fn must be a function, got ${show(fn)}`);
  if (fn.constructor.name === 'AsyncFunction') throw asyncRefused(); // refused before it starts work it could not finish
  const { result, scope } = inScope(fn);
  if (result instanceof Promise) {
    // Its work has started and cannot be stopped: its outcome is dropped with it, as the refusal says, and a
    // rejection left unhandled ended the process (computeHgAsync on NaN input). The scope is freed as usual.
    result.catch(() => undefined);
    release(scope, new Set());
    throw asyncRefused();
  }
  release(scope, new Set(returnedTensors(result)));
  return result;
}

/** fn() in a new scope, closed after it; the scope's tensors are disposed if fn throws, else the caller's. */
function inScope<T>(fn: () => T): { result: T; scope: Tensor[] } {
  const scope: Tensor[] = [];
  scopes.push(scope);
  try {
    return { result: fn(), scope };
  } catch (err) {
    release(scope, new Set());
    throw err;
  } finally {
    scopes.pop();
  }
}

function asyncRefused(): TypeError {
  return new TypeError(
    'tidy: fn must be synchronous (an async function, or one that returns a Promise, is refused); wrap each synchronous part in tidy() instead, and dispose what crosses an await yourself',
  );
}

/**
 * @internal Runs `fn` in a scope of its own for work that outlives the caller's scopes (an async step started
 * inside `tidy`): the tensors it made that `pick(result)` lists are owned by the caller from then on (no
 * enclosing scope disposes them; `made` lists them for the caller to dispose), the rest are disposed now.
 */
export function detached<T>(fn: () => T, pick: (result: T) => Tensor[]): { result: T; made: Tensor[] } {
  const { result, scope } = inScope(fn);
  const wanted = new Set(pick(result));
  const made = scope.filter((t) => wanted.has(t));
  for (const t of made) keptForever.add(t);
  for (const t of scope) if (!wanted.has(t) && !keptForever.has(t)) t.freeByScope();
  return { result, made };
}

/** Disposes a closed scope's tensors, handing the returned ones to the enclosing scope. */
function release(scope: Tensor[], returned: Set<Tensor>): void {
  const parent = scopes.at(-1);
  for (const t of scope) {
    if (returned.has(t)) parent?.push(t);
    else if (!keptForever.has(t)) t.freeByScope();
  }
}

const keptForever = new WeakSet<Tensor>();

/** Exempts `t` from disposal by the enclosing `tidy` scopes (e.g. new parameters made inside a step). */
export function keep<T extends Tensor>(t: T): T {
  Tensor.handleOf('keep', 't', t);
  keptForever.add(t);
  return t;
}

/**
 * The tensors in what a tidy() function returned, at any depth of arrays and plain objects: a result such as
 * { loss, outputs: [a, b] } or [[x, y], ...] had its inner tensors freed (only one level was searched).
 */
function returnedTensors(result: unknown, found: Tensor[] = [], seen = new Set<object>()): Tensor[] {
  if (result instanceof Tensor) found.push(result);
  else if (result !== null && typeof result === 'object' && !seen.has(result)) {
    seen.add(result); // a result that refers to itself is searched once
    if (Array.isArray(result)) for (const x of result) returnedTensors(x, found, seen);
    else if (Object.getPrototypeOf(result) === Object.prototype) for (const x of Object.values(result)) returnedTensors(x, found, seen);
  }
  return found;
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
    const da = a.dims(),
      db = b.dims();
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

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function checkOperand(op: string, name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${op}: ${name} must be a Tensor or a number, got ${show(value)}`);
  return value;
}

/** The broadcast of two shapes, as numpy/torch define it; RangeError naming both operands if none. */
function broadcastShapes(where: string, a: readonly number[], b: readonly number[], fullA = a, fullB = b): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1,
      db = b[b.length - n + i] ?? 1;
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
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `${where}: operands must have the same dtype, got ${a.dtype} and ${b.dtype}; convert one with .to({ dtype: '${b.dtype}' }) (or '${a.dtype}')`,
    );
  }
}

function sameDevice(where: string, a: Tensor, b: Tensor): void {
  if (a.device !== b.device)
    throw new TypeError(
      `${where}: operands are on different devices (${a.device} and ${b.device}); move one with .to({ device: '${b.device}' })`,
    );
}

/** The sliding window (kernel, dilated, over the padded input) must fit at least once. */
function checkWindowFits(where: string, x: number[], kernel: number[], padding: number[], dilation: number[]): void {
  for (let k = 0; k < 2; k++) {
    const size = x[x.length - 2 + k] + 2 * padding[k];
    const span = dilation[k] * (kernel[k] - 1) + 1;
    if (span > size) {
      throw new RangeError(
        `${where}: kernel ${formatShape(kernel)} (dilation ${formatShape(dilation)}) is larger than the padded input ${formatShape(x.slice(-2).map((s, i) => s + 2 * padding[i]))}`,
      );
    }
  }
}
