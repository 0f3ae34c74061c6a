// Building a training run from a TrainConfig: its data (padded for VGG, in the run's dtype), the model, its
// loss, and each optimizer with the partition and hg loader NewtonSummary needs.
import { DataLoader } from '../../data/data_loader';
import { TensorDataset } from '../../data/dataset';
import { NewtonSummary } from '../../method/newton_summary';
import * as partitions from '../../method/partition';
import { AutoencoderMLP } from '../../models/autoencoder';
import { LeNet } from '../../models/lenet';
import { Perceptron } from '../../models/perceptron';
import { VGG } from '../../models/vgg';
import { mse, nll } from '../../nn/losses';
import type { Module } from '../../nn/module';
import { Adam } from '../../optim/adam';
import { SGD } from '../../optim/sgd';
import type { Tensor } from '../../core/tensor';
import type { TrainConfig, OptimizerName } from './config';
import { loadData, type LoadedData } from './datasets';
import type { TrainableOptimizer } from './trainable';
import { ONE_PROCESS, shardOf, type World } from './data_parallel';

export type Loss = (x: Tensor, y: Tensor) => Tensor;

export function prepareData(config: TrainConfig): LoadedData {
  const data = loadData({ ...config.data, normalize: config.model.kind !== 'autoencoder' });
  if (config.model.kind === 'vgg') {
    // VGG halves the image five times: pad 28×28 images to 32×32 (the size the reference uses).
    const side = data.inputShape[data.inputShape.length - 1];
    const target = Math.ceil(side / 32) * 32;
    if (target !== side) {
      const lo = Math.floor((target - side) / 2),
        hi = target - side - lo;
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
      model = new VGG({
        ...common,
        activation: m.activation ?? 'relu',
        config: m.vggConfig ?? 'A',
        fcSizes: m.fcSizes ?? [512, 512],
        imageSize: data.inputShape[1],
        inChannels: data.inputShape[0],
        numClasses: data.classes,
      });
      break;
    case 'autoencoder':
      model = new AutoencoderMLP([inputSize, ...(m.hidden ?? [256, 32])], common);
      break;
  }
  if (config.device !== 'cpu') model.to({ device: config.device });
  return model;
}

export function lossFor(config: TrainConfig, model: Module): Loss {
  if (config.model.kind === 'autoencoder') return (x) => mse(model.forward(x), x.reshape([x.shape[0], -1]));
  return (x, y) => nll(model.forward(x), y);
}

export function onDevice(t: Tensor, config: TrainConfig): Tensor {
  return config.device === 'cpu' ? t : t.to({ device: config.device });
}

function partitionOf(config: TrainConfig, model: Module): partitions.Partition {
  const p = config.partition;
  if (p === 'canonical') return partitions.canonical(model);
  if (p === 'trivial') return partitions.trivial(model);
  if (p === 'wb') return partitions.wb(model);
  const blocks = /^blocks-(\d+)$/.exec(p);
  if (blocks) return partitions.blocks(model, Number(blocks[1]));
  throw new RangeError(`fit: partition must be canonical, trivial, wb or blocks-N, got '${p}'`);
}

export function buildOptimizer(
  config: TrainConfig,
  name: OptimizerName,
  model: Module,
  loss: Loss,
  train: TensorDataset,
  world: World = ONE_PROCESS,
): { optimizer: TrainableOptimizer; groups: string[][] } {
  const distributed = world.on; // rank 0's parameters broadcast now, gradients (and summaries) averaged at each step
  if (name === 'adam')
    return {
      optimizer: new Adam(model.parameters(), { lr: config.adam.lr, distributed }),
      groups: [model.namedParameters().map(([n]) => n)],
    };
  if (name === 'sgd')
    return {
      optimizer: new SGD(model.parameters(), { lr: config.sgd.lr, momentum: config.sgd.momentum, distributed }),
      groups: [model.namedParameters().map(([n]) => n)],
    };
  const ns = config.newtonSummary;
  const { paramGroups, nameGroups } = partitionOf(config, model);
  const hgLoader = new DataLoader(train, {
    batchSize: config.hgBatchSize / world.size,
    shuffle: true,
    seed: config.seed + 1,
    ...shardOf(world),
  });
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
    damping: ns.damping,
    nesterov: { use: ns.nesterov, dampingInt: ns.dampingInt },
    periodHg: ns.periodHg,
    momLrs: ns.momLrs,
    removeNegative: ns.removeNegative,
    momentum: ns.momentum,
    momentumDamp: ns.momentumDamp,
    ridge: ns.ridge,
    noregul: ns.noregul,
    diagonal: ns.diagonal,
    updater: ns.updater === 'adam' ? { name: 'adam' } : 'sgd',
    historyLength: 1,
    summaries: ns.summaries ?? 'autograd',
    distributed,
  });
  return { optimizer, groups: nameGroups };
}

export function hyperparameters(config: TrainConfig, name: OptimizerName): Record<string, unknown> {
  const common = { batchSize: config.batchSize, epochs: config.epochs, dtype: config.dtype, seed: config.seed };
  if (name === 'adam') return { ...common, ...config.adam };
  if (name === 'sgd') return { ...common, ...config.sgd };
  return { ...common, ...config.newtonSummary, hgBatchSize: config.hgBatchSize, partition: config.partition };
}
