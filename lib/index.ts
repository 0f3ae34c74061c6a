// grnewt: Newton's method adapted to neural networks through a summary of higher-order derivatives.
export { Tensor, tidy, keep, disposeSymbol, type Dtype, type DeviceName, type TypedData, type Conv2dOptions, type MaxPool2dOptions } from './tensor';
export { tensor, zeros, ones, randn, rand, type TensorData, type TensorOptions, type CreationOptions, type NestedArray } from './creation';
export * from './ops';
export { manualSeed, setNumThreads, getNumThreads, cuda, memory, torchVersion } from './runtime';
export * as nn from './nn';
export * as models from './models';
export * as losses from './losses';
export * as partition from './partition';
export type { ParamGroup, Partition } from './partition';
export { computeHg, computeHgFullbatch, fullbatchGradient, diffN, type Hg, type HgOptions, type FullLoss, type Batches } from './summaries';
export { nesterovLrs, ridgeLrs, type NesterovResult } from './nesterov';
export * as optim from './optim';
export { NewtonSummary, ReduceDampingOnPlateau, type NewtonSummaryOptions, type NewtonSummaryLog } from './optim';
export * as data from './data';
export { save, load } from './checkpoint';
