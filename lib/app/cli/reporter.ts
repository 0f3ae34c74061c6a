// How `grnewt train` shows progress: a bar per epoch and a line per epoch (default), JSON lines (--json),
// or nothing but errors (--quiet).
import cliProgress from 'cli-progress';
import type { FitCallbacks, StepInfo } from '../train/fit';
import type { EpochMetrics, UpdateRecord } from '../train/metrics';

export type Mode = 'human' | 'json' | 'quiet';

/** fit's callbacks, plus the thread count the CLI reports once training has set it. */
export type Reporter = FitCallbacks & { onThreads?(threads: number, why: string): void; done(): void };

export function reporter(mode: Mode, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Reporter {
  if (mode === 'quiet') return { done() {} };
  if (mode === 'json') {
    const emit = (event: Record<string, unknown>) => write(JSON.stringify(event));
    return {
      onData: (description) => emit({ type: 'data', description }),
      onThreads: (threads, why) => emit({ type: 'threads', threads, why }),
      onRunStart: (optimizer, run, runs) => emit({ type: 'run', optimizer, run, runs }),
      onEpoch: (optimizer, m: EpochMetrics) => emit({ type: 'epoch', optimizer, ...m }),
      onUpdate: (optimizer, u: UpdateRecord) => emit({ type: 'update', optimizer, ...u }),
      onCheckpoint: (file) => emit({ type: 'checkpoint', file }),
      done() {},
    };
  }
  let bar: cliProgress.SingleBar | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    onData: (description) => write(`data: ${description}`),
    onThreads: (threads, why) => write(`threads: ${threads} (${why})`),
    onRunStart: (optimizer, run, runs) => write(`\n${optimizer} (${run}/${runs})`),
    onStep(info: StepInfo) {
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `epoch ${info.epoch}/${info.epochs} [{bar}] {value}/{total} | {speed} steps/s | loss {loss}{lrs}`,
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(info.batches, info.batch - 1, { speed: '-', loss: '-', lrs: '' });
      }
      bar.update(info.batch, {
        speed: info.stepsPerSecond.toFixed(1),
        loss: info.loss.toFixed(4),
        lrs: info.lrs ? ` | lrs ${info.lrs.map((v) => v.toExponential(1)).join(' ')}` : '',
      });
    },
    onEpoch(optimizer, m: EpochMetrics) {
      stopBar();
      const accuracy = m.testAccuracy === null ? '' : `  test accuracy ${m.testAccuracy.toFixed(4)}`;
      write(
        `${optimizer} epoch ${m.epoch}: train loss ${m.trainLoss.toFixed(4)}  test loss ${m.testLoss.toFixed(4)}${accuracy}  (${m.wallSeconds.toFixed(1)} s)`,
      );
    },
    onCheckpoint: () => {},
    done: stopBar,
  };
}
