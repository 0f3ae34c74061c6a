// Reading files whose size is known before reading: only regular files are read. A character device
// (/dev/zero) never ends and a FIFO blocks until a writer comes, so both are refused up front.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { constants as bufferConstants } from 'node:buffer';

/** The most bytes one read file (or a decompressed one) may take here: half the RAM, and what a Buffer can hold. */
export function maxFileBytes(): number {
  return Math.min(bufferConstants.MAX_LENGTH, Math.floor(os.totalmem() / 2));
}

function kind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Opens `file` for reading if it is a regular file (after following symlinks) and returns its descriptor
 * and size; throws `${where}: <file> is a FIFO/…` otherwise. The caller closes the descriptor.
 */
export function openRegularFile(where: string, file: string): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. No effect on regular files.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new Error(`${where}: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${where}: ${file} is ${kind(stat)}, not a regular file`);
    return { fd, size: stat.size };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Reads `length` bytes at `position` into `target` (at `offset`), in chunks; throws if the file ends first. */
export function readFully(where: string, fd: number, target: Uint8Array, position: number, length = target.byteLength, offset = 0): void {
  const CHUNK = 1 << 26; // one read(2) moves at most ~2 GiB: stay well below
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, target, offset + done, Math.min(CHUNK, length - done), position + done);
    if (n === 0) throw new Error(`${where}: the file ended early (it changed while being read?)`);
    done += n;
  }
}

/** The whole content of a regular file of at most `maxBytes` bytes (default: maxFileBytes()). */
export function readRegularFile(where: string, file: string, maxBytes = maxFileBytes()): Buffer {
  const { fd, size } = openRegularFile(where, file);
  try {
    if (size > maxBytes) throw new RangeError(`${where}: ${file} is ${size} bytes, more than the ${maxBytes} this reads`);
    const bytes = Buffer.allocUnsafe(size);
    readFully(where, fd, bytes, 0);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}
