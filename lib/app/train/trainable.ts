// What fit() needs of an optimizer — every grnewt optimizer is one, so the loop treats them alike: it awaits
// stepAsync() (NewtonSummary computes its summaries on a worker thread; SGD and Adam step at once), and
// reports learning rates and their updates where the optimizer computes them.
import type { NewtonSummaryLog } from '../../method/newton_summary';
import type { OptimizerStateDict } from '../../optim/optimizer';

export interface TrainableOptimizer {
  zeroGrad(): void;
  stepAsync(): Promise<void>;
  stateDict(): OptimizerStateDict<object>;
  loadStateDict(stateDict: OptimizerStateDict<object>): void;
  /** The learning rates the optimizer computed (NewtonSummary), shown with each step. */
  lrs?(): number[];
  /** Its learning-rate updates, newest last (NewtonSummary's logs), recorded in the metrics as they come. */
  readonly logs?: readonly NewtonSummaryLog[];
}
