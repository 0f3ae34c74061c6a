export { Optimizer, type OptimizerStateDict, type ParamsInput, type ParamState } from './optimizer';
export { SGD, SGD_DEFAULTS, type SGDOptions } from './sgd';
export { Adam, ADAM_DEFAULTS, type AdamOptions } from './adam';
// NewtonSummary lives with the rest of the method (lib/method/); it is also reachable here, where the seed had it.
export {
  NewtonSummary,
  NEWTON_SUMMARY_DEFAULTS,
  type NewtonSummaryOptions,
  type NewtonSummaryGroupOptions,
  type NewtonSummaryLog,
  type Updater,
} from '../method/newton_summary';
export { ReduceDampingOnPlateau, type ReduceDampingOptions } from '../method/reduce_damping';
export { ROUTE_TOLERANCE, type RouteDecision, type SummariesChoice } from '../method/summaries_route';
