// fit()'s checkpoints: everything a stopped training needs to continue as if never interrupted — its config,
// the initial parameters every run starts from, the finished runs' metrics, where it stopped, and the run in
// progress (model, optimizer state, metrics, the epoch's running loss). Written atomically by save().
import { load, save } from '../../io/checkpoint';
import type { Tensor } from '../../core/tensor';
import type { OptimizerStateDict } from '../../optim/optimizer';
import type { TrainConfig } from './config';
import { checkTrainConfig } from './config_check';
import type { RunMetrics } from './metrics';

export interface Position {
  run: number;
  epoch: number; // 0-based epoch in progress
  batch: number; // next batch of that epoch
}

export interface RunInProgress {
  model: Record<string, Tensor>;
  optimizer: OptimizerStateDict<object>;
  metrics: RunMetrics;
  trainLossSum: number;
}

export interface CheckpointTree {
  kind: 'grnewt-train';
  config: TrainConfig;
  initial: Record<string, Tensor>;
  finished: RunMetrics[];
  position: Position;
  current: RunInProgress | null;
}

/** A checkpoint of fit(), its config checked as strictly as a new one (it is the config the run goes on with). */
export function readCheckpoint(file: string): CheckpointTree {
  const tree = load(file) as CheckpointTree;
  if (tree?.kind !== 'grnewt-train') throw new Error(`resume: ${file} is not a checkpoint of grnewt train`);
  return { ...tree, config: checkTrainConfig(tree.config, `resume: ${file}: config`) };
}

/** Writes the checkpoint if one was asked for, and says so. */
export function writeCheckpoint(file: string | undefined, tree: CheckpointTree, onCheckpoint?: (file: string) => void): void {
  if (!file) return;
  save(file, tree);
  onCheckpoint?.(file);
}
