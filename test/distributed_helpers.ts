// Starting the ranks of a multi-process test: node processes on 127.0.0.1, a free port, a time limit.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

export const WORKER = path.join(__dirname, 'fixtures', 'distributed', 'worker.cjs');

/** A TCP port nothing listens on now (the OS picks it; the rendezvous binds it moments later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs `node args…` with `env` added, killed after `limitMs`; resolves when it has exited. */
export function run(args: string[], env: Record<string, string>, limitMs: number): Promise<Finished> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, seconds: (Date.now() - start) / 1000 });
    });
  });
}

/** Starts `worldSize` ranks of the worker fixture in `modes[rank]` and waits for all of them. */
export async function ranks(modes: string[], options: { worldSize?: number; limitMs?: number; args?: object } = {}): Promise<Finished[]> {
  const port = await freePort();
  const worldSize = options.worldSize ?? modes.length;
  return Promise.all(
    modes.map((mode, rank) =>
      run(
        [WORKER, mode, JSON.stringify(options.args ?? {})],
        { RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
        options.limitMs ?? 60_000,
      ),
    ),
  );
}

/** The JSON line a worker printed (its last line), or a failure showing what it said. */
// biome-ignore lint/suspicious/noExplicitAny: a worker's JSON, read by each test as it expects it
export function result(f: Finished): Record<string, any> {
  const line = f.stdout.trim().split('\n').at(-1) ?? '';
  try {
    const parsed = JSON.parse(line);
    if (parsed.fatal) throw new Error(parsed.fatal);
    return parsed;
  } catch (err) {
    throw new Error(
      `worker gave no result (code ${f.code}, signal ${f.signal}): ${(err as Error).message}\nstdout: ${f.stdout}\nstderr: ${f.stderr}`,
    );
  }
}
