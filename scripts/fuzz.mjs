#!/usr/bin/env node
// Property-based fuzzing of the public API: every function and Tensor method, called with random arguments
// drawn from a pool of awkward values (NaN, ±Infinity, -0, huge numbers, wrong types, disposed tensors,
// tensors of every dtype and rank...). The property: the call returns or throws a JS Error — never anything
// else, never a crash. The test suite runs a fixed seed; run longer by hand:
//   node scripts/fuzz.mjs [--runs 100000] [--seed N]
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import fc from 'fast-check';

const require = createRequire(import.meta.url);
const g = require('../dist/index.js');

/** Calls that write files, start long trainings or allocate models of hundreds of MB are left out. */
const EXCLUDED = new Set(['save', 'load', 'saveTorch', 'saveSafetensors', 'writeReport', 'fit', 'VGG', 'fashionMnist']);

function tensorPool() {
  const live = [
    g.tensor(1.5), g.tensor([1, -2, 3]), g.tensor([[1, 2], [3, 4]], { dtype: 'float64', requiresGrad: true }),
    g.tensor([0, 2], { dtype: 'int64' }), g.zeros([0]), g.randn([2, 3, 4]), g.ones([1, 1, 5, 5]), g.tensor([NaN, Infinity]),
  ];
  const disposed = g.ones([2]);
  disposed.dispose();
  return [...live, disposed];
}

function targets(pool) {
  const out = [];
  const add = (name, fn) => !EXCLUDED.has(name) && out.push([name, fn]);
  for (const [name, v] of Object.entries(g)) {
    if (typeof v === 'function' && name !== 'Tensor') add(name, /^[A-Z]/.test(name) ? (...a) => new v(...a) : v);
  }
  for (const ns of ['nn', 'models', 'losses', 'partition', 'optim', 'data']) {
    for (const [name, v] of Object.entries(g[ns])) if (typeof v === 'function') add(name, /^[A-Z]/.test(name) ? (...a) => new v(...a) : v);
  }
  const methods = Object.getOwnPropertyNames(g.Tensor.prototype).filter((m) => m !== 'constructor' && typeof Object.getOwnPropertyDescriptor(g.Tensor.prototype, m).value === 'function');
  for (const m of methods) out.push([`Tensor.${m}`, (i, ...a) => pool[Math.abs(Number(i) | 0) % pool.length][m](...a)]);
  return out;
}

export function fuzz({ runs = 3000, seed = 42 } = {}) {
  const threads = g.getNumThreads(), cacheLimit = g.memory().allocator.limitBytes; // fuzzed calls may change both
  const pool = tensorPool();
  const junk = [
    undefined, null, 0, -1, 1, 2, 3, 0.5, -0, NaN, Infinity, -Infinity, 1e300, 2 ** 53, '', 'x', 'float64', 'int64', 'cpu', 'cuda',
    true, false, 10n, [], [1], [2, 3], [-1], [1.5], [[1, 2], [3]], [NaN], {}, { dtype: 'int64' }, { shape: [2] }, { params: [] },
    { lr: -1 }, [{ params: [pool[2]] }], new Float32Array(2), new Int32Array([1, 5]), new Uint8Array(2), () => 0, Symbol('s'),
  ];
  const values = fc.oneof(fc.constantFrom(...junk), fc.constantFrom(...pool), fc.array(fc.constantFrom(...pool), { maxLength: 3 }));
  const calls = targets(pool);
  const failures = [];
  try {
    fc.assert(
      fc.property(fc.constantFrom(...calls), fc.array(values, { maxLength: 4 }), ([name, fn], args) => {
        try {
          const result = fn(...args);
          if (result instanceof Promise) result.catch(() => {});
        } catch (err) {
          if (!(err instanceof Error)) {
            failures.push(name);
            return false;
          }
        }
        return true;
      }),
      { seed, numRuns: runs },
    );
  } finally {
    g.setNumThreads(threads);
    g.setCacheLimit(cacheLimit);
  }
  return { calls: calls.length, runs, failures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '100000' }, seed: { type: 'string', default: String(Date.now() % 1e9) } } });
  const started = Date.now();
  const result = fuzz({ runs: Number(args.runs), seed: Number(args.seed) });
  console.log(`fuzz: ${result.runs} calls over ${result.calls} functions and methods, seed ${args.seed}, ${((Date.now() - started) / 1000).toFixed(1)} s on ${os.cpus().length} cores: no crash, every error a JS Error`);
}
