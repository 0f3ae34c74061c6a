// A training run, as data: what `grnewt train` parses its arguments into and what checkpoints keep.
import type { Activation } from '../../models/init';
import { NEWTON_SUMMARY_DEFAULTS as D } from '../../method/newton_summary';
import { recommendedThreads } from '../../core/threads';
import { show } from '../../core/validate';
import { checkTrainConfig } from './config_check';

export type ModelKind = 'perceptron' | 'lenet' | 'vgg' | 'autoencoder';
export type OptimizerName = 'newton-summary' | 'adam' | 'sgd';

export interface ModelSpec {
  kind: ModelKind;
  /** Hidden layer sizes (perceptron, autoencoder); input and output sizes come from the data. */
  hidden?: number[];
  activation?: Activation;
  scaling?: boolean;
  sigmaW?: number;
  sigmaB?: number;
  /** VGG: configuration key ('A' is VGG-11) and classifier sizes. */
  vggConfig?: 'A' | 'B' | 'D' | 'E';
  fcSizes?: number[];
}

export interface NewtonSummarySpec {
  damping: number;
  dampingInt: number;
  nesterov: boolean;
  periodHg: number;
  momLrs: number;
  removeNegative: boolean;
  momentum: number;
  momentumDamp: number;
  ridge: number;
  noregul: boolean;
  diagonal: boolean;
  updater: 'sgd' | 'adam';
  /** How the summaries are computed: NewtonSummary's `summaries` option ('auto' by default). */
  summaries: 'auto' | 'taylor' | 'autograd';
}

export interface TrainConfig {
  model: ModelSpec;
  data: { source: string; limit?: number; testFraction?: number };
  /** The first is the main optimizer; the others are trained for comparison on the same data and budget. */
  optimizers: OptimizerName[];
  newtonSummary: NewtonSummarySpec;
  adam: { lr: number };
  sgd: { lr: number; momentum: number };
  partition: string; // 'canonical' | 'trivial' | 'wb' | 'blocks-N'
  epochs: number;
  batchSize: number;
  hgBatchSize: number;
  dtype: 'float32' | 'float64';
  /** libtorch intra-op threads; by default recommendedThreads(): physical cores minus busy ones, at least 1. */
  threads: number;
  device: 'cpu' | 'cuda';
  seed: number;
}

/** The seed README's hyperparameters: NewtonSummary's own defaults. */
export const SEED_NEWTON_SUMMARY: NewtonSummarySpec = {
  damping: D.damping,
  dampingInt: D.nesterov.dampingInt,
  nesterov: D.nesterov.use,
  periodHg: D.periodHg,
  momLrs: D.momLrs,
  removeNegative: D.removeNegative,
  momentum: D.momentum,
  momentumDamp: D.momentumDamp,
  ridge: D.ridge,
  noregul: D.noregul,
  diagonal: D.diagonal,
  updater: 'sgd',
  summaries: D.summaries,
};

/** What `grnewt train` does with no arguments. */
export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  model: { kind: 'perceptron', scaling: false, sigmaW: 1, sigmaB: 1, vggConfig: 'A', fcSizes: [512, 512] },
  data: { source: 'fashion-mnist', testFraction: 0.2 },
  optimizers: ['newton-summary'],
  newtonSummary: SEED_NEWTON_SUMMARY,
  adam: { lr: 1e-3 },
  sgd: { lr: 1e-2, momentum: 0.9 },
  partition: 'canonical',
  epochs: 3,
  batchSize: 100,
  hgBatchSize: 1000,
  dtype: 'float32',
  threads: recommendedThreads().threads, // as the machine was when grnewt was loaded; trainConfig() looks again
  device: 'cpu',
  seed: 0,
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends Array<unknown> ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * A full TrainConfig: the defaults with `overrides` laid over them (one level of nesting deep), every field
 * checked (`trainConfig: model.kind must be one of …`).
 */
export function trainConfig(overrides: DeepPartial<TrainConfig> = {}): TrainConfig {
  const d = DEFAULT_TRAIN_CONFIG;
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides))
    throw new TypeError(`trainConfig: overrides must be an object, got ${show(overrides)}`);
  const o = overrides as Partial<TrainConfig>;
  return checkTrainConfig({
    ...d,
    threads: recommendedThreads().threads,
    ...o,
    model: { ...d.model, ...o.model },
    data: { ...d.data, ...o.data },
    newtonSummary: { ...d.newtonSummary, ...o.newtonSummary },
    adam: { ...d.adam, ...o.adam },
    sgd: { ...d.sgd, ...o.sgd },
  });
}
