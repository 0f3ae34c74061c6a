// Checkpoints: any tree of plain values and tensors (model and optimizer state dicts, epoch counters...)
// in one file, written atomically and checked when read.
//
// Format (version 1), little-endian:
//   "GRNEWTCK" | u32 version | u32 header bytes | header (UTF-8 JSON) | tensor data | u32 CRC-32 of all before
// The header is the tree with each tensor replaced by {"$tensor": {dtype, shape, offset, bytes}} (offset into
// the data section) and each number JSON cannot hold by {"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}.
// Object properties holding undefined are left out, as JSON.stringify does (they read back as absent, not null);
// the two wrapper keys are reserved: a tree's own object with one is refused when saved.
//
// Files are written and read in chunks, never as one buffer: a checkpoint may exceed the 2 GiB one
// read(2)/write(2) moves, and the tensors are copied out of native memory one at a time.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { tensor } from '../core/creation';
import { openRegularFile, readFully } from './regular_files';
import { CHUNK_BYTES, writeFileAtomic } from './atomic_file';
import { Tensor, type Dtype } from '../core/tensor';
import { show } from '../core/validate';

const MAGIC = Buffer.from('GRNEWTCK');
const VERSION = 1;
const ELEMENT_BYTES: Record<Dtype, number> = { float32: 4, float64: 8, int64: 8 };
/** The numbers JSON cannot hold (-0 would read back as 0), by their $number name. */
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
const WRAPPERS = ['$tensor', '$number'] as const;
/**
 * @internal The deepest tree a checkpoint holds: load() refuses deeper ones (they would exhaust the stack when
 * decoded), so save() does not write them, nor saveTorch().
 */
export const MAX_DEPTH = 512;

/** @internal What a writer says of a value at `path` nested deeper than MAX_DEPTH (the path cut short). */
export function nestedTooDeep(where: string, path: string): string {
  return `${where}: ${path.length > 60 ? `${path.slice(0, 60)}…` : path} is nested more than ${MAX_DEPTH} levels deep`;
}

/** Writes `tree` to `file` atomically: a crash mid-write leaves any previous file at that path intact. */
export function save(file: string, tree: unknown): void {
  writeCheckpoint(file, tree, CHUNK_BYTES);
}

/**
 * @internal save() with the write size as a parameter (tests use small ones to exercise the chunking).
 * If `file` is a symlink, the file it points to is replaced atomically and the link kept.
 */
export function writeCheckpoint(file: string, tree: unknown, chunkBytes: number): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`save: file must be a path, got ${show(file)}`);
  const tensors: Tensor[] = [];
  let offset = 0;
  const open = new Set<object>(); // the arrays and objects being encoded: one met again is a cycle
  const encode = (value: unknown, where: string, depth: number): unknown => {
    // load() refuses a tree deeper than this: it is refused here, before anything is written (it was written,
    // then could not be read back; far deeper, the recursion below exhausted the stack with no name).
    if (depth > MAX_DEPTH) throw new TypeError(`${nestedTooDeep('save', where)}, more than load() reads back`);
    if (typeof value === 'object' && value !== null && !(value instanceof Tensor)) {
      if (open.has(value))
        throw new TypeError(`save: ${where} refers back to an object that contains it: a checkpoint holds trees, not cycles`);
      open.add(value);
      try {
        return encodeContainer(value, where, depth);
      } finally {
        open.delete(value);
      }
    }
    return encodeLeaf(value, where);
  };
  const encodeLeaf = (value: unknown, where: string): unknown => {
    if (value instanceof Tensor) {
      value.handle('save'); // a disposed tensor is refused before anything is written
      const bytes = value.numel * ELEMENT_BYTES[value.dtype as Dtype];
      const entry = { $tensor: { dtype: value.dtype, shape: value.shape, offset, bytes } };
      tensors.push(value);
      offset += bytes;
      return entry;
    }
    if (typeof value === 'number')
      return Object.is(value, -0) ? { $number: '-0' } : Number.isFinite(value) ? value : { $number: String(value) };
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (value === undefined) return null; // only reached inside arrays (as JSON.stringify does)
    return refuse(value, where);
  };
  const encodeContainer = (value: object, where: string, depth: number): unknown => {
    if (Array.isArray(value)) return Array.from(value, (v, i) => encode(v, `${where}[${i}]`, depth + 1));
    if (Object.getPrototypeOf(value) === Object.prototype) {
      // Such an object would be read back as a number or a tensor (or not at all): refused, not changed.
      const reserved = WRAPPERS.find((key) => Object.hasOwn(value, key));
      if (reserved)
        throw new TypeError(
          `save: ${where} must not have the key ${show(reserved)}, got one: checkpoints reserve it to mark numbers and tensors`,
        );
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (v !== undefined)
          Object.defineProperty(out, k, {
            value: encode(v, `${where}.${k}`, depth + 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
      return out;
    }
    return refuse(value, where);
  };
  const refuse = (value: unknown, where: string): never => {
    throw new TypeError(
      `save: ${where} is a ${show(value)}, which a checkpoint cannot hold (plain values, arrays, objects and Tensors only)`,
    );
  };
  const header = Buffer.from(JSON.stringify(encode(tree, 'tree', 0)), 'utf8');
  const preamble = Buffer.alloc(16);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt32LE(VERSION, 8);
  preamble.writeUInt32LE(header.length, 12);

  writeFileAtomic(
    file,
    (put) => {
      let crc = 0;
      const putChecked = (bytes: Uint8Array) => {
        if (bytes.byteLength === 0) return; // zlib.crc32 returns 0, not crc, for an empty external buffer
        crc = zlib.crc32(bytes, crc);
        put(bytes);
      };
      putChecked(preamble);
      putChecked(header);
      for (const t of tensors) {
        const data = t.toArray(); // one tensor's copy at a time
        putChecked(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      }
      const trailer = Buffer.alloc(4);
      trailer.writeUInt32LE(crc >>> 0, 0);
      put(trailer);
    },
    'save',
    chunkBytes,
  );
}

interface TensorEntry {
  dtype: Dtype;
  shape: number[];
  offset: number;
  bytes: number;
}

/**
 * Reads a checkpoint written by `save`; a truncated, corrupted or malformed file is refused with the reason.
 * The file's contents are not checked against T: say what you saved, e.g. `load<{ epoch: number; model:
 * Record<string, Tensor> }>(file)`.
 */
export function load<T = unknown>(file: string): T {
  if (typeof file !== 'string' || file === '') throw new TypeError(`load: file must be a path, got ${show(file)}`);
  const corrupt = (why: string) => new Error(`load: ${file} is not a valid grnewt checkpoint: ${why}`);
  const { fd, size } = openRegularFile('load', file);
  try {
    if (size < 20) throw corrupt('bad magic number (not a checkpoint, or truncated)');
    const preamble = Buffer.alloc(16);
    readFully('load', fd, preamble, 0);
    if (!preamble.subarray(0, 8).equals(MAGIC)) throw corrupt('bad magic number (not a checkpoint, or truncated)');
    const version = preamble.readUInt32LE(8);
    if (version !== VERSION) throw corrupt(`version ${version}, this grnewt reads version ${VERSION}`);
    const trailer = Buffer.alloc(4);
    readFully('load', fd, trailer, size - 4);
    if (checksum(fd, size - 4) >>> 0 !== trailer.readUInt32LE(0)) throw corrupt('checksum mismatch (truncated or corrupted)');
    const headerBytes = preamble.readUInt32LE(12);
    const dataStart = 16 + headerBytes,
      dataLength = size - 4 - dataStart;
    if (dataLength < 0) throw corrupt('header runs past the end');
    const headerBuffer = Buffer.alloc(headerBytes);
    readFully('load', fd, headerBuffer, 16);
    let header: unknown;
    try {
      header = JSON.parse(headerBuffer.toString('utf8'));
    } catch (err) {
      throw corrupt(`unreadable header (${(err as Error).message})`);
    }
    const entries: TensorEntry[] = [];
    checkTree(header, 'tree', 0, entries, corrupt);
    checkTiling(entries, dataLength, corrupt);
    const decode = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(decode);
      if (value === null || typeof value !== 'object') return value;
      const v = value as Record<string, unknown>;
      if (isWrapper(v, '$number')) return NON_FINITE[v.$number as string];
      if (isWrapper(v, '$tensor')) return readTensor(fd, dataStart, v.$tensor as TensorEntry);
      const out: Record<string, unknown> = {};
      // defineProperty: a "__proto__" key stays a plain key, as JSON.parse made it
      for (const [k, x] of Object.entries(v))
        Object.defineProperty(out, k, { value: decode(x), enumerable: true, writable: true, configurable: true });
      return out;
    };
    return decode(header) as T;
  } finally {
    fs.closeSync(fd);
  }
}

function checksum(fd: number, length: number): number {
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(length, 1)));
  let crc = 0;
  for (let position = 0; position < length; position += chunk.length) {
    const n = Math.min(chunk.length, length - position);
    readFully('load', fd, chunk, position, n);
    crc = zlib.crc32(chunk.subarray(0, n), crc);
  }
  return crc;
}

function isWrapper(v: Record<string, unknown>, key: '$tensor' | '$number'): boolean {
  return Object.hasOwn(v, key);
}

/** Every node of the header: wrappers well formed, tensors' sizes consistent; collects the tensor entries. */
function checkTree(value: unknown, where: string, depth: number, entries: TensorEntry[], corrupt: (why: string) => Error): void {
  if (depth > MAX_DEPTH) throw corrupt(`${where} is nested more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkTree(v, `${where}[${i}]`, depth + 1, entries, corrupt));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (isWrapper(v, '$number')) {
    if (keys.length !== 1 || typeof v.$number !== 'string' || !Object.hasOwn(NON_FINITE, v.$number))
      throw corrupt(
        `${where}: a $number must be {"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}, got ${JSON.stringify(v).slice(0, 80)}`,
      );
    return;
  }
  if (isWrapper(v, '$tensor')) {
    entries.push(checkTensorEntry(v, keys, where, corrupt));
    return;
  }
  for (const k of keys) checkTree(v[k], `${where}.${k}`, depth + 1, entries, corrupt);
}

function checkTensorEntry(v: Record<string, unknown>, keys: string[], where: string, corrupt: (why: string) => Error): TensorEntry {
  const e = v.$tensor as Record<string, unknown> | null;
  if (keys.length !== 1 || e === null || typeof e !== 'object' || Array.isArray(e))
    throw corrupt(`${where}: $tensor must be an object {dtype, shape, offset, bytes}, got ${show(e)}`);
  const { dtype, shape, offset, bytes } = e;
  if (typeof dtype !== 'string' || !Object.hasOwn(ELEMENT_BYTES, dtype))
    throw corrupt(`${where}: tensor dtype ${show(dtype)} is not float32, float64 or int64`);
  if (!Array.isArray(shape) || shape.length > 64 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw corrupt(`${where}: tensor shape ${show(shape)} is not a list of sizes`);
  let numel = 1;
  for (const d of shape as number[]) numel *= d;
  const expected = numel * ELEMENT_BYTES[dtype as Dtype];
  if (!Number.isSafeInteger(expected)) throw corrupt(`${where}: tensor shape ${show(shape)} is too large`);
  if (bytes !== expected)
    throw corrupt(`${where}: tensor bytes ${show(bytes)} do not match its ${dtype} shape [${shape.join(',')}] (${expected} bytes)`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0)
    throw corrupt(`${where}: tensor offset ${show(offset)} is not an integer ≥ 0`);
  return { dtype: dtype as Dtype, shape: shape as number[], offset: offset as number, bytes: expected };
}

/** The tensors must tile the data section exactly: no gap, no overlap, no blob read twice, nothing past the end. */
function checkTiling(entries: TensorEntry[], dataLength: number, corrupt: (why: string) => Error): void {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset || a.bytes - b.bytes);
  let cursor = 0;
  for (const e of sorted) {
    if (e.offset + e.bytes > dataLength)
      throw corrupt(`a tensor runs past the end of the data (offset ${e.offset}, ${e.bytes} bytes, the data has ${dataLength})`);
    if (e.offset !== cursor)
      throw corrupt(
        e.offset < cursor
          ? `tensors overlap at offset ${e.offset}`
          : `the data has ${e.offset - cursor} bytes no tensor uses at offset ${cursor}`,
      );
    cursor += e.bytes;
  }
  if (cursor !== dataLength) throw corrupt(`the data has ${dataLength - cursor} bytes no tensor uses at offset ${cursor}`);
}

function readTensor(fd: number, dataStart: number, e: TensorEntry): Tensor {
  const typed =
    e.dtype === 'float32'
      ? new Float32Array(e.bytes / 4)
      : e.dtype === 'float64'
        ? new Float64Array(e.bytes / 8)
        : new BigInt64Array(e.bytes / 8);
  readFully('load', fd, new Uint8Array(typed.buffer), dataStart + e.offset);
  return tensor(typed, { shape: e.shape, dtype: e.dtype });
}
