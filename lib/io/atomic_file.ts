// Writing a file so that a crash mid-write leaves any previous file at that path intact: the bytes go to
// a temporary file in the same directory, which is synced and then renamed over the target.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Writes `chunks`, in order, to `file` atomically; errors name `where` and the user's file, not the temporary one. */
export function writeFileAtomic(file: string, chunks: readonly Uint8Array[], where = 'save'): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) {
    throw new Error(`${where}: cannot write ${file}: the folder ${dir} does not exist (create it first, e.g. fs.mkdirSync(${JSON.stringify(dir)}, { recursive: true }))`);
  }
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      for (const chunk of chunks) {
        for (let done = 0; done < chunk.length; ) done += fs.writeSync(fd, chunk, done, chunk.length - done);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    // The system's message names the temporary file; the user chose `file`.
    const e = err as NodeJS.ErrnoException;
    const why = e.code ? `${e.code}, ${e.message.replace(/^\w+: /, '').replace(/, \w+ '.*'$/, '')}` : e.message;
    throw new Error(`${where}: cannot write ${file} (${why})`, { cause: err });
  }
  try {
    const dirFd = fs.openSync(dir, 'r'); // make the rename itself durable
    fs.fsyncSync(dirFd);
    fs.closeSync(dirFd);
  } catch {
    // some filesystems refuse fsync on directories: the file is written either way
  }
}
