// Making tensors: from JS numbers, nested arrays and typed arrays, or filled with a value.
import { native } from './native';
import { Tensor, checkDevice, checkDtype, type DeviceName, type Dtype } from './tensor';
import { checkBoolean, checkOptions, checkShape, formatShape, named, show } from './validate';

export type NestedArray = ReadonlyArray<number | bigint | NestedArray>;
/** Nested arrays of one kind of value (numbers, or bigints). */
export type Nested<T> = ReadonlyArray<T | Nested<T>>;
export type TensorData =
  | number
  | bigint
  | NestedArray
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface TensorOptions {
  /** For typed arrays: the shape to give the values (default: 1-D). Must hold as many elements as the data. */
  shape?: number[];
  /** Default: float32 for JS numbers and Float32Array, float64 for Float64Array, int64 for integer typed arrays and bigints. */
  dtype?: Dtype;
  device?: DeviceName;
  requiresGrad?: boolean;
}
export type CreationOptions = Omit<TensorOptions, 'shape'>;

type Source = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;

/**
 * A new tensor holding a copy of `data`. Its type follows the dtype: `{ dtype }` when given, else the
 * data's default (numbers and Float32Array → float32, Float64Array → float64, integers → int64).
 */
export function tensor<D extends Dtype>(data: TensorData, options: TensorOptions & { dtype: D }): Tensor<D>;
export function tensor(data: Float64Array, options?: TensorOptions): Tensor<'float64'>;
export function tensor(data: Int32Array | BigInt64Array | bigint | Nested<bigint>, options?: TensorOptions): Tensor<'int64'>;
export function tensor(data: number | Nested<number> | Float32Array, options?: TensorOptions): Tensor<'float32'>;
export function tensor(data: TensorData, options?: TensorOptions): Tensor;
export function tensor(data: TensorData, options?: TensorOptions): Tensor {
  const o = checkOptions('tensor', options, ['shape', 'dtype', 'device', 'requiresGrad']);
  const { source, shape: inferred, integral } = flatten(data);
  let shape = inferred;
  if (o.shape !== undefined) {
    shape = checkShape('tensor', 'shape', o.shape);
    const numel = shape.reduce((a, b) => a * b, 1);
    if (numel !== source.length)
      throw new RangeError(`tensor: shape ${formatShape(shape)} holds ${numel} elements but data has ${source.length}`);
  }
  // float64 only for a Float64Array given as such: a JS number (scalar or nested) is float32, as the types say
  const defaultDtype: Dtype = data instanceof Float64Array ? 'float64' : integral ? 'int64' : 'float32';
  const { dtype, device, requiresGrad } = creationOptions('tensor', o, defaultDtype);
  if (dtype === 'int64' && (source instanceof Float32Array || source instanceof Float64Array)) {
    const bad = source.findIndex((x) => !Number.isInteger(x));
    if (bad >= 0) throw new RangeError(`tensor: dtype int64 needs integer data, element ${bad} is ${source[bad]}`);
    // A number beyond int64 would be stored as its minimum, -2^63 (bigints beyond it are refused alike).
    const outside = source.findIndex((x) => x < -(2 ** 63) || x >= 2 ** 63);
    if (outside >= 0) throw new RangeError(`tensor: element ${outside} (${source[outside]}) does not fit int64`);
  }
  return new Tensor(named('tensor', () => native().fromData(source, shape, dtype, device, requiresGrad)));
}

export function zeros<D extends Dtype = 'float32'>(shape: number[], options?: CreationOptions & { dtype?: D }): Tensor<D> {
  return filled('zeros', shape, options) as Tensor<D>;
}
export function ones<D extends Dtype = 'float32'>(shape: number[], options?: CreationOptions & { dtype?: D }): Tensor<D> {
  return filled('ones', shape, options) as Tensor<D>;
}
/** Standard normal samples, from the generator `manualSeed` seeds. */
export function randn<D extends 'float32' | 'float64' = 'float32'>(shape: number[], options?: CreationOptions & { dtype?: D }): Tensor<D> {
  return filled('randn', shape, options) as Tensor<D>;
}

/** Uniform samples on [0, 1), from the generator `manualSeed` seeds. */
export function rand<D extends 'float32' | 'float64' = 'float32'>(shape: number[], options?: CreationOptions & { dtype?: D }): Tensor<D> {
  return filled('rand', shape, options) as Tensor<D>;
}

function filled(kind: 'zeros' | 'ones' | 'randn' | 'rand', shape: unknown, options: unknown): Tensor {
  checkShape(kind, 'shape', shape);
  const { dtype, device, requiresGrad } = creationOptions(
    kind,
    checkOptions(kind, options, ['dtype', 'device', 'requiresGrad']),
    'float32',
  );
  if ((kind === 'randn' || kind === 'rand') && dtype === 'int64')
    throw new TypeError(`${kind}: dtype must be float32 or float64, got int64`);
  return new Tensor(named(kind, () => native()[kind](shape as number[], dtype, device, requiresGrad)));
}

function creationOptions(where: string, o: Record<string, unknown>, defaultDtype: Dtype) {
  const dtype = o.dtype === undefined ? defaultDtype : checkDtype(where, o.dtype);
  const device = o.device === undefined ? 'cpu' : checkDevice(where, o.device);
  const requiresGrad = o.requiresGrad === undefined ? false : checkBoolean(where, 'requiresGrad', o.requiresGrad);
  if (requiresGrad && dtype === 'int64') throw new TypeError(`${where}: only float32/float64 tensors can require grad, dtype is int64`);
  return { dtype, device, requiresGrad };
}

/** Data → one flat typed array, its shape, and whether it is integral (int64 by default). */
function flatten(data: unknown): { source: Source; shape: number[]; integral: boolean } {
  if (data instanceof Float32Array || data instanceof Float64Array) return { source: data, shape: [data.length], integral: false };
  if (
    data instanceof Int32Array ||
    data instanceof BigInt64Array ||
    data instanceof Int16Array ||
    data instanceof Int8Array ||
    data instanceof Uint8Array
  ) {
    return { source: data, shape: [data.length], integral: true };
  }
  if (typeof data === 'number') return { source: Float64Array.of(data), shape: [], integral: false };
  if (typeof data === 'bigint') return { source: BigInt64Array.of(checkInt64('data', data)), shape: [], integral: true };
  if (!Array.isArray(data)) {
    throw new TypeError(`tensor: data must be a number, a nested array of numbers or a typed array, got ${show(data)}`);
  }
  const shape: number[] = [];
  let numel = 1;
  for (let level: unknown = data; Array.isArray(level); level = level[0]) {
    const length: number = level.length; // read once: a Proxy may answer differently each time
    if (!Number.isSafeInteger(length) || length < 0)
      throw new TypeError(`tensor: data${'[0]'.repeat(shape.length)} reports an invalid length ${show(length)}`);
    shape.push(length);
    numel *= length;
    // Checked before anything is allocated or visited: a Proxy can claim any length.
    if (numel > MAX_NESTED_ELEMENTS)
      throw new RangeError(
        `tensor: nested arrays of more than ${MAX_NESTED_ELEMENTS} elements (shape [${shape.join(',')}, …]); pass a typed array instead`,
      );
    if (length === 0) break;
    if (!(0 in level))
      throw new TypeError(`tensor: data has a hole at ${'[0]'.repeat(shape.length)} (arrays with holes are refused, not compacted)`);
  }
  const leaves: unknown[] = [];
  collect(data, 0, shape, '', leaves);
  const integral = leaves.length > 0 && typeof leaves[0] === 'bigint';
  const source = integral ? new BigInt64Array(numel) : new Float64Array(numel);
  leaves.forEach((x, i) => {
    if (integral !== (typeof x === 'bigint')) throw new TypeError(`tensor: data mixes numbers and bigints (element ${i})`);
    source[i] = integral ? checkInt64(`element ${i}`, x as bigint) : (x as never);
  });
  return { source, shape, integral };
}

/** Nested JS arrays hold at most this many numbers (~1 GiB of JS values already); more come as typed arrays. */
const MAX_NESTED_ELEMENTS = 2 ** 27;
const INT64_MIN = -(2n ** 63n),
  INT64_MAX = 2n ** 63n - 1n;

/** A bigint that fits int64 (a BigInt64Array would silently wrap it modulo 2**64). */
function checkInt64(what: string, x: bigint): bigint {
  if (x < INT64_MIN || x > INT64_MAX) throw new RangeError(`tensor: ${what} = ${x}n does not fit int64 (−2**63 … 2**63 − 1)`);
  return x;
}

function collect(level: unknown, depth: number, shape: number[], path: string, out: unknown[]): void {
  if (depth === shape.length) {
    if (typeof level !== 'number' && typeof level !== 'bigint') {
      throw new TypeError(`tensor: data${path} must be a number, got ${show(level)}`);
    }
    out.push(level);
    return;
  }
  if (!Array.isArray(level) || level.length !== shape[depth]) {
    throw new RangeError(`tensor: data is ragged: data${path} should be an array of ${shape[depth]} elements, got ${show(level)}`);
  }
  // An index loop, not forEach: forEach skips holes, which compacted [1, , 3] into [1, 3, 0].
  for (let i = 0; i < shape[depth]; i++) {
    if (!(i in level)) throw new TypeError(`tensor: data${path}[${i}] is a hole (arrays with holes are refused, not compacted)`);
    collect(level[i], depth + 1, shape, `${path}[${i}]`, out);
  }
}
