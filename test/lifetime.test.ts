// Native memory: freed by dispose()/Symbol.dispose at once, or by the garbage collector; never used after free.
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import { emptyCache, keep, memory, models, ones, resetPeakMemory, setCacheLimit, type Tensor, tensor, tidy, zeros } from '../lib';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.warn('garbage-collector tests skipped: global.gc is missing (run node with --expose-gc, as vitest.config.ts does)');

async function collectGarbage(): Promise<void> {
  // A few collections and event-loop turns: other native objects' finalizers run from the event loop.
  for (let i = 0; i < 5; i++) {
    gc!();
    await tick();
  }
}

describe('tensor lifetime', () => {
  it('dispose frees the handle now, and is idempotent', () => {
    const before = memory();
    const t = zeros([256, 256], { dtype: 'float64' });
    expect(memory().liveTensors).toBe(before.liveTensors + 1);
    expect(memory().bytes).toBe(before.bytes + 256 * 256 * 8);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    const after = memory();
    expect([after.liveTensors, after.bytes]).toEqual([before.liveTensors, before.bytes]);
  });

  it('keeps freed large blocks for reuse, up to its limit; emptyCache returns them', () => {
    emptyCache();
    const start = memory().allocator;
    expect(start).toMatchObject({ enabled: true, cachedBlocks: 0, cachedBytes: 0 });
    const limit = start.limitBytes;
    expect(Math.abs(limit - os.totalmem() / 4)).toBeLessThan(os.totalmem() / 400); // a quarter of the RAM
    zeros([300, 300], { dtype: 'float64' }).dispose(); // 720,000 bytes: size class 11 · 64 KiB
    expect(memory().allocator).toMatchObject({ cachedBlocks: 1, cachedBytes: 720896, misses: start.misses + 1 });
    const again = zeros([300, 299], { dtype: 'float64' }); // 717,600 bytes: the same class, served from the cache
    expect(memory().allocator).toMatchObject({ cachedBlocks: 0, cachedBytes: 0, hits: start.hits + 1 });
    expect(again.sum().item()).toBe(0); // reused blocks are still written by the op that takes them
    again.dispose();
    zeros([10], { dtype: 'float64' }).dispose(); // small blocks go to malloc
    expect(memory().allocator.cachedBlocks).toBe(1);
    emptyCache();
    expect(memory().allocator).toMatchObject({ cachedBlocks: 0, cachedBytes: 0 });
    setCacheLimit(0);
    zeros([300, 300], { dtype: 'float64' }).dispose();
    expect(memory().allocator.cachedBlocks).toBe(0);
    // Over the limit, the least recently freed blocks make room: blocks of 720,896 then 851,968 bytes,
    // then one of 720,896 again with room for two — the 851,968 one stays, the older 720,896 one goes.
    setCacheLimit(1_600_000);
    const [a, b, c] = [
      zeros([300, 300], { dtype: 'float64' }),
      zeros([1000, 100], { dtype: 'float64' }),
      zeros([300, 299], { dtype: 'float64' }),
    ];
    a.dispose();
    b.dispose();
    expect(memory().allocator).toMatchObject({ cachedBlocks: 2, cachedBytes: 720896 + 851968 });
    c.dispose();
    expect(memory().allocator).toMatchObject({ cachedBlocks: 2, cachedBytes: 720896 + 851968 });
    const hits = memory().allocator.hits;
    zeros([1000, 100], { dtype: 'float64' }).dispose();
    expect(memory().allocator.hits).toBe(hits + 1);
    setCacheLimit(limit);
    expect(() => setCacheLimit(-1)).toThrow(RangeError);
    expect(() => setCacheLimit('1' as never)).toThrow(TypeError);
  });

  it('counts the tensor memory in use and its peak', () => {
    const base = memory().allocator.inUseBytes;
    resetPeakMemory();
    const a = zeros([1000, 100], { dtype: 'float64' }); // 800,000 bytes: size class 13 · 64 KiB
    const b = zeros([10], { dtype: 'float64' });
    const held = memory().allocator.inUseBytes - base;
    expect(held).toBe(851968 + 80);
    a.dispose();
    b.dispose();
    expect(memory().allocator.inUseBytes).toBe(base);
    expect(memory().allocator.peakBytes).toBe(base + held);
    resetPeakMemory();
    expect(memory().allocator.peakBytes).toBe(base);
  });

  it("GRNEWT_CPU_CACHE=0 leaves libtorch's allocator in place", () => {
    const script = "const g = require('./dist'); g.zeros([300, 300]).dispose(); console.log(JSON.stringify(g.memory().allocator))";
    const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, GRNEWT_CPU_CACHE: '0' }, encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({ enabled: false, cachedBlocks: 0, peakBytes: 0, hits: 0, misses: 0 });
  });

  it('use after dispose is a clear error, never a crash', () => {
    const t = ones([2]);
    t.dispose();
    expect(() => t.toArray()).toThrow('toArray: the tensor has been disposed');
    expect(() => t.add(1)).toThrow('add: the tensor has been disposed');
    expect(() => ones([2]).add(t)).toThrow('add: the tensor has been disposed');
    expect(() => t.shape).toThrow(/disposed/);
    expect(String(t)).toBe('Tensor(disposed)');
  });

  it('Symbol.dispose frees the tensor (what `using` calls at the end of a block)', () => {
    const before = memory().liveTensors;
    {
      using t = ones([3]);
      expect(t.sum().item()).toBe(3); // the sum's own handle stays until GC
    }
    expect(memory().liveTensors).toBe(before + 1);
  });

  it('disposing one handle leaves other tensors sharing its data intact', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const view = x.detach();
    x.dispose();
    expect(view.toArray()).toEqual(Float32Array.from([1, 2, 3]));
  });

  it('a gradient outlives the disposal of the tensor it was read from', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    x.mul(x).sum().backward();
    const grad = x.grad!;
    x.dispose();
    expect(grad.toArray()).toEqual(Float64Array.from([2, 4]));
  });

  it.runIf(gc)('the garbage collector frees tensors that were never disposed', async () => {
    await collectGarbage();
    const before = memory();
    (() => {
      for (let i = 0; i < 1000; i++) ones([64]).mul(2).exp();
    })();
    expect(memory().liveTensors).toBeGreaterThan(before.liveTensors);
    await collectGarbage();
    const after = memory();
    expect([after.liveTensors, after.bytes, after.allocator.inUseBytes]).toEqual([
      before.liveTensors,
      before.bytes,
      before.allocator.inUseBytes,
    ]);
  });

  it('a synchronous loop that never disposes holds nothing per dropped tensor once collected', () => {
    // Node runs N-API finalizers only between event-loop turns: handles that waited for theirs piled up in a
    // loop that never returns (~180 bytes a tensor, 35 MiB for these 200,000), whatever the collector did.
    const script = `const g = require('./dist'); const rss = () => process.memoryUsage().rss;
      for (let i = 0; i < 20000; i++) g.ones([1]); gc(); const before = rss();
      for (let k = 0; k < 20; k++) { for (let i = 0; i < 10000; i++) g.ones([1]); gc(); }
      console.log((rss() - before) / 2 ** 20)`;
    const growthMiB = Number(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
    expect(growthMiB).toBeLessThan(10);
  });

  it('the tensors of collected handles are freed while the program is idle (no new handle to start a sweep)', () => {
    // With libtorch's own allocator (no cache) the freed 64 MiB leave the process; memory() would sweep itself.
    const script = `const g = require('./dist'); const rss = () => process.memoryUsage().rss;
      (() => { g.zeros([16, 1024, 1024]); })(); gc(); const held = rss();
      setTimeout(() => console.log((held - rss()) / 2 ** 20), 2500)`;
    const env = { ...process.env, GRNEWT_CPU_CACHE: '0' };
    const freedMiB = Number(execFileSync(process.execPath, ['--expose-gc', '-e', script], { env, encoding: 'utf8' }));
    expect(freedMiB).toBeGreaterThan(60);
  });

  it.runIf(gc)('native bytes are reported to V8, so large unreferenced tensors are collected without explicit gc', async () => {
    const before = memory().bytes;
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      zeros([1024, 1024]); // 4 MiB each, 800 MiB if none were freed
      peak = Math.max(peak, memory().bytes - before);
      await tick();
    }
    expect(peak).toBeLessThan(400 * 1024 * 1024);
  });

  it('tidy disposes the temporaries of a block and keeps what it returns', () => {
    const x = ones([3]);
    const before = memory().liveTensors;
    const { y, scalar } = tidy(() => {
      const a = x.mul(2).add(1); // two temporaries
      return { y: a.exp(), scalar: 5 };
    });
    expect(scalar).toBe(5);
    expect(memory().liveTensors).toBe(before + 1);
    expectArray(y.toArray(), Math.exp(3));
    expect(x.isDisposed).toBe(false); // made outside the scope
  });

  it('tidy keeps the tensors it returns at any depth of arrays and plain objects (nested ones were freed)', () => {
    const before = memory().liveTensors;
    const cyclic: Record<string, unknown> = {};
    const result = tidy(() => {
      ones([1]).mul(2); // a temporary
      cyclic.self = cyclic;
      cyclic.t = ones([1]);
      return { loss: ones([1]), outputs: [ones([2]), { deep: [[ones([3])]] }], batches: [[ones([1]), ones([1])]], cyclic };
    });
    const kept = [result.loss, result.outputs[0], result.outputs[1].deep[0][0], ...result.batches[0], cyclic.t] as Array<
      ReturnType<typeof ones>
    >;
    for (const t of kept) expect(t.isDisposed).toBe(false);
    expect(memory().liveTensors).toBe(before + kept.length);
  });

  it('tidy scopes nest: what the inner returns belongs to the outer', () => {
    const before = memory().liveTensors;
    let inner!: ReturnType<typeof ones>;
    const outer = tidy(() => {
      inner = tidy(() => ones([2]).mul(3));
      return [inner.add(1)];
    });
    expect(inner.isDisposed).toBe(true);
    expect(outer[0].isDisposed).toBe(false);
    expect(memory().liveTensors).toBe(before + 1);
  });

  it('keep exempts a tensor from every enclosing scope; errors still free the scope', () => {
    const before = memory().liveTensors;
    let kept!: ReturnType<typeof ones>;
    expect(() =>
      tidy(() => {
        kept = keep(ones([2]));
        ones([2]).mul(2);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(kept.isDisposed).toBe(false);
    expect(memory().liveTensors).toBe(before + 1);
    expect(() => tidy(42 as never)).toThrow(TypeError);
  });
});

function expectArray(values: ArrayLike<number | bigint>, each: number): void {
  for (const v of Array.from(values)) expect(Number(v)).toBeCloseTo(each, 5);
}

describe('tidy and modules', () => {
  it('a model built inside tidy keeps its parameters (they belong to it)', () => {
    const model = tidy(() => new models.Perceptron([4, 3]));
    expect(model.parameters().every((p) => !p.isDisposed)).toBe(true);
    expect(model.forward(ones([2, 4])).shape).toEqual([2, 3]);
  });

  it('tidy refuses an async function before running it', () => {
    let ran = false;
    expect(() =>
      tidy((async () => {
        ran = true;
      }) as never),
    ).toThrow(/^tidy: fn must be synchronous/);
    expect(ran).toBe(false);
  });

  it('tidy refusing a returned Promise frees its scope and leaves no unhandled rejection (computeHgAsync on NaN input ended the process)', () => {
    const made: Tensor[] = [];
    expect(() =>
      tidy(() => {
        made.push(zeros([3]));
        return Promise.reject(new Error('the work failed'));
      }),
    ).toThrow(/^tidy: fn must be synchronous/);
    expect(made[0].isDisposed).toBe(true);
    const script = `const g = require('./dist');
      const m = new g.models.Perceptron([3, 2]);
      const x = g.tensor(NaN).mul(g.ones([4, 3]));
      const direction = m.parameters().map((p) => g.zeros(p.shape));
      const loss = (a, b) => g.losses.nll(m.forward(a), b);
      try { g.tidy(() => g.computeHgAsync(g.partition.canonical(m).paramGroups, loss, x, g.zeros([4], { dtype: 'int64' }), direction)); }
      catch (e) { console.log(e.message.slice(0, 32)); }
      setTimeout(() => console.log('alive'), 200);`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim()).toBe('tidy: fn must be synchronous (an\nalive');
  });
});

describe("grnewt's environment variables", () => {
  it('a value grnewt cannot use is named at the first call (GRNEWT_MAX_TENSOR_MB=abc refused every tensor); empty counts as unset', () => {
    const script =
      "const g = require('./dist'); try { g.zeros([2]); console.log('ok') } catch (e) { console.log(e.name + ': ' + e.message) }";
    const runWith = (env: Record<string, string>) =>
      execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
    expect(runWith({ GRNEWT_MAX_TENSOR_MB: 'abc' })).toBe('Error: GRNEWT_MAX_TENSOR_MB must be a whole number of MiB ≥ 1, got "abc"');
    expect(runWith({ GRNEWT_TAYLOR_ROUTE: 'bogus' })).toBe("Error: GRNEWT_TAYLOR_ROUTE must be 'jets' or 'adjoint', got \"bogus\"");
    expect(runWith({ GRNEWT_WINOGRAD: 'off' })).toBe('Error: GRNEWT_WINOGRAD must be 0 (ATen’s convolutions only) or 1, got "off"');
    expect(runWith({ GRNEWT_MAX_TENSOR_MB: '', GRNEWT_CPU_CACHE_LIMIT_MB: '64', GRNEWT_WINOGRAD: '0' })).toBe('ok');
  });
});
