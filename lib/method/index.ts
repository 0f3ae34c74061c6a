// The paper's method: partitions of the parameters, the summaries (ḡ, H̄, D) by autograd or the Taylor route,
// the learning-rate solver, and the NewtonSummary optimizer that puts them together.
export * as partition from './partition';
export type { ParamGroup, Partition } from './partition';
export { computeHgTaylor, computeHgTaylorAsync, taylorSupport, type TaylorHg, type TaylorLoss, type TaylorOptions } from './taylor_route';
export {
  computeHg,
  computeHgAsync,
  computeHgFullbatch,
  fullbatchGradient,
  diffN,
  type Hg,
  type HgOptions,
  type FullLoss,
  type Batches,
} from './summaries';
export { nesterovLrs, ridgeLrs, type NesterovResult } from './lr_solver';
export { NewtonSummary, NEWTON_SUMMARY_DEFAULTS, type NewtonSummaryOptions, type NewtonSummaryLog } from './newton_summary';
export { ReduceDampingOnPlateau } from './reduce_damping';
export type { RouteDecision, SummariesChoice } from './summaries_route';
