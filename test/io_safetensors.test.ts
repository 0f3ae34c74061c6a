// loadSafetensors / saveSafetensors: a file written by make_fixtures.py from the format's description, round
// trips, and headers that lie (overlapping or out-of-range offsets, huge lengths, bad JSON, mismatched sizes).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Tensor, loadSafetensors, loadSafetensorsMetadata, loadTorch, memory, nn, saveSafetensors, tensor, zeros } from '../lib';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const fixture = (name: string) => path.join(FIX, name);
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')).safetensors;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-safetensors-'));

describe('safetensors', () => {
  it('reads F32, F64 and I64 tensors in header order, bit for bit, and the metadata', () => {
    const t = loadSafetensors(fixture('model.safetensors'));
    expect(Object.keys(t)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', 'steps', 'scale']); // the header's order
    for (const [k, v] of Object.entries(expected) as Array<[string, { dtype: string; shape: number[]; values: Array<number | string> }]>) {
      expect(t[k].dtype).toBe(v.dtype);
      expect(t[k].shape).toEqual(v.shape);
      const got = Array.from(t[k].toArray() as ArrayLike<number | bigint>);
      expect(got).toEqual(v.dtype === 'int64' ? v.values.map((s) => BigInt(s)) : v.values);
    }
    expect(loadSafetensorsMetadata(fixture('model.safetensors'))).toEqual({ format: 'pt', note: 'grnewt fixture' });
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.Tanh(), new nn.Linear(3, 2));
    const { steps: _s, scale: _c, ...weights } = t;
    model.loadStateDict(weights);
  });

  it('reads a file written by the reference library (Python safetensors 0.8.0)', () => {
    const t = loadSafetensors(fixture('reference.safetensors'));
    expect(Object.keys(t).sort()).toEqual(['i', 'w']);
    expect(Array.from(t.i.toArray())).toEqual([1n, -2n]);
    expect(t.w.toArray()).toEqual(loadTorch(fixture('torch2_sequential.pt'))['0.weight'].toArray());
    expect(loadSafetensorsMetadata(fixture('reference.safetensors'))).toEqual({ k: 'v' });
  });

  it('round-trips every dtype, 0-dim and empty tensors and metadata; the data starts 8-byte aligned', () => {
    const file = path.join(dir, 'a.safetensors');
    const tensors = {
      w: tensor(
        [
          [1 / 3, -2],
          [Math.PI, NaN],
        ],
        { dtype: 'float64' },
      ),
      f: tensor([0.1, -0, Infinity]),
      i: tensor([1n, -(2n ** 63n)]),
      scalar: tensor(5),
      empty: zeros([0, 3]),
      ['__proto__']: tensor([9]), // computed: a key, not the literal's prototype
    };
    saveSafetensors(file, tensors, { author: 'grnewt', π: '3.14' });
    const bytes = fs.readFileSync(file);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const back = loadSafetensors(file);
    expect(Object.keys(back)).toEqual(Object.keys(tensors));
    for (const [k, t] of Object.entries(tensors)) {
      expect(back[k].dtype).toBe(t.dtype);
      expect(back[k].shape).toEqual(t.shape);
      expect(back[k].toArray()).toEqual(t.toArray());
    }
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype); // "__proto__" was a key, not a prototype
    expect(loadSafetensorsMetadata(file)).toEqual({ author: 'grnewt', π: '3.14' });
  });

  it('reads tensors whose data is not aligned in the file (an unpadded header)', () => {
    const header = Buffer.from(
      JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, d: { dtype: 'F64', shape: [2], data_offsets: [4, 20] } }),
    );
    expect((8 + header.length) % 8).not.toBe(0);
    const data = Buffer.alloc(20);
    data.writeFloatLE(1.5, 0);
    data.writeDoubleLE(Math.PI, 4);
    data.writeDoubleLE(-1 / 3, 12);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const file = path.join(dir, 'unaligned.safetensors');
    fs.writeFileSync(file, Buffer.concat([length, header, data]));
    const t = loadSafetensors(file);
    expect(Array.from(t.a.toArray())).toEqual([1.5]);
    expect(Array.from(t.d.toArray())).toEqual([Math.PI, -1 / 3]);
  });

  /** Loading `file` throws `message` and leaves no tensor behind. */
  function refused(file: string, message: RegExp): void {
    const before = memory().liveTensors;
    expect(() => loadSafetensors(fixture(file))).toThrow(message);
    expect(memory().liveTensors).toBe(before);
  }

  it('refuses overlapping, out-of-range and gapped offsets', () => {
    refused('st_overlap.safetensors', /b: data_offsets \[4, 12\] overlap another tensor's/);
    refused('st_past_end.safetensors', /b: data_offsets \[8, 24\] run past the 16 data bytes/);
    refused('st_gap.safetensors', /the tensors cover 4 of the 8 data bytes/);
  });
  it('refuses huge or out-of-file header lengths and bad JSON', () => {
    refused('st_huge_header.safetensors', /the header claims 4611686018427387904 bytes \(at most 100000000 are read\)/);
    refused('st_header_past_end.safetensors', /the header claims 4096 bytes, the file has 9 after the length/);
    refused('st_bad_json.safetensors', /the header is not JSON/);
  });
  it('refuses a shape whose size differs from its byte range, and dtypes grnewt lacks, by name', () => {
    refused('st_length_mismatch.safetensors', /b: shape \[3\] of F32 needs 12 bytes, data_offsets \[8, 16\] hold 8/);
    refused('st_float16.safetensors', /h has dtype F16; grnewt reads F32, F64 and I64/);
    refused('sequential.pt', /not a valid safetensors file/);
  });
  /** A safetensors file with this header (as JSON) and data section, made here byte by byte. */
  function crafted(header: unknown, data: Buffer, declared?: bigint): string {
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(declared ?? BigInt(json.length));
    const file = path.join(fs.mkdtempSync(path.join(dir, 'crafted-')), 'f.safetensors');
    fs.writeFileSync(file, Buffer.concat([length, json, data]));
    return file;
  }

  it('names a tensor one byte past the data, and a header length one past the limit, by their own reasons', () => {
    const past = crafted({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(7));
    expect(() => loadSafetensors(past)).toThrow(/a: data_offsets \[0, 8\] run past the 7 data bytes/);
    const long = crafted({}, Buffer.alloc(0), 100_000_001n);
    expect(() => loadSafetensors(long)).toThrow(/the header claims 100000001 bytes \(at most 100000000 are read\)/);
  });

  it('refuses a shape with negative sizes (whose product is positive) or whose product is not a safe integer, as the reference does', () => {
    // [-1, -1] multiplies to 1 (8 bytes of F64); [2^52, 2^52, 0] to 0, past 2^53 on the way (the reference's
    // checked multiplication fails there).
    for (const shape of [
      [-1, -1],
      [2 ** 52, 2 ** 52, 0],
    ]) {
      const bytes = shape[0] < 0 ? 8 : 0;
      const file = crafted({ a: { dtype: 'F64', shape, data_offsets: [0, bytes] } }, Buffer.alloc(bytes));
      expect(() => loadSafetensors(file)).toThrow(/a: shape .* is not a list of non-negative integers/);
    }
  });

  it('loads an empty tensor listed after a non-empty one that begins at the same offset', () => {
    const data = Buffer.alloc(8);
    data.writeDoubleLE(-2.5, 0);
    const file = crafted(
      { a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, e: { dtype: 'F32', shape: [0, 2], data_offsets: [0, 0] } },
      data,
    );
    const t = loadSafetensors(file);
    expect([Array.from(t.a.toArray()), t.e.shape]).toEqual([[-2.5], [0, 2]]);
  });

  it('bad arguments are TypeErrors naming them; a failed save leaves the previous file', () => {
    const file = path.join(dir, 'keep.safetensors');
    saveSafetensors(file, { a: tensor([1]) });
    const before = fs.readFileSync(file);
    expect(() => saveSafetensors(file, { a: 1 as unknown as Tensor })).toThrow(/saveSafetensors: tensors\.a must be a Tensor, got 1/);
    expect(() => saveSafetensors(file, { a: tensor([1]) }, { n: 1 as unknown as string })).toThrow(/metadata\.n must be a string/);
    expect(() => saveSafetensors(file, { __metadata__: tensor([1]) })).toThrow(/reserved/);
    expect(() => saveSafetensors(file, [] as never)).toThrow(TypeError);
    // A lone surrogate has no UTF-8: JSON.stringify wrote a \uD800 escape, which the reference reader refuses.
    expect(() => saveSafetensors(file, { 'w\uD800': tensor([1]) })).toThrow(
      /saveSafetensors: the tensor name "w\\ud800" holds a lone UTF-16 surrogate \(\\ud800 at index 1\)/,
    );
    expect(() => saveSafetensors(file, { a: tensor([1]) }, { k: '\uDC00' })).toThrow(/metadata\.k holds a lone UTF-16 surrogate/);
    expect(() => saveSafetensors(file, { a: tensor([1]) }, { '\uDC00': 'v' })).toThrow(/metadata key "\\udc00" holds a lone/);
    expect(() => loadSafetensors(7 as never)).toThrow(/loadSafetensors: file must be a path, got 7/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });
});
