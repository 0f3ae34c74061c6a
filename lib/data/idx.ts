// The IDX format of MNIST-like datasets, plain or gzip-compressed: a magic number (0, 0, type, rank), the
// sizes as big-endian uint32, then the values, big-endian.
import * as zlib from 'node:zlib';
import { tensor } from '../core/creation';
import { checkDtype, type Dtype, type Tensor } from '../core/tensor';
import { checkOptions, show } from '../core/validate';
import { maxFileBytes, readRegularFile } from '../io/regular_files';

export interface IdxContents {
  shape: number[];
  /** The values, in the file's own type. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<
  number,
  { name: string; bytes: number; read: (view: DataView, offset: number) => number; array: new (n: number) => IdxContents['data'] }
> = {
  0x08: { name: 'uint8', bytes: 1, read: (v, o) => v.getUint8(o), array: Uint8Array },
  0x09: { name: 'int8', bytes: 1, read: (v, o) => v.getInt8(o), array: Int8Array },
  0x0b: { name: 'int16', bytes: 2, read: (v, o) => v.getInt16(o), array: Int16Array },
  0x0c: { name: 'int32', bytes: 4, read: (v, o) => v.getInt32(o), array: Int32Array },
  0x0d: { name: 'float32', bytes: 4, read: (v, o) => v.getFloat32(o), array: Float32Array },
  0x0e: { name: 'float64', bytes: 8, read: (v, o) => v.getFloat64(o), array: Float64Array },
};

/** Bytes of gzip input tried for the header: deflate expands at most ~1032:1, so these bound the output too. */
const HEADER_PROBES = [64, 1024, 16384];
const DEFLATE_MAX_RATIO = 1032;

/** At least the first `want` bytes of the gunzipped stream (fewer if it has fewer), without inflating the rest. */
function gunzipPrefix(bytes: Uint8Array, want: number, name: string): Buffer {
  let out = Buffer.alloc(0);
  for (const probe of HEADER_PROBES) {
    const input = bytes.subarray(0, probe);
    try {
      // Z_SYNC_FLUSH: a cut stream is not an error, it yields what it has
      out = zlib.gunzipSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch (err) {
      if (input.length === bytes.length) throw new Error(`readIdx: ${name} is not a valid gzip file (${(err as Error).message})`);
      continue; // e.g. the gzip header itself is longer than this probe
    }
    if (out.length >= want || input.length === bytes.length) break;
  }
  return out;
}

/**
 * Parses an IDX file's bytes (gunzipping them first when they start with gzip's magic). The header's claimed
 * size is checked before anything is allocated, and decompression stops at that size: a gzip bomb is refused,
 * not inflated.
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxContents {
  const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
  let head: Uint8Array = gzip ? gunzipPrefix(bytes, 4, name) : bytes;
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || !(head[2] in TYPES)) {
    throw new Error(`readIdx: ${name} is not an IDX file (bad magic number)`);
  }
  const type = TYPES[head[2]],
    rank = head[3],
    start = 4 + 4 * rank;
  if (gzip && head.length < start) head = gunzipPrefix(bytes, start, name);
  if (head.length < start) throw new Error(`readIdx: ${name} is truncated (its header needs ${start} bytes, it has ${head.length})`);
  const headView = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => headView.getUint32(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = start + count * type.bytes;
  const max = maxFileBytes();
  if (!Number.isSafeInteger(expected) || expected > max) {
    throw new RangeError(
      `readIdx: ${name}'s header claims ${shape.join('×')} ${type.name} values (${expected} bytes), more than the ${max} bytes this machine can read`,
    );
  }
  if (gzip && expected > bytes.length * DEFLATE_MAX_RATIO) {
    throw new Error(
      `readIdx: ${name}'s header claims ${expected} bytes, more than its ${bytes.length} compressed bytes can hold (not a valid IDX file)`,
    );
  }
  let raw: Uint8Array = bytes;
  if (gzip) {
    try {
      raw = zlib.gunzipSync(bytes, { maxOutputLength: Math.max(expected, 1) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new Error(`readIdx: ${name} decompresses to more than the ${expected} bytes its ${shape.join('×')} ${type.name} values take`);
      }
      throw new Error(`readIdx: ${name} is not a valid gzip file (${(err as Error).message})`);
    }
  }
  if (raw.length < expected)
    throw new Error(`readIdx: ${name} is truncated: ${shape.join('×')} ${type.name} values need ${expected} bytes, it has ${raw.length}`);
  if (raw.length > expected)
    throw new Error(`readIdx: ${name} has ${raw.length - expected} bytes beyond its ${shape.join('×')} ${type.name} values`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const data = new type.array(count);
  if (type.bytes === 1)
    data.set(type.name === 'uint8' ? raw.subarray(start, expected) : new Int8Array(raw.buffer, raw.byteOffset + start, count));
  else for (let i = 0; i < count; i++) data[i] = type.read(view, start + i * type.bytes);
  return { shape, data };
}

/**
 * Reads an IDX file (.idx or .idx.gz) into a tensor: integer types become int64 (or the dtype asked for),
 * float types float32/float64. Only regular files are read.
 */
export function readIdx(path: string, options?: { dtype?: Dtype }): Tensor {
  if (typeof path !== 'string') throw new TypeError(`readIdx: path must be a string, got ${show(path)}`);
  const o = checkOptions('readIdx', options, ['dtype']);
  // Checked before the file is read, by this function's name (tensor() named itself, after the whole read).
  if (o.dtype !== undefined) checkDtype('readIdx: options', o.dtype);
  const { shape, data } = parseIdx(readRegularFile('readIdx', path), path);
  const integral = !(data instanceof Float32Array || data instanceof Float64Array);
  const dtype = (o.dtype as Dtype | undefined) ?? (integral ? 'int64' : data instanceof Float64Array ? 'float64' : 'float32');
  if (dtype === 'int64' && !integral) {
    const bad = data.findIndex((v) => !Number.isInteger(v));
    if (bad >= 0)
      throw new RangeError(`readIdx: ${path} holds ${data[bad]} at element ${bad}, which int64 cannot hold (it would be truncated)`);
  }
  return tensor(data, { shape, dtype }); // the file's own typed array: no widened copy on the way
}
