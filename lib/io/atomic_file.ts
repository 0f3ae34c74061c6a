// Writing a file so that a crash mid-write leaves any previous file at that path intact: the bytes go to a
// temporary file in the same directory — random name, created exclusively and never through a symlink —
// written in chunks (a file may exceed the 2 GiB one write(2) moves), synced, then renamed over the target.
// One writer for every file grnewt saves: checkpoints, torch.save files, safetensors.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Bytes per write(2) call. */
export const CHUNK_BYTES = 1 << 26;
/** A temp file of a writer that died is removed by a later save once it is this old (and its pid is gone). */
const STALE_TEMP_MS = 60_000;

/** What a writer hands its bytes to, in order. */
export type Put = (bytes: Uint8Array) => void;

/**
 * Writes `content` (chunks, or a function that puts them one at a time — tensors copied out one by one) to
 * `file` atomically. If `file` is a symlink, the file it points to is replaced and the link kept. Errors name
 * `where` and the user's file, never the temporary one.
 */
export function writeFileAtomic(
  file: string,
  content: readonly Uint8Array[] | ((put: Put) => void),
  where = 'save',
  chunkBytes = CHUNK_BYTES,
): void {
  const { target, dir } = folderOf(file, where);
  removeStaleTemps(dir, path.basename(target));
  let temp: string | undefined;
  let fd: number | undefined;
  try {
    ({ temp, fd } = createTemp(dir, path.basename(target)));
    const put: Put = (bytes) => writeChunked(fd!, bytes, chunkBytes, fs.writeSync, where);
    if (typeof content === 'function') content(put);
    else content.forEach(put);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, target);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    if (temp !== undefined) fs.rmSync(temp, { force: true });
    const e = err as NodeJS.ErrnoException;
    if (!e.code) throw err; // ours (a value that cannot be written, a write without progress): already clear
    throw cannotWrite(file, where, e);
  }
  try {
    const dirFd = fs.openSync(dir, 'r'); // make the rename itself durable
    fs.fsyncSync(dirFd);
    fs.closeSync(dirFd);
  } catch {
    // some filesystems refuse fsync on directories: the file is written either way
  }
}

/**
 * Throws now what writeFileAtomic(file) would (a missing or read-only folder, a directory at that path), for a
 * caller that writes `file` only after long work: fit()'s checkpoint, at the end of its first epoch.
 */
export function assertWritable(file: string, where = 'save'): void {
  const { target, dir } = folderOf(file, where);
  try {
    const { temp, fd } = createTemp(dir, path.basename(target));
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
  } catch (err) {
    throw cannotWrite(file, where, err as NodeJS.ErrnoException);
  }
}

/** The destination (symlinks followed) and its folder, which must exist. */
function folderOf(file: string, where: string): { target: string; dir: string } {
  const target = destination(file, where);
  const dir = path.dirname(target);
  if (!fs.existsSync(dir)) {
    throw new Error(
      `${where}: cannot write ${file}: the folder ${dir} does not exist (create it first, e.g. fs.mkdirSync(${JSON.stringify(dir)}, { recursive: true }))`,
    );
  }
  return { target, dir };
}

/** A system error while writing, named by the user's file (the system's message names the temporary one). */
function cannotWrite(file: string, where: string, e: NodeJS.ErrnoException): Error {
  return new Error(`${where}: cannot write ${file} (${e.code}, ${e.message.replace(/^\w+: /, '').replace(/, \w+ '.*'$/, '')})`, {
    cause: e,
  });
}

/**
 * A new temp file next to the destination, with a random name, created exclusively and never through a
 * symlink: a file planted at that name cannot redirect the write (the name is drawn again, then refused).
 */
function createTemp(dir: string, name: string): { temp: string; fd: number } {
  for (let attempt = 1; ; attempt++) {
    const temp = path.join(dir, `.${name}.${process.pid}.${crypto.randomBytes(8).toString('hex')}.tmp`);
    try {
      return {
        temp,
        fd: fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o666),
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 3) throw err; // not ours: never removed
    }
  }
}

/** @internal Writes all of `bytes`, at most `chunkBytes` per call, resuming after partial writes. */
export function writeChunked(
  fd: number,
  bytes: Uint8Array,
  chunkBytes: number,
  write: typeof fs.writeSync = fs.writeSync,
  where = 'save',
): void {
  for (let done = 0; done < bytes.byteLength; ) {
    const n = write(fd, bytes, done, Math.min(chunkBytes, bytes.byteLength - done));
    if (!(n > 0)) throw new Error(`${where}: a write made no progress (${n} bytes)`);
    done += n;
  }
}

/** The path to replace: `file`, or the file a symlink at `file` points to (followed to the end). */
function destination(file: string, where: string): string {
  let target = path.resolve(file);
  for (let hops = 0; hops <= 40; hops++) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return target; // a new file
      throw err;
    }
    if (!stat.isSymbolicLink()) {
      if (!stat.isFile()) throw new Error(`${where}: ${file} exists and is not a regular file`);
      return target;
    }
    target = path.resolve(path.dirname(target), fs.readlinkSync(target));
  }
  throw new Error(`${where}: ${file}: too many levels of symbolic links`);
}

/** Temp files of `name` left by writers that were killed: their pid is gone and they stopped changing. */
function removeStaleTemps(dir: string, name: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return; // the write itself will report the problem
  }
  const prefix = `.${name}.`;
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
    const pid = Number(/^(\d+)\.[0-9a-f]+\.tmp$/.exec(entry.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    try {
      const full = path.join(dir, entry);
      if (Date.now() - fs.lstatSync(full).mtimeMs > STALE_TEMP_MS) fs.unlinkSync(full);
    } catch {
      // gone meanwhile, or not ours to remove: leave it
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
