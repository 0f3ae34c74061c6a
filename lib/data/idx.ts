// The IDX format of MNIST-like datasets, plain or gzip-compressed: a magic number (0, 0, type, rank), the
// sizes as big-endian uint32, then the values, big-endian.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { tensor } from '../creation';
import type { Dtype, Tensor } from '../tensor';
import { checkOptions, show } from '../validate';

export interface IdxContents {
  shape: number[];
  /** The values, in the file's own type. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { name: string; bytes: number; read: (view: DataView, offset: number) => number; array: new (n: number) => IdxContents['data'] }> = {
  0x08: { name: 'uint8', bytes: 1, read: (v, o) => v.getUint8(o), array: Uint8Array },
  0x09: { name: 'int8', bytes: 1, read: (v, o) => v.getInt8(o), array: Int8Array },
  0x0b: { name: 'int16', bytes: 2, read: (v, o) => v.getInt16(o), array: Int16Array },
  0x0c: { name: 'int32', bytes: 4, read: (v, o) => v.getInt32(o), array: Int32Array },
  0x0d: { name: 'float32', bytes: 4, read: (v, o) => v.getFloat32(o), array: Float32Array },
  0x0e: { name: 'float64', bytes: 8, read: (v, o) => v.getFloat64(o), array: Float64Array },
};

/** Parses an IDX file's bytes (gunzipping them first when they start with gzip's magic). */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxContents {
  let raw = bytes;
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = zlib.gunzipSync(raw);
    } catch (err) {
      throw new Error(`readIdx: ${name} is not a valid gzip file (${(err as Error).message})`);
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0 || !(raw[2] in TYPES)) {
    throw new Error(`readIdx: ${name} is not an IDX file (bad magic number)`);
  }
  const type = TYPES[raw[2]], rank = raw[3];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (raw.length < 4 + 4 * rank) throw new Error(`readIdx: ${name} is truncated (its header needs ${4 + 4 * rank} bytes, it has ${raw.length})`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank, expected = start + count * type.bytes;
  if (raw.length < expected) throw new Error(`readIdx: ${name} is truncated: ${shape.join('×')} ${type.name} values need ${expected} bytes, it has ${raw.length}`);
  if (raw.length > expected) throw new Error(`readIdx: ${name} has ${raw.length - expected} bytes beyond its ${shape.join('×')} ${type.name} values`);
  const data = new type.array(count);
  if (type.bytes === 1) data.set(type.name === 'uint8' ? raw.subarray(start, expected) : new Int8Array(raw.buffer, raw.byteOffset + start, count));
  else for (let i = 0; i < count; i++) data[i] = type.read(view, start + i * type.bytes);
  return { shape, data };
}

/**
 * Reads an IDX file (.idx or .idx.gz) into a tensor: integer types become int64 (or the dtype asked for),
 * float types float32/float64.
 */
export function readIdx(path: string, options?: { dtype?: Dtype }): Tensor {
  if (typeof path !== 'string') throw new TypeError(`readIdx: path must be a string, got ${show(path)}`);
  const o = checkOptions('readIdx', options, ['dtype']);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (err) {
    throw new Error(`readIdx: cannot read ${path}: ${(err as Error).message}`);
  }
  const { shape, data } = parseIdx(bytes, path);
  const integral = !(data instanceof Float32Array || data instanceof Float64Array);
  const dtype = (o.dtype as Dtype | undefined) ?? (integral ? 'int64' : data instanceof Float64Array ? 'float64' : 'float32');
  const source = integral ? Int32Array.from(data as ArrayLike<number>) : (data as Float32Array | Float64Array);
  return tensor(source, { shape, dtype });
}
