// The schema of metrics.json (and of what fit() returns).
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  /** Fraction of test examples classified correctly; null for the autoencoder. */
  testAccuracy: number | null;
  /** Duration of this epoch, evaluation included. */
  wallSeconds: number;
}

export interface UpdateRecord {
  step: number;
  /** Every group's learning rate after this update, in partition order. */
  lrs: number[];
  found: boolean;
  reason?: string;
  solver: { branch: string | null; r: number | null; r0: number; iterations: number; residual?: number; dSingular: boolean };
}

export interface RunMetrics {
  optimizer: string;
  hyperparameters: Record<string, unknown>;
  /** Names of the parameters in each group of the partition (NewtonSummary), or one group. */
  groups: string[][];
  epochs: EpochMetrics[];
  /** Test loss and accuracy of the initial model, before any step (absent in runs recorded before it existed). */
  initial?: { testLoss: number; testAccuracy: number | null };
  /** The training loss of every step, in order (epoch e's steps after epoch e − 1's); absent in older metrics. */
  stepLosses?: number[];
  /** NewtonSummary's learning-rate updates (empty for the baselines). */
  updates: UpdateRecord[];
  stopped: boolean;
}

export interface Metrics {
  version: 1;
  createdAt: string;
  versions: { grnewt: string; node: string; libtorch: string };
  machine: { cpu: string; cores: number; threads: number };
  data: string;
  config: unknown;
  /** The command line that produced the run, when writeReport was told it (grnewt train does). */
  command?: string[];
  runs: RunMetrics[];
}
