// Checkpoints against hostile files and hostile directories: crafted headers with a valid CRC, sources that
// never end, symlinks planted where save() writes, temp files of killed writers, and sizes past 2 GiB
// (written in chunks; the chunking is exercised with tiny chunks rather than by writing 2 GiB).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { load, loadSafetensors, loadSafetensorsMetadata, loadTorch, ones, save, saveSafetensors, saveTorch, tensor } from '../lib';
import { MAX_DEPTH, writeCheckpoint } from '../lib/io/checkpoint';
import { craftCheckpoint } from '../scripts/fuzz.mjs';
import { writeChunked, writeFileAtomic } from '../lib/io/atomic_file';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-ckpt-robust-'));
let counter = 0;
const fresh = (name = 'f.ckpt') => path.join(fs.mkdtempSync(path.join(dir, `${counter++}-`)), name);

/** A checkpoint file with this header (a value, or its JSON text) and data section and a correct CRC. */
function craft(header: unknown, data: Buffer): string {
  const file = fresh();
  craftCheckpoint(file, typeof header === 'string' ? header : JSON.stringify(header), data);
  return file;
}

const t = (over: Record<string, unknown> = {}) => ({ $tensor: { dtype: 'float32', shape: [2], offset: 0, bytes: 8, ...over } });

describe('crafted checkpoints (valid CRC) are refused as "not a valid checkpoint"', () => {
  const cases: Array<[string, unknown, Buffer]> = [
    ['a negative offset', { w: t({ offset: -8 }) }, Buffer.alloc(8)],
    ['$tensor: null', { w: { $tensor: null } }, Buffer.alloc(0)],
    ['bytes -1', { w: t({ bytes: -1 }) }, Buffer.alloc(8)],
    ["bytes 7 (not the shape's 8)", { w: t({ bytes: 7 }) }, Buffer.alloc(8)],
    ['a fractional offset', { w: t({ offset: 0.5 }) }, Buffer.alloc(8)],
    ['a string offset', { w: t({ offset: '0' }) }, Buffer.alloc(8)],
    ['an unknown dtype', { w: t({ dtype: 'int8', bytes: 2 }) }, Buffer.alloc(2)],
    ['a dtype inherited from Object.prototype', { w: t({ dtype: 'toString' }) }, Buffer.alloc(8)],
    ['a negative size', { w: t({ shape: [-2], bytes: -8 }) }, Buffer.alloc(8)],
    ['a shape that is not an array', { w: t({ shape: 2 }) }, Buffer.alloc(8)],
    ['a shape too large to exist', { w: t({ shape: [2 ** 40, 2 ** 40], bytes: 2 ** 82 }) }, Buffer.alloc(8)],
    ['overlapping tensors', { a: t(), b: t({ offset: 4 }) }, Buffer.alloc(12)],
    ['one blob referenced twice', { a: t(), b: t() }, Buffer.alloc(8)],
    ['one blob referenced 64 times', { list: Array.from({ length: 64 }, () => t()) }, Buffer.alloc(8)],
    ['a tensor past the end', { w: t({ offset: 8 }) }, Buffer.alloc(8)],
    ['data no tensor uses', { w: t() }, Buffer.alloc(16)],
    ['a $tensor wrapper with extra keys', { w: { ...t(), extra: 1 } }, Buffer.alloc(8)],
    ['a bogus $number', { x: { $number: 'lots' } }, Buffer.alloc(0)],
    ['a $number that is not a string', { x: { $number: 5 } }, Buffer.alloc(0)],
    ['a $number inherited from Object.prototype (it read back as a function)', { x: { $number: 'toString' } }, Buffer.alloc(0)],
    ['nesting 100000 levels deep', '['.repeat(100000) + ']'.repeat(100000), Buffer.alloc(0)],
    // load() reads a node at depth MAX_DEPTH (513 nested arrays: the root is depth 0), as deep as save() writes
    ['nesting one level past MAX_DEPTH (514 nested arrays)', `${'['.repeat(MAX_DEPTH + 2)}${']'.repeat(MAX_DEPTH + 2)}`, Buffer.alloc(0)],
    ['a shape of 65 dimensions (at most 64)', { w: t({ shape: Array(65).fill(1), bytes: 4 }) }, Buffer.alloc(4)],
  ];
  for (const [what, header, data] of cases) {
    it(what, () => {
      expect(() => load(craft(header, data))).toThrow(/is not a valid grnewt checkpoint: /);
    });
  }

  it('a well-formed crafted file loads (the checks refuse structure, not files grnewt did not write)', () => {
    const data = Buffer.alloc(8);
    data.writeFloatLE(1.5, 0);
    data.writeFloatLE(-2, 4);
    const back = load(
      craft({ w: t(), n: { $number: '-Infinity' }, e: { $tensor: { dtype: 'int64', shape: [0, 3], offset: 8, bytes: 0 } } }, data),
    );
    expect(Array.from(back.w.toArray())).toEqual([1.5, -2]);
    expect(back.n).toBe(-Infinity);
    expect(back.e.shape).toEqual([0, 3]);
  });

  it('loads an empty tensor listed after a non-empty one at the same offset (ties sorted by size: it was taken as an overlap)', () => {
    const back = load(craft({ w: t(), e: { $tensor: { dtype: 'float64', shape: [0], offset: 0, bytes: 0 } } }, Buffer.alloc(8)));
    expect([back.w.shape, back.e.shape]).toEqual([[2], [0]]);
  });

  it('loads a tree 513 arrays deep (as deep as save() writes)', () => {
    let depth = 0;
    for (
      let v: unknown = load(craft(`${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}`, Buffer.alloc(0)));
      Array.isArray(v);
      v = v[0]
    )
      depth++;
    expect(depth).toBe(MAX_DEPTH + 1);
  });

  it('names the reason: a tensor one byte past the end of the data, a file shorter than preamble and CRC', () => {
    expect(() => load(craft({ w: t() }, Buffer.alloc(7)))).toThrow(
      /a tensor runs past the end of the data \(offset 0, 8 bytes, the data has 7\)/,
    );
    const whole = fs.readFileSync(craft({}, Buffer.alloc(0)));
    for (const n of [8, 16, 19]) {
      const short = fresh();
      fs.writeFileSync(short, whole.subarray(0, n));
      expect(() => load(short)).toThrow(/bad magic number \(not a checkpoint, or truncated\)/);
    }
  });
});

describe("a tree's values read back as they were saved", () => {
  it('-0 stays -0 (JSON wrote it as 0)', () => {
    const file = fresh();
    save(file, { z: -0, list: [0, -0] });
    const back = load<{ z: number; list: number[] }>(file);
    expect(Object.is(back.z, -0)).toBe(true);
    expect(back.list.map((x) => Object.is(x, -0))).toEqual([false, true]);
  });

  it("an object of the tree with a wrapper's key is refused when saved (it read back as a number, or not at all)", () => {
    for (const [value, key] of [
      [{ $number: 'NaN' }, '$number'],
      [{ $tensor: { dtype: 'float32', shape: [1], offset: 0, bytes: 4 } }, '$tensor'],
      [{ fine: 1, $tensor: 5 }, '$tensor'],
    ] as const) {
      const file = fresh();
      expect(() => save(file, { config: { deep: [value] } })).toThrow(
        `save: tree.config.deep[0] must not have the key "${key}", got one: checkpoints reserve it to mark numbers and tensors`,
      );
      expect(fs.existsSync(file)).toBe(false);
    }
    const file = fresh();
    save(file, { $ref: 1, a: { number: 2 } }); // other keys beginning with $ are plain keys
    expect(load(file)).toEqual({ $ref: 1, a: { number: 2 } });
  });
});

describe('nesting', () => {
  const nested = (levels: number): unknown => {
    let tree: unknown = 1;
    for (let i = 0; i < levels; i++) tree = i % 2 ? { a: tree } : [tree];
    return tree;
  };
  it('a tree as deep as load() reads is saved and read back; one level deeper is refused by save, before any file', () => {
    const file = fresh();
    save(file, nested(512));
    expect(load(file)).toEqual(nested(512));
    for (const levels of [513, 100000]) {
      const deeper = fresh();
      // save wrote 513 levels, which load then refused (the checkpoint was lost); 100000 exhausted the stack
      expect(() => save(deeper, nested(levels))).toThrow(
        /^save: tree[[\].a0]+… is nested more than 512 levels deep, more than load\(\) reads back$/,
      );
      expect(fs.existsSync(deeper)).toBe(false);
    }
  });
});

describe('reading only regular files', () => {
  it('refuses /dev/zero at once instead of reading forever', () => {
    const started = Date.now();
    expect(() => load('/dev/zero')).toThrow(/is a character device, not a regular file/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a FIFO at once instead of waiting for a writer', () => {
    const fifo = fresh('pipe.ckpt');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect(() => load(fifo)).toThrow(/is a FIFO, not a regular file/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a directory with the reason', () => {
    expect(() => load(dir)).toThrow(/is a directory/);
  });

  it("PyTorch's and safetensors' readers refuse /dev/zero and a FIFO alike (they read /dev/zero until memory ran out, and waited on a FIFO)", () => {
    const fifo = fresh('pipe.pt');
    execFileSync('mkfifo', [fifo]);
    for (const [name, read] of [
      ['loadTorch', loadTorch],
      ['loadSafetensors', loadSafetensors],
      ['loadSafetensorsMetadata', loadSafetensorsMetadata],
    ] as const) {
      expect(() => read('/dev/zero')).toThrow(new RegExp(`^${name}: /dev/zero is a character device, not a regular file`));
      expect(() => read(fifo)).toThrow(new RegExp(`^${name}: .*pipe\\.pt is a FIFO, not a regular file`));
    }
  });
});

describe('writing', () => {
  it('refuses a tree that contains itself, naming where (it overflowed the stack); a shared subtree is written twice', () => {
    const cyclic: Record<string, unknown> = { a: [1] };
    (cyclic.a as unknown[]).push({ back: cyclic });
    expect(() => save(fresh('cycle.ckpt'), cyclic)).toThrow(
      new TypeError('save: tree.a[1].back refers back to an object that contains it: a checkpoint holds trees, not cycles'),
    );
    const shared = { t: tensor([1, 2]) };
    const file = fresh('shared.ckpt');
    save(file, { x: shared, y: shared });
    expect(Array.from(load<{ y: { t: { toArray(): Float32Array } } }>(file).y.t.toArray())).toEqual([1, 2]);
  });

  it('drops properties holding undefined, as JSON does, instead of turning them into null', () => {
    const file = fresh();
    save(file, { config: { limit: undefined, hidden: undefined, epochs: 2 }, list: [undefined, 1] });
    const back = load(file);
    expect(back.config).toEqual({ epochs: 2 });
    expect('limit' in back.config).toBe(false);
    expect(back.list).toEqual([null, 1]);
  });

  it('writes in chunks of at most the chunk size, resuming after partial writes', () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const written: Buffer[] = [];
    let calls = 0;
    // A writer that accepts at most 100 bytes and sometimes less (as write(2) may).
    const write = ((_fd: number, buffer: Uint8Array, offset: number, length: number) => {
      calls++;
      const n = Math.min(length, calls % 3 === 0 ? 17 : 100);
      written.push(Buffer.from(buffer.subarray(offset, offset + n)));
      return n;
    }) as typeof fs.writeSync;
    const lengths: number[] = [];
    writeChunked(0, bytes, 64, ((fd: number, b: Uint8Array, o: number, l: number) => {
      lengths.push(l);
      return write(fd, b, o, l);
    }) as typeof fs.writeSync);
    expect(Buffer.concat(written).equals(bytes)).toBe(true);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(64);
    expect(() => writeChunked(0, bytes, 64, (() => 0) as typeof fs.writeSync)).toThrow(/no progress/);
  });

  it('a checkpoint written 7 bytes at a time is byte-identical to one written at once, and loads', () => {
    const tree = {
      w: tensor(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        { dtype: 'float64' },
      ),
      b: ones([5]),
      i: tensor([7n, -8n]),
      step: 3,
    };
    const [a, b] = [fresh('a.ckpt'), fresh('b.ckpt')];
    writeCheckpoint(a, tree, 7);
    writeCheckpoint(b, tree, 1 << 30);
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
    const back = load(a);
    expect(back.w.toArray()).toEqual(tree.w.toArray());
    expect(back.i.toArray()).toEqual(BigInt64Array.from([7n, -8n]));
  });

  it('saving through a symlink replaces the file it points to, atomically, and keeps the link', () => {
    const target = fresh('real.ckpt');
    const link = path.join(path.dirname(target), 'link.ckpt');
    save(target, { step: 1 });
    fs.symlinkSync('real.ckpt', link);
    save(link, { step: 2 });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(load(target)).toEqual({ step: 2 });
    expect(fs.readdirSync(path.dirname(target)).sort()).toEqual(['link.ckpt', 'real.ckpt']);
  });

  it('refuses to save over something that is not a regular file', () => {
    const fifo = fresh('pipe.ckpt');
    execFileSync('mkfifo', [fifo]);
    expect(() => save(fifo, { step: 1 })).toThrow(/not a regular file/);
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
  });

  it("every writer's failures name the writer (saveTorch and saveSafetensors said 'save:')", () => {
    const folder = fresh('a-folder.pt');
    fs.mkdirSync(folder);
    const missing = path.join(path.dirname(folder), 'absent', 'x.pt');
    const writers: Array<[string, (file: string) => void]> = [
      ['save', (file) => save(file, { a: ones([1]) })],
      ['saveTorch', (file) => saveTorch(file, { a: ones([1]) })],
      ['saveSafetensors', (file) => saveSafetensors(file, { a: ones([1]) })],
    ];
    for (const [name, write] of writers) {
      expect(() => write(folder)).toThrow(new RegExp(`^${name}: .*a-folder\\.pt exists and is not a regular file$`));
      expect(() => write(missing)).toThrow(new RegExp(`^${name}: cannot write .*x\\.pt: the folder .*absent does not exist`));
    }
  });

  it('a symlink planted at the temp file name cannot redirect the write', () => {
    const file = fresh('run.ckpt');
    const victim = path.join(path.dirname(file), 'victim.txt');
    fs.writeFileSync(victim, 'precious');
    const entry = path.join(__dirname, '..', 'dist', 'index.js');
    // The child makes the "random" part of the temp name predictable and plants a symlink at that name first.
    const script = `
      const crypto = require('node:crypto');
      crypto.randomBytes = (n) => Buffer.alloc(n);
      const fs = require('node:fs'), path = require('node:path');
      const file = ${JSON.stringify(file)};
      const plant = (name) => fs.symlinkSync(${JSON.stringify(victim)}, path.join(path.dirname(file), name));
      plant('.run.ckpt.' + process.pid + '.0000000000000000.tmp');
      const now = Date.now(); // and every name of the old scheme, .<name>.<pid>.<ms>.tmp, for the next 3 s
      for (let ms = now; ms < now + 3000; ms++) plant('.run.ckpt.' + process.pid + '.' + ms + '.tmp');
      const g = require(${JSON.stringify(entry)});
      try { g.save(file, { step: 1 }); console.log('saved'); } catch (e) { console.log('refused: ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/refused: .*EEXIST/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('removes temp files left by killed writers, and only those', () => {
    const file = fresh('run.ckpt');
    const d = path.dirname(file);
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
    const old = new Date(Date.now() - 10 * 60_000);
    const stale = path.join(d, `.run.ckpt.${dead}.0123456789abcdef.tmp`);
    const recent = path.join(d, `.run.ckpt.${dead}.fedcba9876543210.tmp`);
    const alive = path.join(d, `.run.ckpt.${process.pid}.00112233445566ff.tmp`);
    const other = path.join(d, `.other.ckpt.${dead}.0123456789abcdef.tmp`);
    // another file's, with a name as long as run.ckpt's (what follows its prefix reads like a temp's suffix)
    const sibling = path.join(d, `.new.ckpt.${dead}.0123456789abcdef.tmp`);
    for (const f of [stale, recent, alive, other, sibling]) fs.writeFileSync(f, 'partial');
    for (const f of [stale, alive, other, sibling]) fs.utimesSync(f, old, old);
    save(file, { step: 1 });
    const left = fs.readdirSync(d);
    expect(left).not.toContain(path.basename(stale));
    for (const f of [recent, alive, other, sibling]) expect(left).toContain(path.basename(f));
  });

  it('a writer that fails midway: its own error as it was, the temp file removed, the previous file intact', () => {
    const file = fresh('mid.bin');
    fs.writeFileSync(file, 'previous');
    const boom = new Error('boom');
    expect(() =>
      writeFileAtomic(file, (put) => {
        put(Buffer.from('partial'));
        throw boom;
      }),
    ).toThrow(boom);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['mid.bin']);
    expect(fs.readFileSync(file, 'utf8')).toBe('previous');
  });
});
