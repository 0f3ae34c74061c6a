// `grnewt train --nproc N`: starts N worker processes of `grnewt train` on this machine, as torchrun does —
// each with RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT (a free port unless --master-port) and
// LOCAL_RANK — and watches them. Rank 0's output is this command's; the others' errors are shown prefixed with
// their rank. A worker that dies is named here; the others then fail at their next collective and exit
// non-zero, and so does this command. Ctrl-C / SIGTERM are passed to every worker once (they run in their own
// process groups), and they all stop after the same step, rank 0 writing the checkpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

export interface LaunchOptions {
  nproc: number;
  /** The worker's arguments after `grnewt` (train and its flags, without --nproc). */
  args: string[];
  masterPort?: number;
  /** Exit code and stop: how long to wait for the other workers once one has failed before killing them. */
  graceMs?: number;
}

/** A TCP port free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Removes `--nproc N` / `--nproc=N` from a command line. */
export function withoutFlag(args: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) i++;
    else if (!args[i].startsWith(`${flag}=`)) out.push(args[i]);
  }
  return out;
}

/** Runs the workers; resolves with the exit code this command should have. */
export async function launch(options: LaunchOptions): Promise<number> {
  const port = options.masterPort ?? (await freePort());
  const bin = path.join(__dirname, '..', '..', '..', 'bin', 'grnewt.js');
  const children: ChildProcess[] = [];
  const exits: Array<Promise<{ rank: number; code: number | null; signal: NodeJS.Signals | null }>> = [];
  let failure: string | undefined;
  let stopping = false; // a signal was passed on: workers exiting 130/143 are not failures
  let killer: NodeJS.Timeout | undefined;
  // Installed before the first worker starts: a signal that came while they were being started would
  // otherwise end this process alone, leaving them (in their own process groups) waiting for each other.
  const forward = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, forward);
  for (let rank = 0; rank < options.nproc; rank++) {
    const child = spawn(process.execPath, [bin, ...options.args], {
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(options.nproc),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(options.nproc),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
      },
      stdio: rank === 0 ? 'inherit' : ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group: a terminal's Ctrl-C reaches it once, through us
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) process.stderr.write(`[rank ${rank}] ${line}\n`);
    });
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.on('error', (err) => {
          failure ??= `grnewt: worker rank ${rank} could not start: ${err.message}`;
          resolve({ rank, code: 1, signal: null });
        });
        child.on('exit', (code, signal) => {
          if ((code !== 0 || signal) && failure === undefined && !stopping) {
            failure = `grnewt: worker rank ${rank} (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; the other workers stop at their next exchange with it`;
            process.stderr.write(`${failure}\n`);
            // They notice at their next collective (at once when the peer's connection closed, else after the
            // group's timeout); past that and a grace period, they are killed.
            killer = setTimeout(
              () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')),
              options.graceMs ?? 330_000,
            );
            killer.unref();
          }
          resolve({ rank, code, signal });
        });
      }),
    );
  }
  try {
    const results = await Promise.all(exits);
    if (failure) return 1;
    // Stopped by a signal: every worker ends with 130/143 (or 0 if it had finished); anything else failed.
    const failed = results.find((r) => r.code !== 0 && r.code !== 130 && r.code !== 143);
    if (failed) {
      process.stderr.write(
        `grnewt: worker rank ${failed.rank} ${failed.signal ? `was killed by ${failed.signal}` : `exited with code ${failed.code}`} while stopping\n`,
      );
      return 1;
    }
    return results[0].code ?? 0; // rank 0's: 0, or 130 / 143 after a stop
  } finally {
    if (killer) clearTimeout(killer);
    for (const s of signals) process.off(s, forward);
  }
}
