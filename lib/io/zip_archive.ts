// The zip container of PyTorch files, through fflate: entries are read and written uncompressed ("stored"),
// as PyTorch's writer does, and written with each data record aligned to 64 bytes (PyTorch pads the local
// header's extra field, id "FB", so that a reader can map a storage straight from the file).
import { unzipSync, zipSync, type Zippable } from 'fflate';

const LOCAL_HEADER = 30; // bytes of a local file header before its name
const CENTRAL_HEADER = 46; // smallest central directory record
const PAD_FIELD = 0x4246; // "FB", PyTorch's padding extra field
const DOS_EPOCH = new Date(1980, 0, 1); // a fixed time stamp: the same tree gives the same bytes

/** Every entry of a zip archive, by name; only stored (uncompressed) entries are accepted. */
export function readZip(bytes: Uint8Array, where: string): Map<string, Uint8Array> {
  if (bytes.length < 22) throw new Error(`${where}: not a zip archive (${bytes.length} bytes)`);
  const declared = new Map<string, number>();
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      // Runs before fflate extracts or allocates anything for the entry.
      filter: (f) => {
        if (declared.size >= bytes.length / CENTRAL_HEADER)
          throw new Error(`the central directory claims more entries than the file can hold`);
        if (declared.has(f.name)) throw new Error(`the entry ${f.name} appears twice`);
        if (f.compression !== 0)
          throw new Error(`the entry ${f.name} is compressed (method ${f.compression}); PyTorch stores entries uncompressed`);
        if (f.size !== f.originalSize || !(f.size <= bytes.length))
          throw new Error(`the entry ${f.name} declares ${f.size} bytes, the file has ${bytes.length}`);
        declared.set(f.name, f.size);
        return true;
      },
    });
  } catch (err) {
    throw new Error(`${where}: not a readable zip archive: ${(err as Error).message}`);
  }
  const out = new Map<string, Uint8Array>();
  for (const [name, size] of declared) {
    const data = files[name];
    if (!data || data.length !== size) throw new Error(`${where}: the entry ${name} runs past the end of the file (truncated)`);
    out.set(name, data);
  }
  return out;
}

/** A zip archive of `entries`, in order, stored; the data of entries named by `align` starts at a multiple of 64. */
export function writeZip(
  entries: ReadonlyArray<readonly [string, Uint8Array]>,
  align: (name: string) => boolean,
  where: string,
): Uint8Array {
  const tree: Zippable = {};
  const starts: Array<[string, number]> = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.byteLength(name, 'utf8');
    let extra: Record<number, Uint8Array> | undefined;
    if (align(name)) {
      const unpadded = offset + LOCAL_HEADER + nameBytes + 4;
      extra = { [PAD_FIELD]: new Uint8Array((64 - (unpadded % 64)) % 64) };
    }
    const extraBytes = extra ? 4 + extra[PAD_FIELD].length : 0;
    starts.push([name, offset + LOCAL_HEADER + nameBytes + extraBytes]);
    tree[name] = [data, { level: 0, mtime: DOS_EPOCH, ...(extra ? { extra } : {}) }];
    offset += LOCAL_HEADER + nameBytes + extraBytes + data.length;
  }
  if (offset > 0xfffffff0)
    throw new RangeError(`${where}: the file would be ${offset} bytes; files of 4 GiB and more (zip64) are not written`);
  const zip = zipSync(tree);
  // fflate lays entries out in insertion order, each header then its data: check that the offsets computed
  // above are where the data landed, so that the alignment promised is real.
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let at = 0;
  for (const [name, start] of starts) {
    const dataStart = at + LOCAL_HEADER + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    if (view.getUint32(at, true) !== 0x04034b50 || dataStart !== start)
      throw new Error(`${where}: internal error: the zip entry ${name} is not where it was laid out`);
    at = dataStart + view.getUint32(at + 18, true);
  }
  return zip;
}
