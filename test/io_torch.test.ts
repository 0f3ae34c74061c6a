// loadTorch / saveTorch: files written by Python's torch.save (test/fixtures/torch, made by make_fixtures.py),
// weights-only refusals, and round trips with the Python torch on this machine when it has one.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { Tensor, cuda, loadTorch, memory, models, nn, resetPeakMemory, saveTorch, tensor, zeros } from '../lib';
import fc from 'fast-check';
import { native } from '../lib/core/native';
import { unpickle } from '../lib/io/pickle_reader';
import { PickleWriter } from '../lib/io/pickle_writer';
import { readZip, writeZip } from '../lib/io/zip_archive';
import { expectClose } from './helpers';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const fixture = (name: string) => path.join(FIX, name);
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-torchio-'));

interface Values {
  dtype: string;
  shape: number[];
  values: Array<number | string>;
}
const PY_SPECIAL: Record<string, number> = { inf: Infinity, '-inf': -Infinity, nan: NaN };
const numbers = (v: Values) => v.values.map((x) => (typeof x === 'string' ? (PY_SPECIAL[x] ?? Number(x)) : x));

/** The tensor holds exactly what Python saw: dtype, shape and every value bit for bit. */
function expectValues(t: unknown, v: Values): void {
  expect(t).toBeInstanceOf(Tensor);
  const x = t as Tensor;
  expect(x.dtype).toBe(v.dtype);
  expect(x.shape).toEqual(v.shape);
  const got = Array.from(x.toArray() as ArrayLike<number | bigint>);
  if (v.dtype === 'int64') expect(got).toEqual(v.values.map((s) => BigInt(s as string)));
  else expect(got).toEqual(numbers(v)); // toEqual treats NaN as equal to NaN
}

const asInput = (v: Values) => tensor(Float64Array.from(numbers(v)), { shape: v.shape, dtype: v.dtype as 'float32' | 'float64' });

/** Native tensors still reachable from JS: collected handles are not counted (memory() frees their tensors). */
function reachableTensors(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return memory().liveTensors;
}

describe('loadTorch: files written by torch.save', () => {
  it("a Sequential's state_dict: names in order, values bit for bit, same outputs as in Python", () => {
    const e = expected.sequential;
    const sd = loadTorch(fixture('sequential.pt'));
    expect(Object.keys(sd)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    for (const [k, v] of Object.entries(e.state)) expectValues(sd[k], v as Values);
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.Tanh(), new nn.Linear(3, 2));
    model.loadStateDict(sd);
    const y = model.forward(asInput(e.x));
    expectClose(y.toArray() as Float32Array, numbers(e.y) as number[], 1e-6, 1e-6);
  });

  it("a Perceptron's state_dict (float64) loads into models.Perceptron and gives Python's log-probabilities", () => {
    const e = expected.perceptron;
    const sd = loadTorch(fixture('perceptron.pt'));
    expect(Object.keys(sd)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    const model = new models.Perceptron(e.sizes, { dtype: 'float64' });
    model.loadStateDict(sd);
    expectClose(model.forward(asInput(e.x)).toArray() as Float64Array, numbers(e.y) as number[], 1e-12, 1e-12);
  });

  it('an Adam state_dict(): int keys as strings, tuples as arrays, floats, None, booleans, 0-dim tensors', () => {
    const sd = loadTorch(fixture('adam.pt'));
    expect(Object.keys(sd.state)).toEqual(['0', '1']);
    for (const [i, s] of Object.entries(expected.adam.state)) {
      for (const [k, v] of Object.entries(s as Record<string, Values>)) expectValues(sd.state[i][k], v);
    }
    expect(sd.param_groups).toHaveLength(1);
    const g = sd.param_groups[0];
    for (const [k, v] of Object.entries(expected.adam.param_groups[0])) expect(g[k]).toEqual(v);
    expect(g.betas).toEqual([0.9, 0.999]);
    expect(g.params).toEqual([0, 1]);
  });

  it('mixed dtypes and plain values: float32/float64/int64 (inf, nan, extremes), ints beyond 2^53 as bigints', () => {
    const m = loadTorch(fixture('mixed.pt'));
    for (const [k, v] of Object.entries(expected.mixed)) expectValues(m[k], v as Values);
    expect(m.int).toBe(42);
    expect(m.negative).toBe(-70000);
    expect(m.big).toBe(2n ** 60n);
    expect(m.huge).toBe(2n ** 70n);
    expect(m.float).toBe(0.1);
    expect(m.nan).toBeNaN();
    expect(m.text).toBe('σ ✓');
    expect([m.yes, m.no, m.none]).toEqual([true, false, null]);
    expect(m.nested).toEqual([1, [2, 'three'], { four: [4] }]);
  });

  it('views of one storage: strides and offsets as Python sees them, and one shared memory', () => {
    const v = loadTorch(fixture('views.pt'));
    for (const [k, e] of Object.entries(expected.views)) expectValues(v[k], e as Values);
    v.base.assign(zeros([3, 4]), true); // write through one view...
    for (const k of ['t', 'row', 'col', 'strided', 'tail']) {
      expect(Array.from(v[k].toArray() as Float32Array).every((x) => x === 0)).toBe(true); // ...the others see it
    }
  });

  it('one-element containers (APPEND, SETITEM), tuples and OrderedDicts', () => {
    const o = loadTorch(fixture('one_element.pt'));
    expect(Object.keys(o)).toEqual(['list', 'dict', 'tuple', 'ordered']);
    expect(o.list).toHaveLength(1);
    expect(Array.from(o.list[0].toArray())).toEqual([1, 2]);
    expect(o.dict).toEqual({ a: 1 });
    expect(o.tuple).toEqual([5]);
    expect(o.ordered).toEqual({ x: 2 });
  });

  it('nn.Parameter, alone and in a dict, as a tensor that keeps requires_grad', () => {
    const p = loadTorch(fixture('parameter.pt'));
    expectValues(p, expected.parameter);
    expect(p.requiresGrad).toBe(true);
    const d = loadTorch(fixture('parameters.pt'));
    expect(d.p.requiresGrad).toBe(true);
    expect(d.frozen.requiresGrad).toBe(false);
    expectValues(d.p, expected.parameter);
    const layer = new nn.Linear(3, 2);
    layer.loadStateDict({ weight: d.p, bias: d.frozen }); // a Parameter that requires grad is copied like any tensor
    expect(layer.namedParameters()[0][1].toArray()).toEqual(d.p.toArray());
  });

  it('Module.loadStateDict names mismatched keys and shapes of a loaded file', () => {
    const sd = loadTorch(fixture('sequential.pt'));
    expect(() => new models.Perceptron([4, 3, 2]).loadStateDict(sd)).toThrow(/missing: \["layers\.0\.weight".*unexpected: \["0\.weight"/);
    expect(() => new nn.Sequential(new nn.Linear(4, 5), new nn.Tanh(), new nn.Linear(5, 2)).loadStateDict(sd)).toThrow(
      /0\.weight has shape \[3,4\], the model's is \[5,4\]/,
    );
  });

  it("PyTorch 2.x's layout (byteorder, .format_version, .storage_alignment, .data/serialization_id, 64-byte alignment) and a big-endian file", () => {
    for (const file of ['v2_layout.pt', 'big_endian.pt']) {
      const sd = loadTorch(fixture(file));
      for (const [k, v] of Object.entries(expected.sequential.state)) expectValues(sd[k], v as Values);
    }
  });

  /** `file` (written by saveTorch) rewritten: each record and the pickle through `edit`. */
  function rewritten(file: string, edit: (name: string, data: Uint8Array) => Uint8Array): string {
    const entries = [...readZip(fs.readFileSync(file), file)].map(([name, data]) => [name, edit(name, data)] as const);
    const out = `${file}.edited.pt`;
    fs.writeFileSync(
      out,
      writeZip(entries, (name) => name.startsWith('archive/data/'), 'test'),
    );
    return out;
  }

  it('a big-endian file of float64 and int64 tensors: each 8-byte element is reversed whole', () => {
    // The big-endian fixture holds float32 only; here a saveTorch file with its byteorder record set to "big"
    // and every element's bytes reversed, so the values must come back as they were written.
    const file = path.join(dir, 'be8.pt');
    saveTorch(file, { d: tensor([1.5, -Math.PI, 2 ** 60], { dtype: 'float64' }), i: tensor([1n, -2n, 2n ** 62n + 3n]) });
    const big = rewritten(file, (name, data) => {
      if (name === 'archive/byteorder') return Buffer.from('big');
      if (!name.startsWith('archive/data/')) return data;
      const swapped = Buffer.from(data);
      for (let k = 0; k < swapped.length; k += 8) swapped.subarray(k, k + 8).reverse();
      return swapped;
    });
    const back = loadTorch(big);
    expect(Array.from(back.d.toArray())).toEqual([1.5, -Math.PI, 2 ** 60]);
    expect(Array.from(back.i.toArray())).toEqual([1n, -2n, 2n ** 62n + 3n]);
  });

  it("a plain tensor saved with requires_grad=True (_rebuild_tensor_v2's fifth argument) loads requiring grad", () => {
    // saveTorch writes requires_grad False (NEWFALSE, 0x89, just before the backward hooks' OrderedDict):
    // set to NEWTRUE (0x88) it is what torch.save(torch.ones(2, requires_grad=True)) writes there.
    const file = path.join(dir, 'rg.pt');
    saveTorch(file, { t: tensor([1, 2]) });
    const hooks = Buffer.from('ccollections\nOrderedDict\n');
    const withGrad = rewritten(file, (name, data) => {
      if (name !== 'archive/data.pkl') return data;
      const pickle = Buffer.from(data);
      const at = pickle.indexOf(hooks);
      expect(pickle[at - 1]).toBe(0x89);
      pickle[at - 1] = 0x88;
      return pickle;
    });
    expect([loadTorch(file).t.requiresGrad, loadTorch(withGrad).t.requiresGrad]).toEqual([false, true]);
  });

  it("Parameter(data) instantiated by NEWOBJ without requires_grad requires grad (Python's default)", () => {
    // saveTorch's pickle of { t } ends with the tensor's REDUCE, SETITEMS, STOP: the tensor wrapped here as
    // torch.nn.parameter.Parameter(tensor) (GLOBAL before it, TUPLE1 and NEWOBJ after it).
    const file = path.join(dir, 'newobj.pt');
    saveTorch(file, { t: tensor([1, 2]) });
    const edited = rewritten(file, (name, data) => {
      if (name !== 'archive/data.pkl') return data;
      const pickle = Buffer.from(data);
      const start = pickle.indexOf(Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n'));
      expect(pickle.subarray(-2).toString('latin1')).toBe('u.');
      return Buffer.concat([
        pickle.subarray(0, start),
        Buffer.from('ctorch.nn.parameter\nParameter\n', 'latin1'),
        pickle.subarray(start, -2),
        Buffer.from([0x85, 0x81, 0x75, 0x2e]),
      ]);
    });
    const t = loadTorch(edited).t;
    expect([Array.from(t.toArray()), t.requiresGrad]).toEqual([[1, 2], true]);
  });

  it('one storage key used with two element counts is refused, naming both', () => {
    // saveTorch writes { a: t, b: t } as one storage "0" of 2 elements, referenced twice; the second reference's
    // count (the BININT1 after "cpu") set to 1.
    const file = path.join(dir, 'twice.pt');
    const t = tensor([1, 2]);
    saveTorch(file, { a: t, b: t });
    const cpu = Buffer.from([0x58, 3, 0, 0, 0, ...Buffer.from('cpu')]);
    const edited = rewritten(file, (name, data) => {
      if (name !== 'archive/data.pkl') return data;
      const pickle = Buffer.from(data);
      const second = pickle.indexOf(cpu, pickle.indexOf(cpu) + 1) + cpu.length;
      expect([pickle[second], pickle[second + 1]]).toEqual([0x4b, 2]);
      pickle[second + 1] = 1;
      return pickle;
    });
    expect(() => loadTorch(edited)).toThrow(/storage 0 is used as torch\.FloatStorage of 1 and as float32 of 2 elements/);
  });

  it('torch.device(type, index) reads as "type:index", torch.device(type) as "type"', () => {
    const w = new PickleWriter().proto().emptyDict().mark();
    w.string('d').global('torch', 'device').mark().string('cuda').int(1).tuple().reduce();
    w.string('e').global('torch', 'device').mark().string('cpu').tuple().reduce();
    const pickle = w.setItems().stop().bytes();
    const file = path.join(dir, 'device.pt');
    fs.writeFileSync(
      file,
      writeZip(
        [
          ['archive/data.pkl', pickle],
          ['archive/version', Buffer.from('3\n')],
        ],
        () => false,
        'test',
      ),
    );
    expect(loadTorch(file)).toEqual({ d: 'cuda:1', e: 'cpu' });
    // OrderedDict(5): its argument must be a list of pairs (5 failed as "is not iterable", naming nothing)
    const bad = new PickleWriter().proto().global('collections', 'OrderedDict').mark().int(5).tuple().reduce().stop().bytes();
    fs.writeFileSync(
      file,
      writeZip([['archive/data.pkl', bad]], () => false, 'test'),
    );
    expect(() => loadTorch(file)).toThrow(/OrderedDict called with \[5\]/);
  });

  it('files written by PyTorch 2.11 (torch2_*.pt): a Sequential gives its outputs, views share memory, a CUDA save lands on the CPU', () => {
    const e = JSON.parse(fs.readFileSync(fixture('torch2_expected.json'), 'utf8'));
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.Tanh(), new nn.Linear(3, 2));
    model.loadStateDict(loadTorch(fixture('torch2_sequential.pt')));
    expectClose(model.forward(tensor(e.x)).toArray() as Float32Array, e.y.flat(), 1e-6, 1e-6);
    const m = loadTorch(fixture('torch2_mixed.pt'));
    expect(Array.from(m.t.toArray())).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(m.row.toArray())).toEqual([4, 5, 6, 7]);
    expect(m.p.requiresGrad).toBe(true);
    expect(Array.from(m.i.toArray())).toEqual([2n ** 62n]);
    expect(m.d.dtype).toBe('float64');
    expect([m.lr, m.tup, m.od]).toEqual([0.5, [1], { a: 1 }]);
    m.t.assign(zeros([4, 3]), true);
    expect(Array.from(m.row.toArray())).toEqual([0, 0, 0, 0]); // b.t() and b[1] share b's storage
    const c = loadTorch(fixture('torch2_cuda.pt'));
    expect([c.w.device, Array.from(c.w.toArray())]).toEqual(['cpu', [1, 1, 1]]);
  });

  it('a hand-made strided tensor (size (2, 2), stride (1, 2)) is the transpose of its storage', () => {
    expect(Array.from(loadTorch(fixture('hand_made.pt')).w.toArray())).toEqual([1, 3, 2, 4]);
  });

  it('CUDA-saved tensors go to the requested device (CPU by default)', () => {
    const c = loadTorch(fixture('cuda.pt'));
    expect(c.w.device).toBe('cpu');
    expect(Array.from(c.w.toArray())).toEqual([1, 2, 3]);
    if (cuda.isAvailable()) {
      const g = loadTorch(fixture('cuda.pt'), { device: 'cuda' });
      expect(g.w.device).toMatch(/^cuda/);
      expect(Array.from(g.w.toArray())).toEqual([1, 2, 3]);
    } else {
      expect(() => loadTorch(fixture('cuda.pt'), { device: 'cuda' })).toThrow(TypeError);
    }
  });
});

describe('loadTorch: weights only, malformed files refused', () => {
  const MARKER = '/tmp/grnewt-torch-fixture-executed';

  /** Loading `file` throws `message`, executes nothing and leaves no tensor behind. */
  function refused(file: string, message: RegExp): void {
    fs.rmSync(MARKER, { force: true });
    const before = reachableTensors();
    expect(() => loadTorch(fixture(file))).toThrow(message);
    expect(reachableTensors()).toBe(before);
    expect(fs.existsSync(MARKER)).toBe(false);
  }

  it('a pickle that calls os.system is refused at the global, naming it', () =>
    refused('malicious_os_system.pt', /Python global os\.system.*nothing was executed/));
  it('builtins.eval through STACK_GLOBAL is refused, naming it', () => refused('malicious_eval.pt', /Python global builtins\.eval/));
  it('INST (instantiating a class by name) is refused', () => refused('malicious_inst.pt', /opcode 0x69 \(INST\)/));
  it('REDUCE on a value that is not an allowed global is refused', () =>
    refused('malicious_reduce_dict.pt', /REDUCE on a dict, which is not an allowed global/));
  it('BUILD on a tensor (the legacy set_ path) is refused', () => refused('malicious_build.pt', /BUILD on Tensor is not allowed/));
  it('a persistent id that is not a storage is refused', () => refused('malicious_persid.pt', /persistent id "module" is not a storage/));

  it('a storage larger than its record is refused before anything is allocated', () => {
    resetPeakMemory();
    const peak = memory().allocator.peakBytes;
    refused('huge_numel.pt', /storage 0 holds 16 bytes, 1099511627776 × float32 need 4398046511104/);
    expect(memory().allocator.peakBytes - peak).toBeLessThan(1 << 20);
  });
  it('views that read past their storage are refused', () => {
    refused('view_past_end.pt', /size \[3\], stride \[2\] at offset 0 reads past the end of storage 0 \(4 elements\)/);
    refused('offset_past_end.pt', /at offset 4 reads past the end/);
  });
  it('a storage without its record is refused', () => refused('missing_storage.pt', /storage 0 has no record archive\/data\/0/));
  it('dtypes grnewt lacks are refused by name', () => refused('float16.pt', /dtype float16 \(torch\.HalfStorage\)/));
  it('the legacy format, compressed entries and truncated files are refused with the reason', () => {
    refused('legacy.pt', /legacy \(pre-1\.6/);
    refused('deflated.pt', /is compressed \(method 8\)/);
    refused('truncated.pt', /not a readable zip archive/);
    refused('model.safetensors', /not a file written by torch\.save/);
  });
  it('the native view checks its bounds too (defence behind the JS check)', () => {
    const base = tensor([1, 2, 3, 4]);
    expect(() => native().asStrided(base.handle('test'), [3], [2], 0)).toThrow(/reaches past the end of its storage/);
    expect(() => native().asStrided(base.handle('test'), [2 ** 40], [2 ** 40], 0)).toThrow(/reaches past the end/);
    expect(() => native().asStrided(base.handle('test'), [1], [-1], 0)).toThrow(/strides must be an integer in 0\.\.\d+, got -1/);
    expect(Array.from(new Tensor(native().asStrided(base.handle('test'), [2, 2], [1, 2], 0)).toArray())).toEqual([1, 3, 2, 4]);
  });
  it('bad arguments are TypeErrors naming them', () => {
    expect(() => loadTorch(3 as never)).toThrow(/loadTorch: file must be a path, got 3/);
    expect(() => loadTorch(fixture('sequential.pt'), { dev: 'cpu' } as never)).toThrow(/unknown option "dev"/);
    expect(() => loadTorch(fixture('sequential.pt'), { device: 'tpu' } as never)).toThrow(TypeError);
  });
});

describe('loadTorch: damaged pickles', () => {
  // The Sequential's file with its data.pkl truncated or with bytes changed (fixed seed): every load returns
  // or throws an Error, and a failed one leaves no tensor behind.
  const records = [...readZip(fs.readFileSync(fixture('sequential.pt')), 'fixture')];
  const pickle = records.find(([n]) => n.endsWith('/data.pkl'))![1];
  const file = path.join(dir, 'damaged.pt');
  /** Loads damaged bytes: an Error or a value (dropped at once): a failed load that left tensors shows at the end. */
  const attempt = (bytes: Uint8Array): void => {
    fs.writeFileSync(
      file,
      writeZip(
        records.map(([n, d]) => [n, n.endsWith('/data.pkl') ? bytes : d] as const),
        () => false,
        'test',
      ),
    );
    try {
      loadTorch(file);
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
    }
  };

  it('every truncation of the pickle is refused', () => {
    const before = reachableTensors();
    for (let n = 0; n < pickle.length; n++) {
      expect(() => loadTorchOf(pickle.subarray(0, n))).toThrow(/loadTorch: /);
      expect(reachableTensors()).toBe(before);
    }
  });

  it('random byte changes give an Error or a value, never a crash or a leak (fast-check, 400 runs)', () => {
    const before = reachableTensors();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(pickle.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (changes) => {
          const bytes = pickle.slice();
          for (const [i, b] of changes) bytes[i] = b;
          attempt(bytes);
        },
      ),
      { seed: 17, numRuns: 400 },
    );
    expect(reachableTensors()).toBe(before);
  });

  it("LONG1/LONG4 integers: two's complement, little-endian, exact beyond 2^53; a 256 KB one loads at once", () => {
    /** A pickle of one LONG4 integer of `le` (little-endian two's complement). */
    const long4 = (le: number[] | Uint8Array) => {
      const head = Buffer.from([0x80, 2, 0x8b, 0, 0, 0, 0]);
      head.writeInt32LE(le.length, 3);
      return Buffer.concat([head, Buffer.from(le), Buffer.from([0x2e])]);
    };
    const cases: Array<[number[], number | bigint]> = [
      [[], 0],
      [[0x7f], 127],
      [[0x80], -128],
      [[0xff], -1],
      [[0x00, 0x80], -32768],
      [[0xff, 0x00], 255],
      [[1, 0, 0, 0, 0, 0, 0, 0, 1], 2n ** 64n + 1n],
      [[0, 0, 0, 0, 0, 0, 0, 0, 0xff], -(2n ** 64n)],
      [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f], 2 ** 53 - 1],
    ];
    for (const [le, value] of cases) expect(loadTorchOf(long4(le))).toBe(value);
    // Shifting a bigint in byte by byte was quadratic: 256 KB took about a minute (320 KB two), 2 MB hours.
    const big = new Uint8Array(2 ** 18).fill(0x41);
    const started = Date.now();
    expect(loadTorchOf(long4(big))).toBe(BigInt(`0x${'41'.repeat(2 ** 18)}`));
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  function loadTorchOf(bytes: Uint8Array): unknown {
    fs.writeFileSync(
      file,
      writeZip(
        records.map(([n, d]) => [n, n.endsWith('/data.pkl') ? bytes : d] as const),
        () => false,
        'test',
      ),
    );
    return loadTorch(file);
  }
});

/** The byte offset of each stored entry's data, read from the local headers in file order. */
function dataOffsets(file: string): Map<string, number> {
  const b = fs.readFileSync(file);
  const out = new Map<string, number>();
  for (let at = 0; b.readUInt32LE(at) === 0x04034b50; ) {
    const nameLength = b.readUInt16LE(at + 26),
      extraLength = b.readUInt16LE(at + 28);
    const name = b.subarray(at + 30, at + 30 + nameLength).toString();
    const start = at + 30 + nameLength + extraLength;
    out.set(name, start);
    at = start + b.readUInt32LE(at + 18);
  }
  return out;
}

describe('the pickle reader and writer, opcode by opcode', () => {
  const noGlobals = { resolveGlobal: () => undefined, persistentLoad: () => undefined };
  const read = (hex: string) => unpickle(Buffer.from(hex, 'hex'), noGlobals, 'test');

  it("writes each integer with the opcode and bytes of Python's pickle.dumps(v, protocol=2)", () => {
    // Expected bytes: Python 3's pickle.dumps(v, protocol=2).hex(); for bigints (always LONG1 here),
    // '8a' + length + pickle.encode_long(v).hex().
    const cases: Array<[number | bigint, string]> = [
      [0, '80024b002e'],
      [255, '80024bff2e'],
      [256, '80024d00012e'],
      [300, '80024d2c012e'],
      [65535, '80024dffff2e'],
      [65536, '80024a000001002e'],
      [-1, '80024affffffff2e'],
      [-129, '80024a7fffffff2e'],
      [2 ** 31 - 1, '80024affffff7f2e'],
      [-(2 ** 31), '80024a000000802e'],
      [2 ** 31, '80028a0500000080002e'],
      [-(2 ** 31) - 1, '80028a05ffffff7fff2e'],
      [2n ** 63n, '80028a090000000000000080002e'],
      [-(2n ** 63n), '80028a0800000000000000802e'],
      [2n ** 64n, '80028a090000000000000000012e'],
      [-(2n ** 64n), '80028a090000000000000000ff2e'],
      [128n, '80028a0280002e'],
      [255n, '80028a02ff002e'],
      [-128n, '80028a01802e'],
    ];
    for (const [v, hex] of cases) {
      expect([v, new PickleWriter().proto().int(v).stop().bytes().toString('hex')]).toEqual([v, hex]);
      expect(read(hex)).toEqual(typeof v === 'bigint' && v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v);
    }
  });

  it("reads protocol 0's INT 00/01 as booleans, protocol 5, bool dict keys as Python prints them, and MEMOIZE's numbering", () => {
    expect(read(Buffer.from('I00\nI01\n\x86.', 'latin1').toString('hex'))).toEqual([false, true]);
    expect(read('80054e2e')).toBe(null); // PROTO 5, NONE, STOP
    expect(() => read('80064e2e')).toThrow(/pickle protocol 6 is newer than 5/);
    // {True: 1, 2: 'x'}: EMPTY_DICT MARK NEWTRUE BININT1 1 BININT1 2 SHORT_BINUNICODE 'x' SETITEMS STOP
    expect(read('80027d28884b014b028c0178752e')).toEqual({ True: 1, 2: 'x' });
    // PROTO 4, EMPTY_LIST, MEMOIZE (memo 0), BINGET 0, TUPLE2: one list twice
    const [a, b] = read('80045d946800862e') as unknown[];
    expect(a).toEqual([]);
    expect(a).toBe(b);
  });

  it('refuses SETITEMS with a key and no value', () => {
    // EMPTY_DICT MARK BININT1 1 BININT1 2 BININT1 3 SETITEMS STOP
    expect(() => read('80027d284b014b024b03752e')).toThrow(/SETITEMS with an odd number of items/);
  });
});

describe('saveTorch', () => {
  it('writes trees 512 levels deep (as save() does; torch.load in Python reads them) and refuses deeper ones by name, before any file', () => {
    const nested = (levels: number): unknown => {
      let tree: unknown = 1;
      for (let i = 0; i < levels; i++) tree = i % 2 ? { a: tree } : [tree];
      return tree;
    };
    const file = path.join(dir, 'deep.pt');
    saveTorch(file, nested(512));
    expect(loadTorch(file)).toEqual(nested(512));
    for (const levels of [513, 100000]) {
      const deeper = path.join(dir, `deeper-${levels}.pt`);
      // 100000 levels exhausted the stack with no name
      expect(() => saveTorch(deeper, nested(levels))).toThrow(/^saveTorch: value[[\].a0]+… is nested more than 512 levels deep$/);
      expect(fs.existsSync(deeper)).toBe(false);
    }
  });

  it('round-trips nested containers of every dtype, numbers (whole ones beyond 2^53 too), bigints, strings, booleans and null', () => {
    const file = path.join(dir, 'tree.pt');
    const w = tensor(
      [
        [1 / 3, -2],
        [Math.PI, 1e-300],
      ],
      { dtype: 'float64' },
    );
    const value = {
      w,
      f: tensor([0.1, -0, Infinity]),
      i: tensor([1n, -(2n ** 63n), 2n ** 62n]),
      scalar: tensor(5),
      empty: zeros([0, 2]),
      again: w,
      n: 42,
      neg: -70000,
      big: 2n ** 60n,
      huge: -(2n ** 70n),
      // numbers whole but beyond 2^53 stay numbers (written as floats: as ints they read back as bigints)
      bigNumber: 2 ** 60,
      hugeNumber: -1e300,
      x: 0.5,
      nan: NaN,
      minusZero: -0,
      s: 'σ',
      t: true,
      no: false,
      nothing: null,
      list: [1, [2, 'three'], { four: [4] }],
      emptyList: [],
      emptyObject: {},
      one: [tensor([7])],
    };
    saveTorch(file, value);
    const back = loadTorch(file);
    expect(Object.keys(back)).toEqual(Object.keys(value));
    for (const k of ['w', 'f', 'i', 'scalar', 'empty', 'again'] as const) {
      expect(back[k].dtype).toBe(value[k].dtype);
      expect(back[k].shape).toEqual(value[k].shape);
      expect(back[k].toArray()).toEqual(value[k].toArray());
    }
    expect(Object.is(back.f.toArray()[1], -0)).toBe(true);
    const { w: _w, f: _f, i: _i, scalar: _s, empty: _e, again: _a, one, ...plain } = back;
    const { w: _w2, f: _f2, i: _i2, scalar: _s2, empty: _e2, again: _a2, one: one2, ...plainIn } = value;
    expect(plain).toEqual(plainIn);
    expect(Object.is(back.minusZero, -0)).toBe(true);
    expect(Array.from(one[0].toArray())).toEqual(Array.from(one2[0].toArray()));
  });

  it("strings keep lone surrogates and a leading U+FEFF (Python's pickle 'surrogatepass'): keys '\\uD800' and '\\uDC00' both became U+FFFD, one value lost", () => {
    const file = path.join(dir, 'surrogates.pt');
    const value = { '\uD800': 1, '\uDC00': 2, '\uFEFFkey': '\uFEFF', s: 'a\uDC00b\u{1F600}\uD83D' };
    saveTorch(file, value);
    expect(loadTorch(file)).toEqual(value);
  });

  it("writes PyTorch's container: archive/data.pkl, byteorder, one record per distinct tensor aligned to 64 bytes, version", () => {
    const file = path.join(dir, 'layout.pt');
    const a = tensor([1, 2, 3]);
    saveTorch(file, { a, b: tensor([4, 5], { dtype: 'float64' }), c: a });
    const names = Object.keys(unzipSync(fs.readFileSync(file)));
    expect(names).toEqual(['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/data/1', 'archive/version']);
    const offsets = dataOffsets(file);
    for (const n of ['archive/data/0', 'archive/data/1']) expect(offsets.get(n)! % 64).toBe(0);
    const back = loadTorch(file);
    back.a.assign(zeros([3]), true);
    expect(Array.from(back.c.toArray())).toEqual([0, 0, 0]); // the same Tensor twice: one storage
  });

  it('a sparse array keeps its length and indices: holes are written as None, as undefined is ([1, , 3] came back [1, 3])', () => {
    const file = path.join(dir, 'holes.pt');
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    saveTorch(file, { a: [1, , 3], b: [undefined, 2] });
    expect(loadTorch(file)).toEqual({ a: [1, null, 3], b: [null, 2] });
  });

  it('a dict key "__proto__" stays a key (never sets a prototype), written and read', () => {
    const file = path.join(dir, 'proto.pt');
    saveTorch(file, { ['__proto__']: { polluted: true }, a: 1 });
    const back = loadTorch(file);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')!.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses what a PyTorch file cannot hold, naming where, and leaves the previous file', () => {
    const file = path.join(dir, 'keep.pt');
    saveTorch(file, { w: tensor([1]) });
    const before = fs.readFileSync(file);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => saveTorch(file, { a: [new Map()] })).toThrow(/saveTorch: value\.a\[0\] is Map/);
    expect(() => saveTorch(file, { f: () => 1 })).toThrow(TypeError);
    expect(() => saveTorch(file, cyclic)).toThrow(/value\.self contains itself/);
    expect(() => saveTorch('', {})).toThrow(/file must be a path/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

// ---- round trips with Python's torch (Debian's python3-torch; scripts/setup.sh installs it) -------------
const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
const torchVersion = probe.status === 0 ? probe.stdout.trim() : null;
if (!torchVersion) console.log(`io_torch: Python round trips skipped: ${PYTHON} cannot import torch (apt-get install python3-torch)`);

// biome-ignore lint/suspicious/noExplicitAny: Python's JSON output, read by each test as it expects it
function python(code: string): any {
  const r = spawnSync(PYTHON, ['-c', `import json, torch\n${PERCEPTRON_PY}\n${code}`], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// grnewt's Perceptron (tanh, no scaling, log-softmax), written in PyTorch.
const PERCEPTRON_PY = `
class Perceptron(torch.nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
    def forward(self, x):
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = torch.tanh(x)
        return torch.log_softmax(x, 1)
`;

describe.skipIf(!torchVersion)(`round trips with Python's torch ${torchVersion ?? '(absent)'}`, () => {
  it('a Perceptron saved in Python, loaded here, gives the same outputs to 1e-6', () => {
    const file = path.join(dir, 'py_perceptron.pt');
    const { x, y } = python(`
torch.manual_seed(3)
m = Perceptron([5, 4, 3])
x = torch.randn(6, 5)
torch.save(m.state_dict(), ${JSON.stringify(file)})
print(json.dumps({'x': x.tolist(), 'y': m(x).tolist()}))`);
    const model = new models.Perceptron([5, 4, 3]);
    model.loadStateDict(loadTorch(file));
    expectClose(model.forward(tensor(x)).toArray() as Float32Array, y.flat(), 1e-6, 1e-6);
  });

  it('a model initialised and trained here, saved with saveTorch, loads in Python with weights_only=True and gives the same outputs', () => {
    const model = new models.Perceptron([5, 4, 3]);
    const x = tensor(Array.from({ length: 6 }, (_, i) => Array.from({ length: 5 }, (_, j) => Math.sin(i * 5 + j))));
    const target = tensor([0, 1, 2, 0, 1, 2], { dtype: 'int64' });
    for (let step = 0; step < 3; step++) {
      // a few plain gradient steps, so the weights are no longer the initial ones
      model.zeroGrad();
      model
        .forward(x)
        .gather(1, target.reshape([6, 1]))
        .mean()
        .neg()
        .backward();
      for (const p of model.parameters()) p.assign(p.sub(p.grad!.mul(0.5)), true);
    }
    const file = path.join(dir, 'js_perceptron.pt');
    saveTorch(file, model.stateDict());
    const y = python(`
m = Perceptron([5, 4, 3])
print(m.load_state_dict(torch.load(${JSON.stringify(file)}, weights_only=True)), file=__import__('sys').stderr)
x = torch.tensor(${JSON.stringify(Array.from({ length: 6 }, (_, i) => Array.from({ length: 5 }, (_, j) => Math.fround(Math.sin(i * 5 + j)))))})
print(json.dumps(m(x).tolist()))`);
    expectClose(model.forward(x).toArray() as Float32Array, y.flat(), 1e-6, 1e-6);
  });

  it('a float64 Sequential round-trips through Python: saved here, re-saved by Python, loaded back bit for bit', () => {
    const model = new nn.Sequential(new nn.Linear(3, 4, { dtype: 'float64' }), new nn.Tanh(), new nn.Linear(4, 2, { dtype: 'float64' }));
    const a = path.join(dir, 'js_seq.pt'),
      b = path.join(dir, 'py_seq.pt');
    saveTorch(a, model.stateDict());
    python(`
m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
m.load_state_dict(torch.load(${JSON.stringify(a)}, weights_only=True))
torch.save(m.state_dict(), ${JSON.stringify(b)})
print('{}')`);
    const back = loadTorch(b);
    for (const [k, p] of model.namedParameters()) expect(back[k].toArray()).toEqual(p.toArray());
  });

  it('containers of ints, strings, booleans, None and tensors of every dtype load with weights_only=True', () => {
    const file = path.join(dir, 'js_tree.pt');
    saveTorch(file, {
      i: tensor([1n, -(2n ** 63n)]),
      f: tensor([0.5, -1.5], { dtype: 'float64' }),
      n: 7,
      big: 2n ** 60n,
      neg: -3,
      s: 'σ',
      ok: true,
      none: null,
      list: [1, ['two']],
      one: { a: tensor([2]) },
    });
    const got = python(`
d = torch.load(${JSON.stringify(file)}, weights_only=True)
print(json.dumps({'types': {k: type(v).__name__ for k, v in d.items()}, 'i': d['i'].tolist(), 'idtype': str(d['i'].dtype), 'f': d['f'].tolist(), 'fdtype': str(d['f'].dtype),
  'n': d['n'], 'big': str(d['big']), 'neg': d['neg'], 's': d['s'], 'ok': d['ok'], 'none': d['none'], 'list': d['list'], 'a': d['one']['a'].tolist()}))`);
    expect(got.types).toEqual({
      i: 'Tensor',
      f: 'Tensor',
      n: 'int',
      big: 'int',
      neg: 'int',
      s: 'str',
      ok: 'bool',
      none: 'NoneType',
      list: 'list',
      one: 'dict',
    });
    expect(got).toMatchObject({
      i: [1, -(2 ** 63)],
      idtype: 'torch.int64',
      f: [0.5, -1.5],
      fdtype: 'torch.float64',
      n: 7,
      big: String(2n ** 60n),
      neg: -3,
      s: 'σ',
      ok: true,
      none: null,
      list: [1, ['two']],
      a: [2],
    });
  });

  it("lone surrogates and a leading U+FEFF in keys and strings, both ways (Python's pickle reads and writes them with 'surrogatepass')", () => {
    const file = path.join(dir, 'js_surrogates.pt');
    saveTorch(file, { '\uD800': 1, '\uDC00': 2, '\uFEFFkey': 'a\uDC00' });
    const fromPython = path.join(dir, 'py_surrogates.pt');
    const got = python(`
d = torch.load(${JSON.stringify(file)}, weights_only=True)
torch.save({'\\ud800': torch.ones(1), '\\ufeffv': 'x\\udc00'}, ${JSON.stringify(fromPython)})
print(json.dumps([[ord(c) for c in k] + [-1] + ([ord(c) for c in v] if isinstance(v, str) else [v]) for k, v in d.items()]))`);
    expect(got).toEqual([
      [0xd800, -1, 1],
      [0xdc00, -1, 2],
      [0xfeff, 0x6b, 0x65, 0x79, -1, 0x61, 0xdc00],
    ]);
    const back = loadTorch(fromPython);
    expect(Object.keys(back)).toEqual(['\uD800', '\uFEFFv']);
    expect(back['\uFEFFv']).toBe('x\uDC00');
  });

  it('non-integer numbers: read by weights_only=True on PyTorch ≥ 2.0; 1.13 lacks BINFLOAT in that mode and reads them with weights_only=False', () => {
    const file = path.join(dir, 'js_floats.pt');
    saveTorch(file, { lr: 0.001, betas: [0.9, 0.999], inf: Infinity });
    const got = python(`
v = tuple(int(p) for p in torch.__version__.split('.')[:2])
try:
    d = torch.load(${JSON.stringify(file)}, weights_only=True); how = 'weights_only'
except Exception as e:
    assert v < (2, 0), e
    d = torch.load(${JSON.stringify(file)}, weights_only=False); how = 'full'
print(json.dumps({'how': how, 'lr': d['lr'], 'betas': d['betas'], 'inf': str(d['inf'])}))`);
    expect(got).toMatchObject({ lr: 0.001, betas: [0.9, 0.999], inf: 'inf' });
    expect(got.how).toBe(torchVersion!.startsWith('1.') ? 'full' : 'weights_only');
  });
});
