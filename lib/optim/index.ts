export { Optimizer, type OptimizerStateDict, type ParamsInput, type ParamState } from './optimizer';
export { SGD, type SGDOptions } from './sgd';
export { Adam, type AdamOptions } from './adam';
export { NewtonSummary, type NewtonSummaryOptions, type NewtonSummaryGroupOptions, type NewtonSummaryLog, type Updater } from './newton_summary';
export { ReduceDampingOnPlateau, type ReduceDampingOptions } from './reduce_damping';
