// The training engine behind `grnewt train` and for apps: builds the model, data and optimizers from a
// TrainConfig, trains each optimizer from the same initialisation, evaluates each epoch, checkpoints, and
// reports progress through callbacks. Async: it yields to the event loop between steps, so signals (Ctrl-C),
// timers and UI stay responsive, and an AbortSignal stops it cleanly after the current step.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, save } from '../../io/checkpoint';
import { manualSeed, setNumThreads, getNumThreads, torchVersion } from '../../core/runtime';
import { DataLoader } from '../../data/data_loader';
import { TensorDataset } from '../../data/dataset';
import { mse, nll } from '../../nn/losses';
import { AutoencoderMLP } from '../../models/autoencoder';
import { LeNet } from '../../models/lenet';
import { Perceptron } from '../../models/perceptron';
import { VGG } from '../../models/vgg';
import type { Module } from '../../nn/module';
import { Adam } from '../../optim/adam';
import { NewtonSummary } from '../../method/newton_summary';
import type { Optimizer } from '../../optim/optimizer';
import { SGD } from '../../optim/sgd';
import * as partitions from '../../method/partition';
import { Tensor, tidy } from '../../core/tensor';
import type { TrainConfig, OptimizerName } from './config';
import { checkTrainConfig } from './config_check';
import { StepRate } from './step_rate';
import { loadData, type LoadedData } from './datasets';
import { allReduce, isInitialized, rank as distributedRank, worldSize as distributedWorldSize } from '../../distributed/process_group';
import { tensor } from '../../core/creation';
import type { EpochMetrics, Metrics, RunMetrics, UpdateRecord } from './metrics';

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
   * reading 1/worldSize of every one (so they must be multiples of worldSize). All ranks evaluate and report;
   * only rank 0 writes the checkpoint. A stop (signal) on any rank stops every rank after the same step.
   */
  distributed?: boolean;
}

interface Position {
  run: number;
  epoch: number; // 0-based epoch in progress
  batch: number; // next batch of that epoch
}

interface CheckpointTree {
  kind: 'grnewt-train';
  config: TrainConfig;
  initial: Record<string, Tensor>;
  finished: RunMetrics[];
  position: Position;
  current: { model: Record<string, Tensor>; optimizer: unknown; metrics: RunMetrics; trainLossSum: number } | null;
}

const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version;

/** Trains as `config` says; resolves with every run's metrics (also when stopped by the signal). */
export async function fit(config: TrainConfig, options: FitOptions = {}): Promise<Metrics> {
  let state: CheckpointTree | undefined;
  if (options.resume && options.init) throw new TypeError('fit: init and resume exclude each other (the checkpoint holds the initial parameters)');
  if (options.resume) {
    const tree = load(options.resume) as CheckpointTree;
    if (tree?.kind !== 'grnewt-train') throw new Error(`resume: ${options.resume} is not a checkpoint of grnewt train`);
    state = tree;
    // The interrupted run's own settings, so that it ends as it would have — checked as strictly as new ones.
    config = checkTrainConfig(tree.config, `resume: ${options.resume}: config`);
  } else {
    checkTrainConfig(config, 'fit: config');
  }
  const world = dataParallel(options.distributed, config);
  setNumThreads(config.threads);
  manualSeed(config.seed);
  const data = prepareData(config);
  options.onData?.(data.description);
  const initial = state?.initial ?? initialState(config, data, options.init);
  const finished: RunMetrics[] = state?.finished ?? [];
  const start: Position = state?.position ?? { run: 0, epoch: 0, batch: 0 };
  let stopped = false;

  for (let run = start.run; run < config.optimizers.length && !stopped; run++) {
    const name = config.optimizers[run];
    options.onRunStart?.(name, run + 1, config.optimizers.length);
    manualSeed(config.seed + 1000 * (run + 1));
    const model = buildModel(config, data);
    model.loadStateDict(initial);
    const loss = lossFor(config, model);
    const { optimizer, groups } = buildOptimizer(config, name, model, loss, data.train, world);
    const resumed = run === start.run && state?.current ? state.current : null;
    const metrics: RunMetrics = resumed?.metrics ?? { optimizer: name, hyperparameters: hyperparameters(config, name), groups, epochs: [], updates: [], stopped: false };
    if (resumed) {
      metrics.stopped = false;
      model.loadStateDict(resumed.model);
      optimizer.loadStateDict(resumed.optimizer as never);
    } else {
      const before = evaluate(model, loss, data.test, config); // the report's curves start from the untrained model
      metrics.initial = { testLoss: before.loss, testAccuracy: before.accuracy };
    }
    const loader = new DataLoader(data.train, { batchSize: config.batchSize / world.size, shuffle: true, seed: config.seed, ...(world.on && { shard: { rank: world.rank, worldSize: world.size } }) });
    const speed = new StepRate();
    const firstEpoch = run === start.run ? start.epoch : 0;
    for (let epoch = firstEpoch; epoch < config.epochs && !stopped; epoch++) {
      const firstBatch = run === start.run && epoch === start.epoch ? start.batch : 0;
      let lossSum = resumed && epoch === start.epoch ? resumed.trainLossSum : 0;
      const epochStart = Date.now();
      let lastLog = optimizer instanceof NewtonSummary ? optimizer.logs.at(-1) : undefined;
      let batch = firstBatch;
      for (const [x, y] of loader.batches(epoch, firstBatch)) {
        const stepStart = process.hrtime.bigint();
        let stepLoss = tidy(() => {
          const [xd, yd] = [onDevice(x, config), onDevice(y, config)];
          optimizer.zeroGrad();
          const l = loss(xd, yd);
          l.backward();
          return l.item();
        });
        // NewtonSummary's summaries run on a worker thread: the event loop stays free meanwhile (and so do the
        // collectives of a distributed step).
        if (optimizer instanceof NewtonSummary || world.on) await (optimizer as Optimizer<object> & { stepAsync(): Promise<void> }).stepAsync();
        else optimizer.step();
        // Distributed: the whole batch's loss (the ranks' mean) and whether any rank was asked to stop, so that
        // every rank stops after the same step.
        let stopAsked = options.signal?.aborted ?? false;
        if (world.on) [stepLoss, stopAsked] = await agreeOnStep(stepLoss, stopAsked, world.size);
        lossSum += stepLoss;
        (metrics.stepLosses ??= []).push(stepLoss);
        x.dispose();
        y.dispose();
        batch++;
        if (optimizer instanceof NewtonSummary && optimizer.logs.at(-1) !== lastLog) {
          lastLog = optimizer.logs.at(-1)!;
          const { step, lrs, found, reason, solver } = lastLog;
          const update: UpdateRecord = { step, lrs, found, ...(reason ? { reason } : {}), solver: { branch: solver.branch, r: solver.r, r0: solver.r0, iterations: solver.iterations, residual: solver.residual, dSingular: solver.dSingular } };
          metrics.updates.push(update);
          options.onUpdate?.(name, update);
        }
        options.onStep?.({
          // lossSum holds every batch of this epoch, those before a resume included.
          optimizer: name, epoch: epoch + 1, epochs: config.epochs, batch, batches: loader.length, loss: lossSum / batch,
          lrs: optimizer instanceof NewtonSummary ? optimizer.lrs() : null, stepsPerSecond: speed.add(Number(process.hrtime.bigint() - stepStart) / 1e9),
        });
        await new Promise((resolve) => setImmediate(resolve)); // let signals and timers through
        if (stopAsked && batch < loader.length) {
          stopped = true;
          metrics.stopped = true;
          if (world.rank === 0) writeCheckpoint(options, { kind: 'grnewt-train', config, initial, finished, position: { run, epoch, batch }, current: { model: model.stateDict(), optimizer: optimizer.stateDict(), metrics, trainLossSum: lossSum } });
          break;
        }
      }
      if (stopped) break;
      const test = evaluate(model, loss, data.test, config);
      const epochMetrics: EpochMetrics = { epoch: epoch + 1, trainLoss: lossSum / loader.length, testLoss: test.loss, testAccuracy: test.accuracy, wallSeconds: (Date.now() - epochStart) / 1000 };
      metrics.epochs.push(epochMetrics);
      options.onEpoch?.(name, epochMetrics);
      const last = epoch + 1 === config.epochs;
      const next: Position = last ? { run: run + 1, epoch: 0, batch: 0 } : { run, epoch: epoch + 1, batch: 0 };
      if (world.rank === 0) writeCheckpoint(options, {
        kind: 'grnewt-train', config, initial, finished: last ? [...finished, metrics] : finished, position: next,
        current: last ? null : { model: model.stateDict(), optimizer: optimizer.stateDict(), metrics, trainLossSum: 0 },
      });
      if ((world.on ? (await agreeOnStep(0, options.signal?.aborted ?? false, world.size))[1] : options.signal?.aborted) && !last) {
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

interface World {
  on: boolean;
  rank: number;
  size: number;
}

/** Whether fit() trains data-parallel, and the rank and size it then has; the batch sizes checked against it. */
function dataParallel(option: unknown, config: TrainConfig): World {
  if (option !== undefined && typeof option !== 'boolean') throw new TypeError(`fit: distributed must be a boolean, got ${typeof option}`);
  const on = option ?? isInitialized();
  if (!on) return { on: false, rank: 0, size: 1 };
  if (!isInitialized()) throw new Error('fit: distributed: true needs a process group: await grnewt.distributed.init() first');
  const size = distributedWorldSize();
  for (const [name, value] of [['batchSize', config.batchSize], ['hgBatchSize', config.hgBatchSize]] as const) {
    if (value % size !== 0) throw new RangeError(`fit: ${name} (${value}, the global batch) must be a multiple of the number of processes (${size}): each reads an equal part of every batch`);
  }
  return { on: true, rank: distributedRank(), size };
}

/** The ranks' mean loss of this step, and whether any rank was asked to stop (one small allreduce). */
async function agreeOnStep(loss: number, stop: boolean, size: number): Promise<[number, boolean]> {
  const t = tensor(new Float64Array([loss, stop ? 1 : 0]));
  try {
    await allReduce(t, 'sum');
    const [sum, stops] = t.toArray() as Float64Array;
    return [sum / size, stops > 0];
  } finally {
    t.dispose();
  }
}

/** The model's own initialisation, or `init`'s values checked against it (names, shapes) in its dtype. */
function initialState(config: TrainConfig, data: LoadedData, init?: Record<string, Tensor>): Record<string, Tensor> {
  const model = buildModel(config, data);
  if (init) model.loadStateDict(init);
  return model.stateDict();
}

function writeCheckpoint(options: FitOptions, tree: CheckpointTree): void {
  if (!options.checkpoint) return;
  save(options.checkpoint, tree);
  options.onCheckpoint?.(options.checkpoint);
}

function prepareData(config: TrainConfig): LoadedData {
  const data = loadData({ ...config.data, normalize: config.model.kind !== 'autoencoder' });
  if (config.model.kind === 'vgg') {
    // VGG halves the image five times: pad 28×28 images to 32×32 (the size the reference uses).
    const side = data.inputShape[data.inputShape.length - 1];
    const target = Math.ceil(side / 32) * 32;
    if (target !== side) {
      const lo = Math.floor((target - side) / 2), hi = target - side - lo;
      data.train = new TensorDataset(data.train.x.pad([lo, hi, lo, hi]), data.train.y);
      data.test = new TensorDataset(data.test.x.pad([lo, hi, lo, hi]), data.test.y);
      data.inputShape = [...data.inputShape.slice(0, -2), target, target];
    }
  }
  if (config.dtype === 'float64') {
    data.train = new TensorDataset(data.train.x.to({ dtype: 'float64' }), data.train.y);
    data.test = new TensorDataset(data.test.x.to({ dtype: 'float64' }), data.test.y);
  }
  return data;
}

export function buildModel(config: TrainConfig, data: Pick<LoadedData, 'inputShape' | 'classes'>): Module {
  const m = config.model;
  const common = { activation: m.activation, scaling: m.scaling, sigmaW: m.sigmaW, sigmaB: m.sigmaB, dtype: config.dtype };
  const inputSize = data.inputShape.reduce((a, b) => a * b, 1);
  let model: Module;
  switch (m.kind) {
    case 'perceptron':
      model = new Perceptron([inputSize, ...(m.hidden ?? [200, 100]), data.classes], common);
      break;
    case 'lenet':
      if (data.inputShape.length !== 3) throw new RangeError("fit: model.kind 'lenet' needs images ([channels, height, width] examples)");
      model = new LeNet([data.inputShape[0], 6, 16, 120, 84, data.classes], { ...common, inputSize: data.inputShape[1] });
      break;
    case 'vgg':
      if (data.inputShape.length !== 3) throw new RangeError("fit: model.kind 'vgg' needs images ([channels, height, width] examples)");
      model = new VGG({ ...common, activation: m.activation ?? 'relu', config: m.vggConfig ?? 'A', fcSizes: m.fcSizes ?? [512, 512], imageSize: data.inputShape[1], inChannels: data.inputShape[0], numClasses: data.classes });
      break;
    case 'autoencoder':
      model = new AutoencoderMLP([inputSize, ...(m.hidden ?? [256, 32])], common);
      break;
  }
  if (config.device !== 'cpu') model.to({ device: config.device });
  return model;
}

function lossFor(config: TrainConfig, model: Module): (x: Tensor, y: Tensor) => Tensor {
  if (config.model.kind === 'autoencoder') return (x) => mse(model.forward(x), x.reshape([x.shape[0], -1]));
  return (x, y) => nll(model.forward(x), y);
}

function onDevice(t: Tensor, config: TrainConfig): Tensor {
  return config.device === 'cpu' ? t : t.to({ device: config.device });
}

function partitionOf(config: TrainConfig, model: Module): partitions.Partition {
  const p = config.partition;
  if (p === 'canonical' || p === 'trivial' || p === 'wb') return partitions[p](model);
  const blocks = /^blocks-(\d+)$/.exec(p);
  if (blocks) return partitions.blocks(model, Number(blocks[1]));
  throw new RangeError(`fit: partition must be canonical, trivial, wb or blocks-N, got '${p}'`);
}

function buildOptimizer(config: TrainConfig, name: OptimizerName, model: Module, loss: (x: Tensor, y: Tensor) => Tensor, train: TensorDataset, world: World) {
  const distributed = world.on;
  if (name === 'adam') return { optimizer: new Adam(model.parameters(), { lr: config.adam.lr, distributed }) as Optimizer<object>, groups: [model.namedParameters().map(([n]) => n)] };
  if (name === 'sgd') return { optimizer: new SGD(model.parameters(), { lr: config.sgd.lr, momentum: config.sgd.momentum, distributed }) as Optimizer<object>, groups: [model.namedParameters().map(([n]) => n)] };
  const ns = config.newtonSummary;
  const { paramGroups, nameGroups } = partitionOf(config, model);
  const hgLoader = new DataLoader(train, { batchSize: config.hgBatchSize / world.size, shuffle: true, seed: config.seed + 1, ...(world.on && { shard: { rank: world.rank, worldSize: world.size } }) });
  // The autoencoder's target is its flattened input (its loss ignores the labels): the Taylor route needs it as y.
  const autoencoder = config.model.kind === 'autoencoder';
  const hgBatches = (batches: Iterable<[Tensor, Tensor]>): Iterable<[Tensor, Tensor]> =>
    config.device === 'cpu' && !autoencoder
      ? batches
      : {
          *[Symbol.iterator]() {
            for (const [x, y] of batches) {
              const xd = onDevice(x, config);
              yield [xd, autoencoder ? xd.reshape([xd.shape[0], -1]) : onDevice(y, config)];
            }
          },
        };
  // Checkpoints written before the Taylor route existed resume on the route they started with.
  const optimizer = new NewtonSummary(paramGroups, loss, hgBatches(hgLoader), {
    damping: ns.damping, nesterov: { use: ns.nesterov, dampingInt: ns.dampingInt }, periodHg: ns.periodHg, momLrs: ns.momLrs,
    removeNegative: ns.removeNegative, momentum: ns.momentum, momentumDamp: ns.momentumDamp, ridge: ns.ridge, noregul: ns.noregul,
    diagonal: ns.diagonal, updater: ns.updater === 'adam' ? { name: 'adam' } : 'sgd', historyLength: 1, summaries: ns.summaries ?? 'autograd', distributed,
  });
  return { optimizer: optimizer as unknown as Optimizer<object>, groups: nameGroups };
}

function hyperparameters(config: TrainConfig, name: OptimizerName): Record<string, unknown> {
  const common = { batchSize: config.batchSize, epochs: config.epochs, dtype: config.dtype, seed: config.seed };
  if (name === 'adam') return { ...common, ...config.adam };
  if (name === 'sgd') return { ...common, ...config.sgd };
  return { ...common, ...config.newtonSummary, hgBatchSize: config.hgBatchSize, partition: config.partition };
}

function evaluate(model: Module, loss: (x: Tensor, y: Tensor) => Tensor, test: TensorDataset, config: TrainConfig): { loss: number; accuracy: number | null } {
  const loader = new DataLoader(test, { batchSize: 1000 });
  let lossSum = 0, correct = 0;
  model.eval();
  for (const [x, y] of loader) {
    tidy(() => {
      const [xd, yd] = [onDevice(x, config), onDevice(y, config)];
      lossSum += loss(xd, yd).item() * x.shape[0];
      if (config.model.kind !== 'autoencoder') {
        const predicted = model.forward(xd).argmax(1).toArray(), labels = y.toArray();
        for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
      }
    });
    x.dispose();
    y.dispose();
  }
  model.train();
  return { loss: lossSum / test.length, accuracy: config.model.kind === 'autoencoder' ? null : correct / test.length };
}
