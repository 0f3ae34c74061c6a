// The training engine behind `grnewt train` and for apps: builds the model, data and optimizers from a
// TrainConfig (build.ts), trains each optimizer from the same initialisation, evaluates each epoch
// (evaluate.ts), checkpoints (resume.ts), and reports progress through callbacks. Async: it yields to the
// event loop between steps, so signals (Ctrl-C), timers and UI stay responsive, and an AbortSignal stops it
// cleanly after the current step.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { manualSeed, setNumThreads, getNumThreads, torchVersion } from '../../core/runtime';
import { DataLoader } from '../../data/data_loader';
import type { Module } from '../../nn/module';
import { type Tensor, tidy } from '../../core/tensor';
import { buildModel, buildOptimizer, hyperparameters, lossFor, onDevice, prepareData, type Loss } from './build';
import type { TrainConfig, OptimizerName } from './config';
import { checkTrainConfig } from './config_check';
import type { LoadedData } from './datasets';
import { evaluate } from './evaluate';
import type { EpochMetrics, Metrics, RunMetrics, UpdateRecord } from './metrics';
import { readCheckpoint, writeCheckpoint, type CheckpointTree, type Position, type RunInProgress } from './resume';
import { assertWritable } from '../../io/atomic_file';
import { checkOptions, named, show } from '../../core/validate';
import { StepRate } from './step_rate';
import type { TrainableOptimizer } from './trainable';
import { agreeOnStep, dataParallel, shardOf, type World } from './data_parallel';

export interface StepInfo {
  optimizer: OptimizerName;
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  lrs: number[] | null;
  stepsPerSecond: number;
}

export interface FitCallbacks {
  onData?(description: string): void;
  /** Runs are numbered from 1, as epochs and batches are (and as `grnewt train --json` prints them). */
  onRunStart?(optimizer: OptimizerName, run: number, runs: number): void;
  onStep?(info: StepInfo): void;
  onEpoch?(optimizer: OptimizerName, metrics: EpochMetrics): void;
  onUpdate?(optimizer: OptimizerName, update: UpdateRecord): void;
  onCheckpoint?(file: string): void;
  /** After each run's last epoch (not when stopped early), with the trained model; run 1 is config.optimizers[0]'s. */
  onRunEnd?(optimizer: OptimizerName, model: Module, run: number): void;
}

export interface FitOptions extends FitCallbacks {
  /** Where to write the checkpoint (at each epoch's end, and when stopped). */
  checkpoint?: string;
  /** A checkpoint written by fit() to continue from; its config is used instead of `config`. */
  resume?: string;
  /** Initial parameters (a state dict, e.g. from loadTorch) instead of the model's own initialisation; not with `resume`. */
  init?: Record<string, Tensor>;
  signal?: AbortSignal;
  /**
   * Data parallel across the process group (default: true once grnewt.distributed.init() has run). Every rank
   * calls fit() with the same config; config.batchSize and hgBatchSize are the global batches, each rank
   * reading 1/worldSize of every one (so they must be multiples of worldSize). Every rank evaluates and
   * reports the same numbers; only rank 0 writes the checkpoint. A stop (signal) on any rank stops every
   * rank after the same step.
   */
  distributed?: boolean;
}

const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version;

/** Trains as `config` says; resolves with every run's metrics (also when stopped by the signal). */
export async function fit(config: TrainConfig, options: FitOptions = {}): Promise<Metrics> {
  // A callback may be async: its rejection becomes fit()'s at the next step (it was an unhandled rejection,
  // which ends the process however the caller awaits fit()).
  const failed: { error?: unknown } = {};
  options = withAsyncCallbacksCaught(checkFitOptions(options), failed);
  if (options.resume && options.init)
    throw new TypeError('fit: init and resume exclude each other (the checkpoint holds the initial parameters)');
  // A resumed training goes on with its own settings, so that it ends as it would have.
  const state = options.resume ? readCheckpoint(options.resume) : undefined;
  config = state?.config ?? checkTrainConfig(config, 'fit: config');
  const world = dataParallel(options.distributed, config);
  setNumThreads(config.threads);
  manualSeed(config.seed);
  const data = prepareData(config);
  options.onData?.(data.description);
  const initial = state?.initial ?? initialState(config, data, options.init);
  const finished: RunMetrics[] = state?.finished ?? [];
  const start: Position = state?.position ?? { run: 0, epoch: 0, batch: 0 };
  // Refused now rather than after the first epoch, when the checkpoint is first written.
  if (options.checkpoint !== undefined && world.rank === 0) assertWritable(options.checkpoint, 'fit: checkpoint');
  const checkpoint = (tree: Omit<CheckpointTree, 'kind' | 'config' | 'initial'>) =>
    world.rank === 0 && writeCheckpoint(options.checkpoint, { kind: 'grnewt-train', config, initial, ...tree }, options.onCheckpoint);

  let stopped = false;
  for (let run = start.run; run < config.optimizers.length && !stopped; run++) {
    const name = config.optimizers[run];
    options.onRunStart?.(name, run + 1, config.optimizers.length);
    manualSeed(config.seed + 1000 * (run + 1));
    const model = buildModel(config, data);
    // A resumed checkpoint's tensors that do not fit its own model are named as the checkpoint's.
    const fromCheckpoint = (what: string, f: () => void) => (state ? named(`resume: ${options.resume}: ${what}`, f) : f());
    fromCheckpoint('initial', () => model.loadStateDict(initial));
    const loss = lossFor(config, model);
    const { optimizer, groups } = buildOptimizer(config, name, model, loss, data.train, world);
    const resumed = run === start.run ? (state?.current ?? null) : null;
    const metrics: RunMetrics = resumed?.metrics ?? {
      optimizer: name,
      hyperparameters: hyperparameters(config, name),
      groups,
      epochs: [],
      updates: [],
      stopped: false,
    };
    if (resumed) {
      metrics.stopped = false;
      fromCheckpoint('current.model', () => model.loadStateDict(resumed.model));
      fromCheckpoint('current.optimizer', () => optimizer.loadStateDict(resumed.optimizer));
    } else {
      const before = evaluate(model, loss, data.test, config); // the report's curves start from the untrained model
      metrics.initial = { testLoss: before.loss, testAccuracy: before.accuracy };
    }
    const loader = new DataLoader(data.train, {
      batchSize: config.batchSize / world.size,
      shuffle: true,
      seed: config.seed,
      ...shardOf(world),
    });
    // A resumed epoch's next batch must be one of it: beyond, the epoch trained nothing and averaged its loss anyway.
    if (run === start.run && start.batch >= loader.length)
      throw new RangeError(
        `resume: ${options.resume}: position.batch must be an integer in [0, ${loader.length - 1}] (the epoch has ${loader.length} batches), got ${start.batch}`,
      );
    const job = { name, config, model, loss, optimizer, metrics, loader, speed: new StepRate(), options, world, failed };
    const firstEpoch = run === start.run ? start.epoch : 0;
    for (let epoch = firstEpoch; epoch < config.epochs && !stopped; epoch++) {
      const resumedEpoch = run === start.run && epoch === start.epoch;
      const epochStart = Date.now();
      const trained = await trainEpoch(job, epoch, resumedEpoch ? start.batch : 0, resumedEpoch && resumed ? resumed.trainLossSum : 0);
      if (trained.stoppedAt !== undefined) {
        stopped = true;
        metrics.stopped = true;
        const current: RunInProgress = {
          model: model.stateDict(),
          optimizer: optimizer.stateDict(),
          metrics,
          trainLossSum: trained.lossSum,
        };
        checkpoint({ finished, position: { run, epoch, batch: trained.stoppedAt }, current });
        break;
      }
      const test = evaluate(model, loss, data.test, config);
      const epochMetrics: EpochMetrics = {
        epoch: epoch + 1,
        trainLoss: trained.lossSum / loader.length,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        wallSeconds: (Date.now() - epochStart) / 1000,
      };
      metrics.epochs.push(epochMetrics);
      options.onEpoch?.(name, epochMetrics);
      const last = epoch + 1 === config.epochs;
      checkpoint({
        finished: last ? [...finished, metrics] : finished,
        position: last ? { run: run + 1, epoch: 0, batch: 0 } : { run, epoch: epoch + 1, batch: 0 },
        current: last ? null : { model: model.stateDict(), optimizer: optimizer.stateDict(), metrics, trainLossSum: 0 },
      });
      if ((await agreeOnStep(world, 0, options.signal?.aborted ?? false))[1] && !last) {
        stopped = true;
        metrics.stopped = true;
      }
    }
    if (!stopped) options.onRunEnd?.(name, model, run + 1);
    if (!stopped || metrics.epochs.length || metrics.updates.length) finished.push(metrics);
  }
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    versions: { grnewt: VERSION, node: process.version, libtorch: torchVersion() },
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, threads: getNumThreads() },
    data: data.description,
    config,
    runs: finished,
  };
}

interface Job {
  name: OptimizerName;
  config: TrainConfig;
  model: Module;
  loss: Loss;
  optimizer: TrainableOptimizer;
  metrics: RunMetrics;
  loader: DataLoader;
  speed: StepRate;
  options: FitOptions;
  world: World;
  /** The rejection of an async callback, thrown at the next step. */
  failed: { error?: unknown };
}

/**
 * One epoch's steps from batch `firstBatch` on (after a resume, `lossSum` holds the batches before it), or
 * until the signal stops it after a step: then `stoppedAt` is the next batch, where a resume continues.
 */
async function trainEpoch(job: Job, epoch: number, firstBatch: number, lossSum: number): Promise<{ lossSum: number; stoppedAt?: number }> {
  const { optimizer, config, options } = job;
  let lastLog = optimizer.logs?.at(-1);
  let batch = firstBatch;
  for (const [x, y] of job.loader.batches(epoch, firstBatch)) {
    const stepStart = process.hrtime.bigint();
    let stepLoss = tidy(() => {
      optimizer.zeroGrad();
      const l = job.loss(onDevice(x, config), onDevice(y, config));
      l.backward();
      return l.item();
    });
    await optimizer.stepAsync(); // NewtonSummary's summaries run on a worker thread: the event loop stays free
    // Distributed: the whole batch's loss, and whether any rank was asked to stop (then all stop after this
    // step; a stop asked during onStep below is agreed on at the next one).
    let agreedStop = false;
    if (job.world.on) [stepLoss, agreedStop] = await agreeOnStep(job.world, stepLoss, options.signal?.aborted ?? false);
    lossSum += stepLoss;
    (job.metrics.stepLosses ??= []).push(stepLoss);
    x.dispose();
    y.dispose();
    batch++;
    const log = optimizer.logs?.at(-1);
    if (log && log !== lastLog) {
      lastLog = log;
      const { step, lrs, found, reason, solver } = log;
      const update: UpdateRecord = {
        step,
        lrs,
        found,
        ...(reason ? { reason } : {}),
        solver: {
          branch: solver.branch,
          r: solver.r,
          r0: solver.r0,
          iterations: solver.iterations,
          residual: solver.residual,
          dSingular: solver.dSingular,
        },
      };
      job.metrics.updates.push(update);
      options.onUpdate?.(job.name, update);
    }
    options.onStep?.({
      // lossSum holds every batch of this epoch, those before a resume included.
      optimizer: job.name,
      epoch: epoch + 1,
      epochs: config.epochs,
      batch,
      batches: job.loader.length,
      loss: lossSum / batch,
      lrs: optimizer.lrs?.() ?? null,
      stepsPerSecond: job.speed.add(Number(process.hrtime.bigint() - stepStart) / 1e9),
    });
    await new Promise((resolve) => setImmediate(resolve)); // let signals and timers through
    if ('error' in job.failed) throw job.failed.error;
    const stop = job.world.on ? agreedStop : options.signal?.aborted;
    if (stop && batch < job.loader.length) return { lossSum, stoppedAt: batch };
  }
  return { lossSum };
}

/** The model's own initialisation, or `init`'s values checked against it (names, shapes) in its dtype. */
function initialState(config: TrainConfig, data: LoadedData, init?: Record<string, Tensor>): Record<string, Tensor> {
  const model = buildModel(config, data);
  // Named: '--init' or fit's init did not show in 'loadStateDict: keys do not match the model'.
  if (init) named('fit: init', () => model.loadStateDict(init));
  return model.stateDict();
}

/** fit()'s callbacks: checked to be functions, and each one's rejected promise made fit()'s. */
const FIT_CALLBACKS = ['onData', 'onRunStart', 'onStep', 'onEpoch', 'onUpdate', 'onCheckpoint', 'onRunEnd'] as const;

/**
 * The options, every key known: a misspelt `checkpoint` was ignored, and the run then wrote no checkpoint at
 * all; a callback that is not a function failed only when first called, mid-run.
 */
function checkFitOptions(options: unknown): FitOptions {
  const o = checkOptions('fit', options, ['checkpoint', 'resume', 'init', 'signal', 'distributed', ...FIT_CALLBACKS]);
  for (const name of FIT_CALLBACKS)
    if (o[name] !== undefined && typeof o[name] !== 'function')
      throw new TypeError(`fit: ${name} must be a function, got ${show(o[name])}`);
  for (const name of ['checkpoint', 'resume'])
    if (o[name] !== undefined && (typeof o[name] !== 'string' || o[name] === ''))
      throw new TypeError(`fit: ${name} must be a file path, got ${show(o[name])}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new TypeError(`fit: signal must be an AbortSignal, got ${show(o.signal)}`);
  return o as FitOptions;
}

/** `options` with each on* callback that returns a promise watched: its rejection is kept in `failed`. */
function withAsyncCallbacksCaught(options: FitOptions, failed: { error?: unknown }): FitOptions {
  const out: Record<string, unknown> = { ...options };
  for (const key of FIT_CALLBACKS) {
    const value = options[key];
    if (value === undefined) continue;
    out[key] = (...args: unknown[]) => {
      const result = (value as (...a: unknown[]) => unknown)(...args);
      if (result instanceof Promise)
        result.catch((err) => {
          if (!('error' in failed)) failed.error = err;
        });
      return result;
    };
  }
  return out as FitOptions;
}
