#!/usr/bin/env node
// Property-based fuzzing. Five families, each with the property "returns or throws a JS Error — never
// anything else, never a crash, never a hang":
//   api          every public function and Tensor method with random arguments from a pool of awkward values
//                (NaN, ±Infinity, -0, huge numbers, integers past 32 bits, wrong types, disposed tensors...);
//   integers     every integer setting of the ops that reach libtorch, drawn around 2**31, 2**32, 2**53;
//   checkpoints  crafted checkpoint files with a valid CRC (random offsets, sizes, dtypes, shapes, wrappers):
//                load refuses them or returns no more tensor bytes than the file holds;
//   files        load, readIdx, fashionMnist and CSV loading on non-regular files (/dev/zero, a FIFO, ...):
//                refused at once;
//   teardown     worker threads running computeHgAsync / computeHgTaylorAsync / stepAsync, terminated at
//                random points (the process must survive: an abort here kills the fuzzer itself).
// The test suite runs fixed seeds; run longer by hand (--runs counts api calls; the other families get
// runs/10, runs/10, runs/100 and runs/2000 cases):
//   node scripts/fuzz.mjs [--runs 100000] [--seed N] [--family api|integers|checkpoints|files|teardown]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import fc from 'fast-check';

const require = createRequire(import.meta.url);
// Settings that ask for huge outputs (a padding of 2**31 - 1) are refused above this tensor size, read when
// the addon loads: 1 GiB keeps the fuzzer from filling the machine's memory with legal requests.
process.env.GRNEWT_MAX_TENSOR_MB ??= '1024';
const g = require('../dist/index.js');
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** Calls that write files, start long trainings or allocate models of hundreds of MB are left out. */
const EXCLUDED = new Set(['save', 'load', 'saveTorch', 'saveSafetensors', 'writeReport', 'fit', 'VGG', 'fashionMnist']);

function tensorPool() {
  const live = [
    g.tensor(1.5),
    g.tensor([1, -2, 3]),
    g.tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float64', requiresGrad: true },
    ),
    g.tensor([0, 2], { dtype: 'int64' }),
    g.zeros([0]),
    g.randn([2, 3, 4]),
    g.ones([1, 1, 5, 5]),
    g.tensor([NaN, Infinity]),
    g.zeros([1, 0, 4, 4]),
    g.zeros([0, 0, 1, 1]), // zero channels: where a truncated groups divided by zero
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
  const methods = Object.getOwnPropertyNames(g.Tensor.prototype).filter(
    (m) => m !== 'constructor' && typeof Object.getOwnPropertyDescriptor(g.Tensor.prototype, m).value === 'function',
  );
  for (const m of methods) out.push([`Tensor.${m}`, (i, ...a) => pool[Math.abs(Number(i) | 0) % pool.length][m](...a)]);
  return out;
}

const BOUNDARY_INTS = [
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  -(2 ** 31),
  -(2 ** 31) - 1,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 63,
  -(2 ** 63),
  1e10,
];

export function fuzz({ runs = 3000, seed = 42 } = {}) {
  const threads = g.getNumThreads(),
    cacheLimit = g.memory().allocator.limitBytes; // fuzzed calls may change both
  const pool = tensorPool();
  const junk = [
    undefined,
    null,
    0,
    -1,
    1,
    2,
    3,
    0.5,
    -0,
    NaN,
    Infinity,
    -Infinity,
    1e300,
    2 ** 53,
    '',
    'x',
    'float64',
    'int64',
    'cpu',
    'cuda',
    true,
    false,
    10n,
    [],
    [1],
    [2, 3],
    [-1],
    [1.5],
    [[1, 2], [3]],
    [NaN],
    {},
    { dtype: 'int64' },
    { shape: [2] },
    { params: [] },
    { lr: -1 },
    [{ params: [pool[2]] }],
    new Float32Array(2),
    new Int32Array([1, 5]),
    new Uint8Array(2),
    () => 0,
    Symbol('s'),
    ...BOUNDARY_INTS,
    [2 ** 32],
    [1, 2 ** 31],
    [2 ** 31, 2 ** 31],
    { groups: 2 ** 32 },
    { stride: 2 ** 31 },
    { padding: [0, 2 ** 31] },
    { dilation: 2 ** 32 },
    { kernelSize: 2 ** 31 },
    new Float32Array(new SharedArrayBuffer(8)),
    // biome-ignore lint/suspicious/noSparseArray: a hole is one of the bad inputs
    [1, , 3],
    [2n ** 64n],
    2n ** 63n,
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

/** Every integer setting of the ops that reach libtorch, around the 32- and 53-bit edges. */
export function fuzzIntegers({ runs = 1000, seed = 7 } = {}) {
  const int = fc.oneof(fc.constantFrom(...BOUNDARY_INTS, 0, 1, 2, 3, -1), fc.integer({ min: -(2 ** 31) - 2, max: 2 ** 31 + 2 }));
  const pair = fc.oneof(int, fc.tuple(int, int));
  const x = () => g.randn([1, 2, 6, 6]),
    w = () => g.randn([2, 2, 3, 3]);
  const ops = [
    ['conv2d', (a, b, c, d) => x().conv2d(w(), null, { stride: a, padding: b, dilation: c, groups: d })],
    [
      'conv2d zero channels',
      (a, b, c, d) => g.zeros([1, 0, 4, 4]).conv2d(g.zeros([0, 0, 1, 1]), null, { stride: a, padding: b, dilation: c, groups: d }),
    ],
    ['maxPool2d', (a, b, c, d) => x().maxPool2d(a, { stride: b, padding: c, dilation: d })],
    ['nn.Conv2d', (a, b, c, d) => new g.nn.Conv2d(2, 2, a, { stride: b, padding: c, groups: d })],
    ['nn.MaxPool2d', (a, b, c) => new g.nn.MaxPool2d(a, { stride: b, padding: c })],
    ['pad', (a, b) => g.ones([2, 2]).pad([a, b])],
    ['dims', (a, b) => g.ones([2, 3]).transpose(a, b)],
    ['softmax', (a) => g.ones([2, 3]).softmax(a)],
    ['sum', (a, b) => g.ones([2, 3]).sum([a, b])],
    ['gather', (a) => g.ones([2, 3]).gather(a, g.tensor([[0]], { dtype: 'int64' }))],
    ['nll', (a) => g.losses.nll(g.ones([2, 3]).logSoftmax(1), g.tensor([0, a], { dtype: 'int64' }))],
  ];
  const failures = [];
  fc.assert(
    fc.property(fc.constantFrom(...ops), pair, pair, pair, int, ([name, fn], a, b, c, d) => {
      try {
        g.tidy(() => fn(a, b, c, d));
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
  return { runs, failures };
}

/** A checkpoint file with this header text and data, and a correct CRC (also used by test/checkpoint_robust). */
export function craftCheckpoint(file, headerText, data) {
  const json = Buffer.from(headerText, 'utf8');
  const preamble = Buffer.alloc(16);
  preamble.write('GRNEWTCK', 0, 'latin1');
  preamble.writeUInt32LE(1, 8);
  preamble.writeUInt32LE(json.length, 12);
  const body = Buffer.concat([preamble, json, data]);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(zlib.crc32(body) >>> 0, 0);
  fs.writeFileSync(file, Buffer.concat([body, trailer]));
}

/** Crafted checkpoints: refused as "not a valid grnewt checkpoint", or loaded within the file's own bytes. */
export function fuzzCheckpoints({ runs = 1000, seed = 11 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-fuzz-ckpt-'));
  const file = path.join(dir, 'c.ckpt');
  const weird = fc.constantFrom(-1, 0, 1, 4, 7, 8, 16, 0.5, -0, 2 ** 31, 2 ** 53, NaN, null, '8', [], {}, true);
  const size = fc.oneof(fc.nat({ max: 64 }), weird);
  const entry = fc.record(
    {
      dtype: fc.oneof(fc.constantFrom('float32', 'float64', 'int64'), fc.constantFrom('int8', '__proto__', 'toString', 7, null)),
      shape: fc.oneof(fc.array(fc.oneof(fc.nat({ max: 4 }), weird), { maxLength: 3 }), weird),
      offset: fc.oneof(fc.nat({ max: 64 }), weird),
      bytes: size,
    },
    { requiredKeys: [] },
  );
  const leaf = fc.oneof(
    entry.map((e) => ({ $tensor: e })),
    fc.constantFrom({ $tensor: null }, { $tensor: 5 }, { $number: 'NaN' }, { $number: 'huge' }, { $number: 1 }, 1, 'x', null, true),
  );
  const tree = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('a', 'b', '__proto__', '$tensor', '$number'), tie('node'), { maxKeys: 3 }),
    ),
  })).node;
  // Well-formed files (tensors tiling the data), then perhaps one field of one entry replaced by a weird value.
  const wellFormed = fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom('float32', 'float64', 'int64'), fc.array(fc.nat({ max: 3 }), { maxLength: 2 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.option(fc.tuple(fc.nat(), fc.constantFrom('dtype', 'shape', 'offset', 'bytes'), weird), { freq: 2 }),
    )
    .map(([specs, perturb]) => {
      let offset = 0;
      const list = specs.map(([dtype, shape]) => {
        const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'float32' ? 4 : 8);
        const entry = { $tensor: { dtype, shape, offset, bytes } };
        offset += bytes;
        return entry;
      });
      if (perturb) list[perturb[0] % list.length].$tensor[perturb[1]] = perturb[2];
      return [{ list, missing: { $number: 'NaN' } }, offset];
    });
  const cases = fc.oneof(fc.tuple(tree, fc.nat({ max: 96 })), wellFormed);
  let loaded = 0,
    refused = 0;
  const failures = [];
  try {
    fc.assert(
      fc.property(cases, ([header, dataLength]) => {
        craftCheckpoint(file, JSON.stringify(header), Buffer.alloc(dataLength, 1));
        try {
          const back = g.load(file);
          let bytes = 0;
          const visit = (v) => {
            if (v instanceof g.Tensor) bytes += v.numel * (v.dtype === 'float32' ? 4 : 8);
            else if (v && typeof v === 'object') Object.values(v).forEach(visit);
          };
          visit(back);
          if (bytes > dataLength) {
            failures.push(`loaded ${bytes} tensor bytes from ${dataLength}`);
            return false;
          }
          loaded++;
        } catch (err) {
          if (!(err instanceof Error) || !/is not a valid grnewt checkpoint: /.test(err.message)) {
            failures.push(String(err?.message ?? err));
            return false;
          }
          refused++;
        }
        return true;
      }),
      { seed, numRuns: runs },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { runs, loaded, refused, failures };
}

/** Every reader on files that are not regular: refused at once, never read forever or blocked on. */
export function fuzzFiles({ runs = 100, seed = 13 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-fuzz-files-'));
  const fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  const idxDir = path.join(dir, 'idx'); // an IDX directory whose files are FIFOs and devices
  fs.mkdirSync(idxDir);
  execFileSync('mkfifo', [path.join(idxDir, 'train-images-idx3-ubyte')]);
  fs.symlinkSync('/dev/zero', path.join(idxDir, 'train-labels-idx1-ubyte'));
  const csvFifo = path.join(dir, 'data.csv');
  execFileSync('mkfifo', [csvFifo]);
  const sources = ['/dev/zero', '/dev/null', '/dev/urandom', fifo, dir, csvFifo, path.join(idxDir, 'train-labels-idx1-ubyte')];
  const readers = [
    ['load', (f) => g.load(f)],
    ['readIdx', (f) => g.data.readIdx(f)],
    ['fashionMnist', () => g.data.fashionMnist({ split: 'train', root: idxDir })],
    ['fit resume', (f) => g.fit(g.trainConfig({ data: { source: 'embedded', limit: 10 } }), { resume: f })],
    ['fit data', (f) => g.fit(g.trainConfig({ data: { source: f }, epochs: 1 }))],
  ];
  const failures = [];
  try {
    fc.assert(
      fc.asyncProperty(fc.constantFrom(...readers), fc.constantFrom(...sources), async ([name, read], source) => {
        const started = Date.now();
        try {
          await read(source);
          failures.push(`${name}(${source}) succeeded`);
          return false;
        } catch (err) {
          if (!(err instanceof Error)) failures.push(`${name}(${source}) threw ${String(err)}`);
          if (Date.now() - started > 5000) failures.push(`${name}(${source}) took ${Date.now() - started} ms`);
        }
        return failures.length === 0;
      }),
      { seed, numRuns: runs },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { runs, failures };
}

const TEARDOWN_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const g = require(workerData.dist);
g.manualSeed(workerData.seed);
const model = new g.models.Perceptron([30, 20, 3]);
const x = g.randn([128, 30]), y = g.tensor(Int32Array.from({ length: 128 }, (_, i) => i % 3));
const { paramGroups } = g.partition.canonical(model);
const dir = model.parameters().map((p) => g.randn(p.shape));
const loss = (a, b) => g.losses.nll(model.forward(a), b);
const opt = new g.NewtonSummary(paramGroups, loss, [[x, y]], { periodHg: 1, taylor: { model } });
const calls = [
  () => g.computeHgAsync(paramGroups, loss, x, y, dir),
  () => g.computeHgTaylorAsync(model, paramGroups, x, y, dir),
  () => { opt.zeroGrad(); loss(x, y).backward(); return opt.stepAsync(); },
];
(async () => {
  parentPort.postMessage('ready');
  for (let i = 0; ; i++) await calls[(workerData.seed + i) % calls.length]();
})();
`;

/** Worker threads terminated at random points during their asynchronous calls: the process survives. */
export async function fuzzTeardown({ runs = 10, seed = 17 } = {}) {
  const plans = fc.sample(fc.tuple(fc.nat({ max: 40 }), fc.nat({ max: 2 }), fc.boolean()), { seed, numRuns: runs });
  for (const [i, [delay, calls, midway]] of plans.entries()) {
    const worker = new Worker(TEARDOWN_WORKER, { eval: true, workerData: { dist: DIST, seed: seed + i + calls } });
    worker.on('error', () => {}); // an error in the worker is fine; an abort of the process is not
    await new Promise((resolve) => worker.once('message', resolve));
    if (midway) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, delay));
    await worker.terminate();
  }
  return { runs, failures: [] };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: args } = parseArgs({
    options: {
      runs: { type: 'string', default: '100000' },
      seed: { type: 'string', default: String(Date.now() % 1e9) },
      family: { type: 'string' },
    },
  });
  const runs = Number(args.runs),
    seed = Number(args.seed);
  const families = {
    api: () => fuzz({ runs, seed }),
    integers: () => fuzzIntegers({ runs: Math.max(10, Math.round(runs / 10)), seed }),
    checkpoints: () => fuzzCheckpoints({ runs: Math.max(10, Math.round(runs / 10)), seed }),
    files: () => fuzzFiles({ runs: Math.max(10, Math.round(runs / 100)), seed }),
    teardown: () => fuzzTeardown({ runs: Math.max(5, Math.round(runs / 2000)), seed }),
  };
  const chosen = args.family ? { [args.family]: families[args.family] } : families;
  let total = 0,
    failed = false;
  for (const [name, run] of Object.entries(chosen)) {
    if (!run) throw new Error(`unknown family ${args.family}`);
    const started = Date.now();
    const result = await run();
    total += result.runs;
    failed ||= result.failures.length > 0;
    const extra =
      name === 'api'
        ? ` over ${result.calls} functions and methods`
        : name === 'checkpoints'
          ? ` (${result.loaded} loaded, ${result.refused} refused)`
          : '';
    console.log(
      `fuzz ${name}: ${result.runs} cases${extra}, ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.failures.length ? `FAILED: ${result.failures.slice(0, 5).join('; ')}` : 'no crash, no hang, every error a JS Error'}`,
    );
  }
  console.log(`fuzz: ${total} cases in all, seed ${seed}, on ${os.cpus().length} cores`);
  process.exitCode = failed ? 1 : 0;
}
