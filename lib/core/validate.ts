// Argument checks shared by the façade. Each error names the function, the argument and the value.

/** Short, readable rendering of a bad value for error messages. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return value.length > 8 ? `[${value.slice(0, 8).map(show).join(', ')}, …]` : `[${value.map(show).join(', ')}]`;
  if (value === null || value === undefined || typeof value !== 'object') return String(value);
  return value.constructor?.name ?? 'object';
}

/**
 * The largest value of an integer argument that reaches libtorch as an op setting (kernel size, stride,
 * padding, dilation, groups, pads): libtorch keeps several of them in 32-bit ints, and a truncated value
 * (2**32 groups become 0) can crash it. The native layer enforces the same bound.
 */
export const MAX_OP_INT = 2 ** 31 - 1;

/** The largest finite float32: real values that become float32 tensor values or scalars must stay within it. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export function checkInteger(where: string, name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number') throw new TypeError(`${where}: ${name} must be an integer, got ${show(value)}`);
  if (Number.isInteger(value) && !Number.isSafeInteger(value))
    throw new RangeError(`${where}: ${name} must be an integer a number holds exactly (|${name}| ≤ 2^53 − 1), got ${show(value)}`);
  if (!Number.isSafeInteger(value) || value < min) {
    const bound = min === -Infinity ? '' : min === 0 ? ' (≥ 0)' : ` (≥ ${min})`;
    throw new RangeError(`${where}: ${name} must be an integer${bound}, got ${show(value)}`);
  }
  if (value > max) throw new RangeError(`${where}: ${name} must be an integer ≤ ${max}, got ${show(value)}`);
  return value;
}

export function checkNumber(where: string, name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${where}: ${name} must be a number, got ${show(value)}`);
  return value;
}

export function checkBoolean(where: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${where}: ${name} must be a boolean, got ${show(value)}`);
  return value;
}

/**
 * An options object (undefined → {}). With `allowed`, a key outside it is refused with the valid ones listed:
 * a misspelt option (`dampingint`) would otherwise be ignored without a word.
 */
export function checkOptions(where: string, value: unknown, allowed?: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${where}: options must be an object, got ${show(value)}`);
  }
  if (allowed) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) throw new TypeError(`${where}: unknown option ${show(key)}; the options are ${allowed.join(', ')}`);
    }
  }
  return value as Record<string, unknown>;
}

/**
 * `check` run on every element of the array `value`, holes included (as undefined), and its results: forEach,
 * map, some and every skip the holes of a sparse array ([a, , b]), so a check made with them let a hole through.
 */
export function checkEach<E, T>(value: readonly E[], check: (element: E, index: number) => T): T[] {
  return Array.from(value, check); // a hole arrives as undefined, whatever E says
}

export function checkShape(where: string, name: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw new TypeError(`${where}: ${name} must be an array of sizes, got ${show(value)}`);
  return checkEach(value, (d, i) => checkInteger(where, `${name}[${i}]`, d, 0));
}

/** A dimension index in [-rank, rank), returned non-negative. */
export function normalizeDim(where: string, name: string, dim: unknown, rank: number): number {
  checkInteger(where, name, dim);
  const d = dim as number;
  const lo = -Math.max(rank, 1),
    hi = Math.max(rank, 1) - 1;
  if (d < lo || d > hi)
    throw new RangeError(`${where}: ${name} = ${d} is out of range for a tensor of rank ${rank} (expected ${lo}..${hi})`);
  return d < 0 ? d + Math.max(rank, 1) : d;
}

/** An int or a pair of ints (as torch's `_pair`), each in min..MAX_OP_INT: an op setting for libtorch. */
export function checkPair(where: string, name: string, value: unknown, min: number): [number, number] {
  if (typeof value === 'number') {
    checkInteger(where, name, value, min, MAX_OP_INT);
    return [value, value];
  }
  if (!Array.isArray(value) || value.length !== 2) {
    throw new TypeError(`${where}: ${name} must be an integer or a pair of integers, got ${show(value)}`);
  }
  return [checkInteger(where, `${name}[0]`, value[0], min, MAX_OP_INT), checkInteger(where, `${name}[1]`, value[1], min, MAX_OP_INT)];
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * f(), the TypeError or RangeError it throws (synchronously or as its Promise's rejection) prefixed with the
 * call's name when the native side or the allocator did not say it: `where: their message`.
 */
export function named<T>(where: string, f: () => T): T {
  const prefixed = (err: unknown) => {
    if ((err instanceof TypeError || err instanceof RangeError) && !err.message.startsWith(`${where}:`))
      return new (err.constructor as ErrorConstructor)(`${where}: ${err.message}`);
    return err;
  };
  try {
    const result = f();
    if (result instanceof Promise) return result.catch((err) => Promise.reject(prefixed(err))) as T;
    return result;
  } catch (err) {
    throw prefixed(err);
  }
}
