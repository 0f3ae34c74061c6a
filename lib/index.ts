// grnewt: Newton's method adapted to neural networks through a summary of higher-order derivatives.
export {
  Tensor, tidy, keep, disposeSymbol, type Dtype, type DeviceName, type TypedData, type Conv2dOptions, type MaxPool2dOptions,
  type ArrayOf, type ValueOf, type FloatResult, type TensorJSON, type NestedList,
} from './tensor';
export { noGrad, enableGrad, isGradEnabled } from './grad_mode';
export { accuracy } from './accuracy';
export { recommendedThreads, type ThreadChoice } from './threads';
export { tensor, zeros, ones, randn, rand, type TensorData, type TensorOptions, type CreationOptions, type NestedArray, type Nested } from './creation';
export * from './ops';
export { manualSeed, setNumThreads, getNumThreads, cuda, memory, emptyCache, setCacheLimit, resetPeakMemory, torchVersion, type AllocatorStats } from './runtime';
export * as nn from './nn';
export * as models from './models';
export * as losses from './losses';
export * as partition from './partition';
export type { ParamGroup, Partition } from './partition';
export { computeHgTaylor, computeHgTaylorAsync, taylorSupport, type TaylorHg, type TaylorLoss, type TaylorOptions } from './taylor';
export { computeHg, computeHgAsync, computeHgFullbatch, fullbatchGradient, diffN, type Hg, type HgOptions, type FullLoss, type Batches } from './summaries';
export { nesterovLrs, ridgeLrs, type NesterovResult } from './nesterov';
export * as optim from './optim';
export { NewtonSummary, NEWTON_SUMMARY_DEFAULTS, ReduceDampingOnPlateau, type NewtonSummaryOptions, type NewtonSummaryLog, type RouteDecision, type SummariesChoice } from './optim';
export * as data from './data';
export { save, load } from './checkpoint';
export { loadTorch, saveTorch, type LoadTorchOptions } from './io/torch_file';
export { loadSafetensors, loadSafetensorsMetadata, saveSafetensors } from './io/safetensors';
export { fit, type FitOptions, type FitCallbacks, type StepInfo } from './train/fit';
export { trainConfig, DEFAULT_TRAIN_CONFIG, SEED_NEWTON_SUMMARY, type TrainConfig, type ModelSpec, type NewtonSummarySpec, type OptimizerName } from './train/config';
export type { Metrics, RunMetrics, EpochMetrics, UpdateRecord } from './train/metrics';
export { writeReport } from './report/report';
