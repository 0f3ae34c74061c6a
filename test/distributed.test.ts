// Several processes on 127.0.0.1 (c10d over Gloo): the collectives, failures, and data-parallel training that
// matches one process on the whole batches. Each rank is a node process running test/fixtures/distributed/worker.cjs
// on the compiled package (npm test compiles it first).
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { ranks, result, run, freePort, WORKER, type Finished } from './distributed_helpers';

const relative = (a: number[], b: number[]) => {
  const scale = Math.max(...b.map(Math.abs), 1e-300);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale;
};

describe('collectives across 2 processes', () => {
  it('allReduce (sum, mean, max, min, several tensors), broadcast, allGather, barrier; the event loop turns meanwhile', async () => {
    const [r0, r1] = (await ranks(['collectives', 'collectives'])).map(result);
    for (const r of [r0, r1]) {
      expect(r.sum).toEqual([3, 30]);
      expect(r.mean).toEqual([1.5, 15]);
      expect(r.max).toEqual([2, 20]);
      expect(r.min).toEqual([1, 10]);
      expect(r.several).toEqual([[1, 1, 1, 1], [2]]);
      expect(r.broadcast).toEqual([6, 7, 8]); // rank 1's values
      expect(r.gathered).toEqual({ shape: [2, 2], values: [0, 0.5, 1, 1.5] });
      expect(r.worldSize).toBe(2);
    }
    expect([r0.rank, r1.rank]).toEqual([0, 1]);
    expect(r0.ticks).toBeGreaterThan(10); // waited ~400 ms for rank 1 without blocking its timers
  }, 60_000);

  it('tensors of another shape or dtype on each rank: every collective is refused on both ranks (Gloo aborted the process, or a broadcast reinterpreted the bytes)', async () => {
    const [r0, r1] = (await ranks(['mismatch', 'mismatch'])).map(result);
    for (const [r, mine] of [
      [r0, { allReduce: 'float32 [2]', broadcast: 'float32 [2]', allGather: 'float32 [1,2]' }],
      [r1, { allReduce: 'float32 [3]', broadcast: 'float64 [2]', allGather: 'float32 [2,2]' }],
    ] as const) {
      for (const call of ['allReduce', 'broadcast', 'allGather'] as const)
        expect(r[call]).toMatch(
          new RegExp(
            `^RangeError: distributed\\.${call}: the ranks' tensors differ in shape or dtype \\(rank \\d has ${mine[call].replace(/[[\]]/g, '\\$&')}\\)`,
          ),
        );
      expect(r.sgd).toMatch(/^RangeError: SGD: distributed: the ranks' tensors differ in shape or dtype/);
      expect(r.after).toEqual([2, 2]);
    }
  }, 60_000);

  it('empty tensors: allGather gives [worldSize, 0, …] (Gloo killed both ranks with SIGFPE), allReduce and broadcast leave them; a mix of dtypes is refused by name', async () => {
    const finished = await ranks(['empty', 'empty']);
    for (const f of finished) expect(f.signal, f.stderr).toBeNull();
    for (const r of finished.map(result)) {
      expect(r.gathered).toEqual({ shape: [2, 0, 3], dtype: 'float64' });
      expect(r.direct).toEqual([2, 3, 0]);
      expect(r.reduced).toEqual([0]);
      expect(r.broadcast).toEqual([2, 0]);
      expect(r.mixed).toBe(
        'TypeError: distributed.allReduce: tensors[1] is float64 on cpu, tensors[0] float32 on cpu: the tensors of one call must share their dtype and device',
      );
      expect(r.after).toEqual([0, 1]);
    }
  }, 60_000);

  it('a peer killed mid-run: the other rank gets an Error naming its rank and the cause at once, then the group refuses further calls', async () => {
    const [survivor, victim] = await ranks(['survivor', 'victim'], { args: { timeoutMs: 30000 } });
    expect(victim.signal).toBe('SIGKILL');
    const r = result(survivor);
    expect(r.name).toBe('Error');
    expect(r.error).toMatch(/^distributed\.allReduce \(rank 0 of 2\) failed: .*(closed|reset|peer)/i);
    expect(r.seconds).toBeLessThan(10); // noticed at once, long before the 30 s timeout
    expect(r.after).toMatch(/process group is broken since an earlier failure/);
    expect(r.initialized).toBe(false); // destroy() worked on a broken group
  }, 60_000);

  it('a peer that never joins: init rejects at the timeout, naming the rank, the rendezvous and how many joined (it took 2.5 × timeoutMs)', async () => {
    const port = await freePort();
    const start = Date.now();
    await expect(g.distributed.init({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 6000 })).rejects.toThrow(
      /^distributed\.init \(rank 0 of 2\): the rendezvous at 127\.0\.0\.1:\d+ failed \(hosting the store, 2 ranks expected, timeout 6000 ms\): only 1 of 2 ranks joined within the timeout$/,
    );
    const seconds = (Date.now() - start) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(6);
    // TCPStore's waitForWorkers gave up silently at 6 s, then Gloo's connect waited 9 s more (15 s in all); the
    // margin is for a loaded machine (exactly the timeout alone; 3 s more seen once while the whole suite ran).
    expect(seconds).toBeLessThan(10.5);
    expect(g.distributed.isInitialized()).toBe(false);
  }, 30_000);

  it('ranks given different world sizes: the one that disagrees with rank 0 is told at once, rank 0 at its timeout', async () => {
    const port = await freePort();
    const env = (rank: number, worldSize: number) => ({
      RANK: String(rank),
      WORLD_SIZE: String(worldSize),
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
    });
    const args = [WORKER, 'collectives', JSON.stringify({ timeoutMs: 3000 })];
    const [r0, r1] = await Promise.all([run(args, env(0, 2), 30_000), run(args, env(1, 3), 30_000)]);
    const message = (f: Finished) => {
      expect(f.code, f.stderr).toBe(1);
      return result({ ...f, stdout: f.stdout.replace(/"fatal"/, '"message"') }).message;
    };
    expect(message(r1)).toMatch(
      /distributed\.init \(rank 1 of 3\): .*: rank 0 hosts a group of 2 ranks, this rank expects 3 \(every rank must be given the same worldSize\)/,
    );
    expect(message(r0)).toMatch(/distributed\.init \(rank 0 of 2\): .*: only 1 of 2 ranks joined within the timeout/);
    expect(r1.seconds).toBeLessThan(r0.seconds);
  }, 60_000);

  it('a rank given twice: the second process to join as it is told so at once; the group of the others works', async () => {
    const port = await freePort();
    const env = (rank: number) => ({ RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
    const args = (lingerMs: number) => [WORKER, 'collectives', JSON.stringify({ timeoutMs: 10000, lingerMs })];
    const [r0, ...ones] = await Promise.all([run(args(5000), env(0), 30_000), run(args(0), env(1), 30_000), run(args(0), env(1), 30_000)]);
    expect(result(r0).sum).toEqual([3, 30]);
    const refused = ones.filter((f) => f.code !== 0);
    expect(refused).toHaveLength(1);
    expect(result({ ...refused[0], stdout: refused[0].stdout.replace(/"fatal"/, '"message"') }).message).toMatch(
      /distributed\.init \(rank 1 of 2\): .*: another process has already joined as rank 1 \(each rank must be given once\)/,
    );
    expect(result(ones.find((f) => f.code === 0)!).sum).toEqual([3, 30]);
  }, 60_000);

  it('a port held by a program that accepts and never answers: init rejects after the timeout (it hung for ever)', async () => {
    const silent = net.createServer((socket) => socket.on('data', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const start = Date.now();
    try {
      await expect(
        g.distributed.init({ rank: 1, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 1500 }),
      ).rejects.toThrow(
        new RegExp(
          `distributed\\.init \\(rank 1 of 2\\): the rendezvous at 127\\.0\\.0\\.1:${port} failed .*is another program listening on that port`,
        ),
      );
      expect(Date.now() - start).toBeLessThan(10_000);
      expect(g.distributed.isInitialized()).toBe(false);
    } finally {
      silent.close();
    }
  }, 30_000);
});

describe('data-parallel training: 2 processes on half batches = 1 process on whole batches', () => {
  it('NewtonSummary (periodHg 5), SGD and Adam, 20 steps in float64, step() and stepAsync(): same parameters to 1e-10, bit-identical across ranks', async () => {
    const [d0, d1, ref] = await Promise.all([ranks(['train', 'train']), run([WORKER, 'reference'], {}, 60_000)]).then(([two, one]) => [
      ...two.map(result),
      result(one),
    ]);
    // stepAsync(): the same numbers, the collectives waited for off the JS thread.
    for (const name of ['newton', 'sgd', 'adam', 'newtonAsync', 'adamAsync']) {
      expect(d1[name].params, `${name}: rank 1 = rank 0 bit for bit`).toEqual(d0[name].params);
      const [a, b] = [d0[name].params.flat(), ref[name.replace(/Async$/, '')].params.flat()];
      expect(relative(a, b), `${name}: against one process`).toBeLessThan(1e-10);
    }
    expect(d1.newton.lrs).toEqual(d0.newton.lrs);
    expect(d0.newton.found).toBe(4); // 20 steps / periodHg 5: every update found learning rates
    expect(relative(d0.newton.lrs, ref.newton.lrs)).toBeLessThan(1e-10);
    expect(Math.min(...d0.newton.lrs)).toBeGreaterThan(0);
  }, 90_000);

  it('combined summaries (3 + 5 examples, weighted by shard size) equal computeHg on the union batch', async () => {
    const [r0, r1] = (await ranks(['combine', 'combine'])).map(result);
    for (const r of [r0, r1]) {
      for (const k of ['H', 'g', 'order3'] as const) expect(relative(r.combined[k], r.union[k]), k).toBeLessThan(1e-12);
      expect(relative(r.local.H, r.union.H)).toBeGreaterThan(1e-3); // one rank's part alone is not the union's
    }
    expect(r1.combined).toEqual(r0.combined);
  }, 60_000);
});

describe('in one process', () => {
  it('before init: state, and clear errors', async () => {
    expect(g.distributed.isInitialized()).toBe(false);
    expect(g.distributed.availableBackends()).toContain('gloo');
    expect(() => g.distributed.rank()).toThrow(/distributed\.rank: no process group; call await distributed\.init\(\) first/);
    await expect(g.distributed.allReduce(g.ones([2]))).rejects.toThrow(/no process group/);
    expect(() => new g.optim.SGD([g.ones([2], { requiresGrad: true })], { lr: 1, distributed: true })).toThrow(
      /SGD: distributed: true needs a process group/,
    );
    await expect(g.fit(g.trainConfig({ data: { source: 'embedded' }, epochs: 1 }), { distributed: true })).rejects.toThrow(
      /fit: distributed: true needs a process group/,
    );
    await expect(g.fit(g.trainConfig({ data: { source: 'embedded' }, epochs: 1 }), { distributed: 'yes' as never })).rejects.toThrow(
      /fit: distributed must be a boolean/,
    );
  });

  it('bad options are refused, naming them (also from the environment)', async () => {
    await expect(g.distributed.init({ rank: 2, worldSize: 2 })).rejects.toThrow(RangeError);
    await expect(g.distributed.init({ rank: 2, worldSize: 2 })).rejects.toThrow(/rank must be in \[0, 1\] \(worldSize 2\), got 2/);
    await expect(g.distributed.init({ masterPort: 70000 })).rejects.toThrow(/masterPort must be an integer ≤ 65535|masterPort/);
    await expect(g.distributed.init({ backend: 'mpi' as never })).rejects.toThrow(/backend must be 'gloo' or 'nccl'/);
    await expect(g.distributed.init({ bogus: 1 } as never)).rejects.toThrow(/bogus/);
    expect(() => g.distributed.resolveInitOptions({ worldSize: 1 })).not.toThrow();
    process.env.WORLD_SIZE = 'two';
    try {
      expect(() => g.distributed.resolveInitOptions()).toThrow(/worldSize from the environment \(WORLD_SIZE="two"\)/);
    } finally {
      delete process.env.WORLD_SIZE;
    }
  });

  it('a group of one: collectives are identities, optimizers with distributed: true step as without; init twice is refused; destroy then init again', async () => {
    const port = await freePort();
    await g.distributed.init({ rank: 0, worldSize: 1, masterPort: port, timeoutMs: 10000 });
    try {
      expect([g.distributed.rank(), g.distributed.worldSize(), g.distributed.backend()]).toEqual([0, 1, 'gloo']);
      await expect(g.distributed.init({ rank: 0, worldSize: 1, masterPort: port })).rejects.toThrow(/already initialised/);
      const t = g.tensor([1, 2, 3], { dtype: 'float64' });
      expect((await g.distributed.allReduce(t, 'mean')).tolist()).toEqual([1, 2, 3]);
      expect((await g.distributed.allGather(t)).shape).toEqual([1, 3]);
      await expect(g.distributed.broadcast(t, 1)).rejects.toThrow(/src must be an integer ≤ 0|src/);
      await expect(g.distributed.allReduce(t, 'prod' as never)).rejects.toThrow(/op must be one of sum, mean, max, min/);
      await expect(g.distributed.allReduce(g.tensor([1, 2], { dtype: 'int64' }), 'mean')).rejects.toThrow(
        /^distributed\.allReduce: 'mean' needs float tensors, tensor 0 is int64/,
      );
      const p = g.tensor([1, 2], { requiresGrad: true });
      const q = g.tensor([1, 2], { requiresGrad: true });
      const a = new g.optim.SGD([p], { lr: 0.5, distributed: true });
      const b = new g.optim.SGD([q], { lr: 0.5 });
      for (const [x, opt] of [
        [p, a],
        [q, b],
      ] as const) {
        x.mul(x).sum().backward();
        opt.step();
      }
      expect(p.tolist()).toEqual(q.tolist());
      const r = g.tensor([1, 2, 3], { requiresGrad: true });
      const noGrad = new g.optim.Adam([p, r], { distributed: true });
      expect(() => noGrad.step()).toThrow(/Adam\.step: distributed: parameter 1 \(shape \[3\]\) has no gradient on rank 0/);
      await g.distributed.barrier();
    } finally {
      await g.distributed.destroy();
    }
    expect(g.distributed.isInitialized()).toBe(false);
    await g.distributed.init({ rank: 0, worldSize: 1, masterPort: await freePort() });
    await g.distributed.destroy();
  });
});
