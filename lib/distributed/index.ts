// grnewt.distributed: data-parallel training over libtorch's c10d (see README, "Several processes and machines").
export {
  init,
  isInitialized,
  rank,
  worldSize,
  backend,
  availableBackends,
  allReduce,
  broadcast,
  allGather,
  barrier,
  destroy,
  resolveInitOptions,
  DEFAULT_TIMEOUT_MS,
  type InitOptions,
  type Backend,
  type ReduceOp,
} from './process_group';
export { combineHg } from './data_parallel';
