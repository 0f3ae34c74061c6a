// safetensors files (Hugging Face's format): u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}, then the tensors' bytes,
// row-major little-endian, offsets relative to the byte after the header. As the reference reader does,
// the tensors must cover the data exactly: no overlap, no gap, nothing past the end.
import { readRegularFile } from './regular_files';
import { Tensor, checkDevice, type DeviceName, type Dtype } from '../core/tensor';
import { checkOptions, formatShape, show } from '../core/validate';
import { writeFileAtomic } from './atomic_file';
import { setKey } from './pickle_reader';
import { LONE_SURROGATE } from './pickle_writer';
import { ITEM_SIZE, elementCount, tensorBytes, tensorFromBytes } from './tensor_bytes';

const MAX_HEADER = 100_000_000; // the reference implementation's limit
const DTYPES: Record<string, Dtype> = { F32: 'float32', F64: 'float64', I64: 'int64' };
const NAMES: Record<Dtype, string> = { float32: 'F32', float64: 'F64', int64: 'I64' };

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** The tensors of a safetensors file, by name, in the header's order. */
export function loadSafetensors(file: string, options?: { device?: DeviceName }): Record<string, Tensor> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`loadSafetensors: file must be a path, got ${show(file)}`);
  const o = checkOptions('loadSafetensors', options);
  for (const k of Object.keys(o)) if (k !== 'device') throw new TypeError(`loadSafetensors: unknown option ${show(k)} (known: device)`);
  const device = (o.device === undefined ? 'cpu' : checkDevice('loadSafetensors', o.device)) as DeviceName;
  const bytes = readRegularFile('loadSafetensors', file); // a FIFO or /dev/zero is refused, not read forever
  const { entries, dataStart } = parseHeader(bytes, `loadSafetensors: ${file}`);
  const out: Record<string, Tensor> = {};
  const made: Tensor[] = [];
  try {
    for (const e of entries) {
      const flat = tensorFromBytes(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype, device);
      made.push(flat);
      const t = flat.reshape(e.shape);
      made.push(t);
      flat.dispose();
      setKey(out, e.name, t);
    }
  } catch (err) {
    for (const t of made) t.dispose();
    throw err;
  }
  return out;
}

/** The "__metadata__" strings of a safetensors file ({} when it has none). */
export function loadSafetensorsMetadata(file: string): Record<string, string> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`loadSafetensorsMetadata: file must be a path, got ${show(file)}`);
  return parseHeader(readRegularFile('loadSafetensorsMetadata', file), `loadSafetensorsMetadata: ${file}`).metadata;
}

/** Writes `tensors` (name → float32/float64/int64 tensor) and optional string metadata, atomically. */
export function saveSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`saveSafetensors: file must be a path, got ${show(file)}`);
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors))
    throw new TypeError(`saveSafetensors: tensors must be an object of name → Tensor, got ${show(tensors)}`);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      throw new TypeError(`saveSafetensors: metadata must be an object of strings, got ${show(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`saveSafetensors: metadata.${k} must be a string, got ${show(v)}`);
      unicodeText(`metadata key ${show(k)}`, k);
      unicodeText(`metadata.${k}`, v);
    }
    setKey(header, '__metadata__', { ...metadata });
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__')
      throw new RangeError('saveSafetensors: "__metadata__" is reserved for the metadata and cannot name a tensor');
    if (!(t instanceof Tensor)) throw new TypeError(`saveSafetensors: tensors.${name} must be a Tensor, got ${show(t)}`);
    unicodeText(`the tensor name ${show(name)}`, name);
    const data = tensorBytes(t);
    setKey(header, name, { dtype: NAMES[t.dtype], shape: t.shape, data_offsets: [offset, offset + data.length] });
    chunks.push(data);
    offset += data.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8; // the reference writer aligns the data to 8 bytes with spaces
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  writeFileAtomic(file, [size, json, ...chunks], 'saveSafetensors');
}

/**
 * The header is UTF-8 JSON: a lone surrogate, which JSON.stringify writes as a \uD800 escape, is no character
 * there, and the reference reader refuses the whole file (serde_json: "lone leading surrogate").
 */
function unicodeText(what: string, text: string): void {
  const m = LONE_SURROGATE.exec(text);
  if (m)
    throw new TypeError(
      `saveSafetensors: ${what} holds a lone UTF-16 surrogate (\\u${text.charCodeAt(m.index).toString(16)} at index ${m.index}), which a safetensors header cannot hold`,
    );
}

function parseHeader(bytes: Uint8Array, where: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const bad = (why: string) => new Error(`${where}: not a valid safetensors file: ${why}`);
  if (bytes.length < 8) throw bad(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const declared = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64LE(0);
  if (declared > BigInt(MAX_HEADER)) throw bad(`the header claims ${declared} bytes (at most ${MAX_HEADER} are read)`);
  if (declared > BigInt(bytes.length - 8))
    throw bad(`the header claims ${declared} bytes, the file has ${bytes.length - 8} after the length`);
  const n = Number(declared);
  const dataStart = 8 + n;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    throw bad(`the header is not JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('the header is not a JSON object');
  const dataBytes = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${k} is ${show(v)}, not a string`);
        setKey(metadata, k, v);
      }
      continue;
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) throw bad(`${name}: its entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad(`${name}: dtype is ${show(dtype)}`);
    if (!Object.hasOwn(DTYPES, dtype))
      throw new Error(`${where}: ${name} has dtype ${dtype}; grnewt reads F32, F64 and I64 (float32, float64, int64)`);
    const numel = elementCount(shape);
    if (numel < 0) throw bad(`${name}: shape ${show(shape)} is not a list of non-negative integers`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((x) => Number.isSafeInteger(x) && x >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw bad(`${name}: data_offsets ${show(offsets)} is not [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) throw bad(`${name}: data_offsets [${begin}, ${end}] run past the ${dataBytes} data bytes`);
    const t = DTYPES[dtype];
    if (numel * ITEM_SIZE[t] !== end - begin) {
      throw bad(
        `${name}: shape ${formatShape(shape as number[])} of ${dtype} needs ${numel * ITEM_SIZE[t]} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    entries.push({ name, dtype: t, shape: shape as number[], begin, end });
  }
  // Sorted by offset, each tensor must start where the previous ended and the last end at the file's end.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin < at) throw bad(`${e.name}: data_offsets [${e.begin}, ${e.end}] overlap another tensor's`);
    if (e.begin > at) throw bad(`${e.name}: data_offsets [${e.begin}, ${e.end}] leave bytes ${at}…${e.begin} unused`);
    at = e.end;
  }
  if (at !== dataBytes) throw bad(`the tensors cover ${at} of the ${dataBytes} data bytes`);
  return { entries, metadata, dataStart };
}
