import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { load, ones, save, tensor } from '../lib';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grnewt-ckpt-'));

describe('checkpoints', () => {
  it('round-trip trees of plain values and tensors of every dtype, bit for bit', () => {
    const file = path.join(dir, 'a.ckpt');
    const tree = {
      epoch: 3,
      name: 'run',
      done: false,
      none: null,
      best: Infinity,
      worst: -Infinity,
      missing: NaN,
      list: [1, 'two', { three: tensor([3], { dtype: 'int64' }) }],
      w: tensor(
        [
          [1 / 3, -2],
          [Math.PI, 1e-300],
        ],
        { dtype: 'float64' },
      ),
      f: tensor([0.1, 0.2, 0.3]),
      empty: tensor([]),
    };
    save(file, tree);
    const back = load(file);
    expect(back.epoch).toBe(3);
    expect(back.name).toBe('run');
    expect(back.done).toBe(false);
    expect(back.none).toBeNull();
    expect([back.best, back.worst]).toEqual([Infinity, -Infinity]);
    expect(back.missing).toBeNaN();
    expect(back.list[2].three.toArray()).toEqual(BigInt64Array.from([3n]));
    expect(back.w.shape).toEqual([2, 2]);
    expect(back.w.toArray()).toEqual(tree.w.toArray());
    expect(back.f.dtype).toBe('float32');
    expect(back.f.toArray()).toEqual(tree.f.toArray());
    expect(back.empty.shape).toEqual([0]);
  });

  it('refuses truncated and corrupted files with the reason', () => {
    const file = path.join(dir, 'b.ckpt');
    save(file, { w: ones([100], { dtype: 'float64' }) });
    const bytes = fs.readFileSync(file);
    const truncated = path.join(dir, 'truncated.ckpt');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 50));
    expect(() => load(truncated)).toThrow(/not a valid grnewt checkpoint: checksum mismatch/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 100] ^= 0x01;
    const corrupt = path.join(dir, 'corrupt.ckpt');
    fs.writeFileSync(corrupt, flipped);
    expect(() => load(corrupt)).toThrow(/checksum mismatch/);
    const other = path.join(dir, 'other.ckpt');
    fs.writeFileSync(other, 'not a checkpoint at all');
    expect(() => load(other)).toThrow(/bad magic number/);
  });

  it('a failed write leaves the previous checkpoint intact and no temporary file behind', () => {
    const file = path.join(dir, 'c.ckpt');
    save(file, { step: 1 });
    const disposed = ones([2]);
    disposed.dispose();
    expect(() => save(file, { step: 2, w: disposed })).toThrow(/disposed/);
    expect(() => save(file, { step: 2, when: new Date() })).toThrow(/cannot hold/);
    expect(load(file)).toEqual({ step: 1 });
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a process killed in the middle of writing leaves the previous checkpoint intact', () => {
    const file = path.join(dir, 'd.ckpt');
    save(file, { step: 1 });
    const entry = path.join(__dirname, '..', 'dist', 'index.js');
    // The child starts a large save and kills itself (SIGKILL) from inside fs.writeSync, midway.
    const script = `
      const fs = require('node:fs');
      const g = require(${JSON.stringify(entry)});
      const write = fs.writeSync;
      fs.writeSync = (fd, buf, ...rest) => { write(fd, buf.subarray(0, buf.length >> 1)); process.kill(process.pid, 'SIGKILL'); };
      g.save(${JSON.stringify(file)}, { step: 2, w: g.zeros([1000000]) });`;
    const result = spawnSync(process.execPath, ['-e', script]);
    expect(result.signal).toBe('SIGKILL');
    expect(load(file)).toEqual({ step: 1 });
  });
});
