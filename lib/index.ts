// grnewt: Newton's method adapted to neural networks through a summary of higher-order derivatives.
export {
  Tensor,
  tidy,
  keep,
  disposeSymbol,
  type Dtype,
  type DeviceName,
  type TypedData,
  type Conv2dOptions,
  type MaxPool2dOptions,
  type ArrayOf,
  type ValueOf,
  type FloatResult,
  type TensorJSON,
  type NestedList,
} from './core/tensor';
export { noGrad, enableGrad, isGradEnabled } from './core/grad_mode';
export { accuracy } from './nn/accuracy';
export { recommendedThreads, type ThreadChoice } from './core/threads';
export {
  tensor,
  zeros,
  ones,
  randn,
  rand,
  type TensorData,
  type TensorOptions,
  type CreationOptions,
  type NestedArray,
  type Nested,
} from './core/creation';
export * from './core/ops';
export {
  manualSeed,
  setNumThreads,
  getNumThreads,
  cuda,
  memory,
  emptyCache,
  setCacheLimit,
  resetPeakMemory,
  torchVersion,
  type AllocatorStats,
} from './core/runtime';
export * as nn from './nn';
export * as models from './models';
export * as losses from './nn/losses';
export * from './method';
export * as optim from './optim';
export * as distributed from './distributed';
export * as data from './data';
export { save, load } from './io/checkpoint';
export { loadTorch, saveTorch, type LoadTorchOptions } from './io/torch_file';
export { loadSafetensors, loadSafetensorsMetadata, saveSafetensors } from './io/safetensors';
export { fit, type FitOptions, type FitCallbacks, type StepInfo } from './app/train/fit';
export {
  trainConfig,
  DEFAULT_TRAIN_CONFIG,
  SEED_NEWTON_SUMMARY,
  type TrainConfig,
  type ModelSpec,
  type NewtonSummarySpec,
  type OptimizerName,
} from './app/train/config';
export type { Metrics, RunMetrics, EpochMetrics, UpdateRecord } from './app/train/metrics';
export { writeReport } from './app/report/report';
