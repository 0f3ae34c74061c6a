export { Module } from './module';
export {
  Linear,
  Conv2d,
  MaxPool2d,
  Flatten,
  Tanh,
  ReLU,
  Sigmoid,
  ELU,
  Identity,
  LogSoftmax,
  ModuleList,
  Sequential,
  type LayerOptions,
} from './layers';
