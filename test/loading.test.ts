// Loading the addon: once per thread, from worker threads too, and with an explanation when it cannot load.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { explainLoadFailure } from '../lib/core/native';

const dist = path.join(__dirname, '..', 'dist', 'index.js');

function runInWorker(code: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { dist } });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (exitCode) => exitCode !== 0 && reject(new Error(`worker exited with ${exitCode}`)));
  });
}

const workerCode = `
  const { parentPort, workerData } = require('node:worker_threads');
  const g = require(workerData.dist);
  const x = g.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
  x.mul(x).sum().backward();
  const grad = Array.from(x.grad.toArray());
  let error;
  try { g.zeros([2, 3]).matmul(g.zeros([4, 5])); } catch (e) { error = e.constructor.name + ': ' + e.message; }
  parentPort.postMessage({ grad, error });
`;

describe('loading the addon', () => {
  it('works in worker threads, several at once, each with its own environment', async () => {
    const results = await Promise.all([runInWorker(workerCode), runInWorker(workerCode), runInWorker(workerCode)]);
    for (const result of results) {
      expect(result).toEqual({ grad: [2, 4, 6], error: 'RangeError: matmul: inner dimensions differ: [2,3] @ [4,5] (3 vs 4)' });
    }
  });

  it("works from require() and from Node's own ESM import, named and namespace", () => {
    const script = `
      import * as grnewt from ${JSON.stringify(dist)};
      import { tensor } from ${JSON.stringify(dist)};
      import cjs from ${JSON.stringify(dist)};
      const { createRequire } = await import('node:module');
      const required = createRequire(import.meta.url)(${JSON.stringify(dist)});
      console.log(JSON.stringify([typeof grnewt.tensor, tensor === required.tensor, cjs.zeros === required.zeros,
        Array.from(grnewt.ones([2]).add(tensor([1, 2])).toArray())]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(['function', true, true, [2, 3]]);
  });

  it('explains a missing libtorch with the command that installs it', () => {
    const message = explainLoadFailure(new Error('libtorch_cpu.so.1.13: cannot open shared object file: No such file or directory'));
    expect(message).toMatch(/needs libtorch 1\.13, but libtorch_cpu\.so\.1\.13 was not found/);
    expect(message).toMatch(/sudo apt-get install libtorch1\.13/);
  });

  it('explains a libtorch of another version', () => {
    const message = explainLoadFailure(new Error('grnewt.node: undefined symbol: _ZN3c1010TensorImpl'));
    expect(message).toMatch(/do not match/);
    expect(message).toMatch(/Building from source/);
  });

  it('explains a platform with no prebuilt addon', () => {
    expect(explainLoadFailure(new Error('No native build was found for platform=darwin'))).toMatch(/npm run build/);
  });
});
