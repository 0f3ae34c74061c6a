// grnewt: Newton's method adapted to neural networks through a summary of higher-order derivatives.
export { Tensor, tidy, keep, disposeSymbol, type Dtype, type DeviceName, type TypedData, type Conv2dOptions, type MaxPool2dOptions } from './tensor';
export { tensor, zeros, ones, randn, type TensorData, type TensorOptions, type CreationOptions, type NestedArray } from './creation';
export * from './ops';
export { manualSeed, setNumThreads, getNumThreads, cuda, memory, torchVersion } from './runtime';
