// Checkpoints: any tree of plain values and tensors (model and optimizer state dicts, epoch counters...)
// in one file, written atomically and checked when read.
//
// Format (version 1), little-endian:
//   "GRNEWTCK" | u32 version | u32 header bytes | header (UTF-8 JSON) | tensor data | u32 CRC-32 of all before
// The header is the tree with each tensor replaced by {"$tensor": {dtype, shape, offset, bytes}} (offset into
// the data section) and each non-finite number by {"$number": "NaN" | "Infinity" | "-Infinity"}.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { tensor } from './creation';
import { writeFileAtomic } from './io/atomic_file';
import { Tensor, type Dtype } from './tensor';
import { show } from './validate';

const MAGIC = Buffer.from('GRNEWTCK');
const VERSION = 1;

/** Writes `tree` to `file` atomically: a crash mid-write leaves any previous file at that path intact. */
export function save(file: string, tree: unknown): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`save: file must be a path, got ${show(file)}`);
  const chunks: Buffer[] = [];
  let offset = 0;
  const encode = (value: unknown, where: string): unknown => {
    if (value instanceof Tensor) {
      const data = value.toArray();
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const entry = { $tensor: { dtype: value.dtype, shape: value.shape, offset, bytes: bytes.length } };
      chunks.push(bytes);
      offset += bytes.length;
      return entry;
    }
    if (typeof value === 'number') return Number.isFinite(value) ? value : { $number: String(value) };
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (value === undefined) return null;
    if (Array.isArray(value)) return value.map((v, i) => encode(v, `${where}[${i}]`));
    if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v, `${where}.${k}`)]));
    }
    throw new TypeError(`save: ${where} is a ${show(value)}, which a checkpoint cannot hold (plain values, arrays, objects and Tensors only)`);
  };
  const header = Buffer.from(JSON.stringify(encode(tree, 'tree')), 'utf8');
  const preamble = Buffer.alloc(16);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt32LE(VERSION, 8);
  preamble.writeUInt32LE(header.length, 12);
  const body = Buffer.concat([preamble, header, ...chunks]);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(zlib.crc32(body) >>> 0, 0);

  writeFileAtomic(file, [body, trailer]);
}

/**
 * Reads a checkpoint written by `save`; a truncated or corrupted file is refused with the reason. The
 * file's contents are not checked against T: say what you saved, e.g. `load<{ epoch: number; model:
 * Record<string, Tensor> }>(file)`.
 */
export function load<T = unknown>(file: string): T {
  if (typeof file !== 'string' || file === '') throw new TypeError(`load: file must be a path, got ${show(file)}`);
  const bytes = fs.readFileSync(file);
  const corrupt = (why: string) => new Error(`load: ${file} is not a valid grnewt checkpoint: ${why}`);
  if (bytes.length < 20 || !bytes.subarray(0, 8).equals(MAGIC)) throw corrupt('bad magic number (not a checkpoint, or truncated)');
  const version = bytes.readUInt32LE(8);
  if (version !== VERSION) throw corrupt(`version ${version}, this grnewt reads version ${VERSION}`);
  const stored = bytes.readUInt32LE(bytes.length - 4);
  if ((zlib.crc32(bytes.subarray(0, bytes.length - 4)) >>> 0) !== stored) throw corrupt('checksum mismatch (truncated or corrupted)');
  const headerBytes = bytes.readUInt32LE(12);
  const dataStart = 16 + headerBytes;
  if (dataStart > bytes.length - 4) throw corrupt('header runs past the end');
  const data = bytes.subarray(dataStart, bytes.length - 4);
  const decode = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(decode);
    if (value === null || typeof value !== 'object') return value;
    const v = value as Record<string, unknown>;
    if ('$number' in v) return Number(v.$number);
    if ('$tensor' in v) {
      const { dtype, shape, offset, bytes: n } = v.$tensor as { dtype: Dtype; shape: number[]; offset: number; bytes: number };
      if (offset + n > data.length) throw corrupt('a tensor runs past the end of the data');
      const copy = new Uint8Array(n);
      copy.set(data.subarray(offset, offset + n)); // aligned storage for the typed array
      const typed = dtype === 'float32' ? new Float32Array(copy.buffer) : dtype === 'float64' ? new Float64Array(copy.buffer) : new BigInt64Array(copy.buffer);
      return tensor(typed, { shape, dtype });
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  };
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(16, dataStart).toString('utf8'));
  } catch (err) {
    throw corrupt(`unreadable header (${(err as Error).message})`);
  }
  return decode(header) as T;
}
