// fit()'s checkpoints: everything a stopped training needs to continue as if never interrupted — its config,
// the initial parameters every run starts from, the finished runs' metrics, where it stopped, and the run in
// progress (model, optimizer state, metrics, the epoch's running loss). Written atomically by save().
import { load, save } from '../../io/checkpoint';
import { Tensor } from '../../core/tensor';
import { show } from '../../core/validate';
import type { OptimizerStateDict } from '../../optim/optimizer';
import type { TrainConfig } from './config';
import { checkTrainConfig } from './config_check';
import type { EpochMetrics, RunMetrics } from './metrics';

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

/**
 * A checkpoint of fit(), its config checked as strictly as a new one (it is the config the run goes on with),
 * and the rest (where it stopped, the runs' metrics, the run in progress) as fit() reads it, before anything
 * trains: unchecked, a crafted or damaged one failed mid-run as 'finished.push is not a function', after an
 * epoch of training, or wrote a string or NaN as an epoch's training loss.
 */
export function readCheckpoint(file: string): CheckpointTree {
  const tree = load(file) as CheckpointTree;
  if (tree === null || typeof tree !== 'object' || tree.kind !== 'grnewt-train')
    throw new Error(`resume: ${file} is not a checkpoint of grnewt train`);
  const where = `resume: ${file}`;
  const config = checkTrainConfig(tree.config, `${where}: config`);
  checkProgress(where, tree, config);
  return { ...tree, config };
}

/** The checkpoint's progress as fit() writes it: what a resume reads besides the config. */
function checkProgress(where: string, tree: CheckpointTree, config: TrainConfig): void {
  const bad = (field: string, expected: string, value: unknown, Kind: typeof TypeError = TypeError) =>
    new Kind(`${where}: ${field} must be ${expected}, got ${show(value)}`);
  const integer = (field: string, value: unknown, min: number, max: number) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
      throw new (typeof value === 'number' ? RangeError : TypeError)(
        `${where}: ${field} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`}, got ${show(value)}`,
      );
    return value;
  };
  const record = (field: string, value: unknown): Record<string, unknown> => {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Tensor)
      throw bad(field, 'an object', value);
    return value as Record<string, unknown>;
  };
  const tensors = (field: string, value: unknown) => {
    for (const [k, v] of Object.entries(record(field, value)))
      if (!(v instanceof Tensor)) throw new TypeError(`${where}: ${field}[${JSON.stringify(k)}] must be a Tensor, got ${show(v)}`);
  };
  const runs = config.optimizers.length;
  const position = record('position', tree.position);
  const run = integer('position.run', position.run, 0, runs);
  const epoch = integer('position.epoch', position.epoch, 0, run === runs ? 0 : config.epochs - 1);
  // The batch is checked against the epoch's batch count by fit(), which knows the data.
  const batch = integer('position.batch', position.batch, 0, run === runs ? 0 : Number.MAX_SAFE_INTEGER);
  tensors('initial', tree.initial);
  if (!Array.isArray(tree.finished) || tree.finished.length !== run)
    throw new TypeError(
      `${where}: finished must be the ${run} finished runs' metrics (position.run is ${run}), got ${show(tree.finished)}`,
    );
  tree.finished.forEach((m, i) => checkRunMetrics(`${where}: finished[${i}]`, m, config.optimizers[i]));
  const current = tree.current;
  if (current === null || current === undefined) {
    // Written at a run's start only: a stop or an epoch's end within a run saves the run in progress.
    if (epoch !== 0 || batch !== 0)
      throw new TypeError(
        `${where}: current must hold the run in progress (stopped at epoch ${epoch}, batch ${batch}), got ${show(current)}`,
      );
    return;
  }
  if (run === runs) throw new TypeError(`${where}: current must be null once every run has finished, got ${show(current)}`);
  const c = record('current', current);
  tensors('current.model', c.model);
  record('current.optimizer', c.optimizer);
  checkRunMetrics(`${where}: current.metrics`, c.metrics, config.optimizers[run]);
  const done = (c.metrics as RunMetrics).epochs.length;
  if (done !== epoch) throw new RangeError(`${where}: current.metrics holds ${done} epochs, but position.epoch is ${epoch}`);
  if (typeof c.trainLossSum !== 'number' || !Number.isFinite(c.trainLossSum) || (batch === 0 && c.trainLossSum !== 0))
    throw bad(
      'current.trainLossSum',
      batch === 0 ? '0 (no batch of the epoch is done)' : 'a finite number',
      c.trainLossSum,
      typeof c.trainLossSum === 'number' ? RangeError : TypeError,
    );
}

/** A run's metrics as fit() builds them: the report and the run's next epochs append to and read these. */
function checkRunMetrics(where: string, value: unknown, optimizer: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new TypeError(`${where} must be a run's metrics, got ${show(value)}`);
  const m = value as Record<string, unknown>;
  if (m.optimizer !== optimizer)
    throw new TypeError(`${where}.optimizer must be ${show(optimizer)} (the config's run in that place), got ${show(m.optimizer)}`);
  const list = (field: string, check: (v: unknown) => boolean, what: string, optional = false) => {
    const v = m[field];
    if (optional && v === undefined) return;
    if (!Array.isArray(v)) throw new TypeError(`${where}.${field} must be an array of ${what}, got ${show(v)}`);
    for (let i = 0; i < v.length; i++)
      if (!check(v[i])) throw new TypeError(`${where}.${field}[${i}] must be ${what.replace(/s$/, '')}, got ${show(v[i])}`);
  };
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  list('groups', (g) => Array.isArray(g) && g.every((n) => typeof n === 'string'), 'arrays of parameter names');
  list(
    'epochs',
    (e) =>
      isObject(e) &&
      ['epoch', 'trainLoss', 'testLoss', 'wallSeconds'].every((k) => typeof (e as Record<string, unknown>)[k] === 'number') &&
      ((e as EpochMetrics).testAccuracy === null || typeof (e as EpochMetrics).testAccuracy === 'number'),
    "epochs' metrics",
  );
  list('updates', (u) => isObject(u) && Array.isArray((u as Record<string, unknown>).lrs), 'learning-rate updates');
  list('stepLosses', (l) => typeof l === 'number', 'numbers', true);
  if (!isObject(m.hyperparameters)) throw new TypeError(`${where}.hyperparameters must be an object, got ${show(m.hyperparameters)}`);
  if (typeof m.stopped !== 'boolean') throw new TypeError(`${where}.stopped must be a boolean, got ${show(m.stopped)}`);
}

/** Writes the checkpoint if one was asked for, and says so. */
export function writeCheckpoint(file: string | undefined, tree: CheckpointTree, onCheckpoint?: (file: string) => void): void {
  if (!file) return;
  save(file, tree);
  onCheckpoint?.(file);
}
