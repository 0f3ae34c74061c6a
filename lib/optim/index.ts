export { Optimizer, type OptimizerStateDict, type ParamsInput, type ParamState } from './optimizer';
export { SGD, type SGDOptions } from './sgd';
export { Adam, ADAM_DEFAULTS, type AdamOptions } from './adam';
export { NewtonSummary, NEWTON_SUMMARY_DEFAULTS, type NewtonSummaryOptions, type NewtonSummaryGroupOptions, type NewtonSummaryLog, type Updater } from './newton_summary';
export { ReduceDampingOnPlateau, type ReduceDampingOptions } from './reduce_damping';
export { ROUTE_TOLERANCE, type RouteDecision, type SummariesChoice } from './summaries_route';
