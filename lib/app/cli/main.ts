// `grnewt train`: a thin command-line layer over fit(): parse, train (with comparison runs), report.
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { assertWritable as assertFileWritable } from '../../io/atomic_file';
import { load } from '../../io/checkpoint';
import { readStateDict, stateDictFormat, writeStateDict } from '../../io/state_dict_file';
import { writeReport } from '../report/report';
import { DEFAULT_TRAIN_CONFIG as D, type NewtonSummarySpec, type OptimizerName, type TrainConfig } from '../train/config';
import type { Module } from '../../nn/module';
import { checkTrainConfig } from '../train/config_check';
import { fit } from '../train/fit';
import { getNumThreads, maxThreads } from '../../core/runtime';
import { recommendedThreads } from '../../core/threads';
import { FLOAT32_MAX } from '../../core/validate';
import { reporter, type Mode } from './reporter';
import { launch, withoutFlag } from './launcher';
import * as distributed from '../../distributed/process_group';

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER, why = '') =>
  (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    if (n > max) throw new InvalidArgumentError(`expected an integer ≤ ${max}${why}`);
    return n;
  };
// Every real-valued option ends up in float32 arithmetic (parameters, learning rates): a value beyond its
// range would fail mid-run ("cannot be converted to type float"), so it is refused here.
const number = (min: number) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}`);
  if (Math.abs(n) > FLOAT32_MAX) throw new InvalidArgumentError(`expected a number within float32's range (at most ${FLOAT32_MAX})`);
  return n;
};
const fraction = (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n < 1)) throw new InvalidArgumentError('expected a number in (0, 1)');
  return n;
};
const sizes = (value: string) => {
  const parts = value.split(',').map((v) => Number(v.trim()));
  if (parts.length === 0 || parts.some((n) => !Number.isSafeInteger(n) || n < 1))
    throw new InvalidArgumentError('expected sizes such as 200,100');
  return parts;
};
const stateDictFile = (value: string) => {
  try {
    stateDictFormat(value, 'file');
  } catch {
    throw new InvalidArgumentError('expected a file ending in .pt, .pth, .bin (torch.save) or .safetensors');
  }
  return value;
};
const OPTIMIZERS: OptimizerName[] = ['newton-summary', 'adam', 'sgd'];
const optimizerList = (value: string) => {
  const names = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  const bad = names.find((n) => !OPTIMIZERS.includes(n as OptimizerName));
  if (bad !== undefined || names.length === 0)
    throw new InvalidArgumentError(`expected a comma-separated list of ${OPTIMIZERS.join(', ')}`);
  return names as OptimizerName[];
};
const partitionName = (value: string) => {
  if (!/^(canonical|trivial|wb|blocks-[1-9]\d*)$/.test(value))
    throw new InvalidArgumentError('expected canonical, trivial, wb or blocks-N');
  return value;
};

export function program(): Command {
  const cli = new Command('grnewt')
    .description("Newton's method for neural networks through a summary of higher-order derivatives")
    .showHelpAfterError('(grnewt train --help lists every option)');
  const s = D.newtonSummary;
  cli
    .command('train')
    .description('train a model, compare optimizers, and write metrics.json and report.html')
    .addOption(new Option('--model <kind>', 'model').choices(['perceptron', 'lenet', 'vgg', 'autoencoder']).default(D.model.kind))
    .option('--layers <sizes>', 'hidden layer sizes (perceptron: 200,100; autoencoder: 256,32)', sizes)
    .addOption(
      new Option('--activation <name>', 'activation (default tanh; relu for vgg)').choices(['tanh', 'relu', 'sigmoid', 'elu', 'identity']),
    )
    .option('--scaling', "divide each layer's input by √fan_in instead of its initial weights")
    .option('--sigma-w <x>', 'initial weight scale σ_w', number(0), D.model.sigmaW)
    .option('--sigma-b <x>', 'initial bias scale σ_b', number(0), D.model.sigmaB)
    .addOption(new Option('--vgg-config <key>', 'VGG layout (A is VGG-11)').choices(['A', 'B', 'D', 'E']).default(D.model.vggConfig))
    .option('--fc <sizes>', "VGG's classifier sizes", sizes, D.model.fcSizes)
    .option(
      '--data <source>',
      "'fashion-mnist' (full if Debian's dataset-fashion-mnist is installed, else the embedded subset), 'embedded', a directory of IDX files, or a .csv (features…, label)",
      D.data.source,
    )
    .option('--limit <n>', 'use only the first n training examples (and n/5 test ones)', integer(1))
    .option('--test-fraction <x>', 'CSV: fraction of rows (the last ones) kept for testing', fraction, D.data.testFraction)
    .addOption(new Option('--optimizer <name>', 'main optimizer').choices(OPTIMIZERS).default(D.optimizers[0]))
    .option('--compare <list>', 'also train these optimizers on the same data and budget, e.g. adam,sgd', optimizerList, [])
    .option('--damping <x>', 'NewtonSummary: damping λ₁', number(0), s.damping)
    .option('--damping-int <x>', 'NewtonSummary: internal damping λ_int (Nesterov)', number(0), s.dampingInt)
    .option('--no-nesterov', 'NewtonSummary: ridge-regularised Newton step instead of the Nesterov cubic step')
    .option('--ridge <x>', 'NewtonSummary: ridge (with --no-nesterov)', number(0), s.ridge)
    .option('--period-hg <n>', 'NewtonSummary: steps between learning-rate updates', integer(1), s.periodHg)
    .option('--mom-lrs <x>', 'NewtonSummary: moving-average factor of the learning rates', number(0), s.momLrs)
    .option('--no-remove-negative', 'NewtonSummary: keep negative learning rates')
    .option('--momentum <x>', 'NewtonSummary: momentum of the direction', number(0), s.momentum)
    .option('--momentum-damp <x>', 'NewtonSummary: dampening of the momentum', number(0), s.momentumDamp)
    .option('--noregul', 'NewtonSummary: no third-order regularisation')
    .option('--diagonal', "NewtonSummary: only H̄'s diagonal")
    .addOption(new Option('--updater <name>', 'NewtonSummary: direction proposed by').choices(['sgd', 'adam']).default(s.updater))
    .addOption(
      new Option(
        '--summaries <route>',
        "NewtonSummary: auto (Taylor mode when it gives the autograd route's summaries, checked once), taylor (one forward pass of jets) or autograd (repeated backward passes)",
      )
        .choices(['auto', 'taylor', 'autograd'])
        .default(s.summaries),
    )
    .option('--adam-lr <x>', "Adam's learning rate", number(0), D.adam.lr)
    .option('--sgd-lr <x>', "SGD's learning rate", number(0), D.sgd.lr)
    .option('--sgd-momentum <x>', "SGD's momentum", number(0), D.sgd.momentum)
    .option('--partition <name>', 'canonical, trivial, wb or blocks-N', partitionName, D.partition)
    .option('--epochs <n>', 'epochs', integer(1), D.epochs)
    .option('--batch-size <n>', 'training batch size', integer(1), D.batchSize)
    .option('--hg-batch-size <n>', "batch size of NewtonSummary's summaries", integer(1), D.hgBatchSize)
    .addOption(new Option('--dtype <dtype>', 'parameter dtype').choices(['float32', 'float64']).default(D.dtype))
    .option(
      '--threads <n>',
      "libtorch intra-op threads (default: physical cores minus those busy, at least 1; at most this machine's cores)",
      integer(1, maxThreads(), " (this machine's cores)"),
    )
    .addOption(new Option('--device <device>', 'where tensors live').choices(['cpu', 'cuda']).default(D.device))
    .option('--seed <n>', 'random seed', integer(0), D.seed)
    .option('--out <dir>', "output directory (metrics.json, report.html, checkpoint.ckpt); not one holding an unfinished run's checkpoint")
    .option('--resume <checkpoint>', 'continue an interrupted run from its checkpoint.ckpt (with the settings it was started with)')
    .option(
      '--init <file>',
      "start from this state dict (.pt/.pth/.bin written by torch.save, or .safetensors) instead of the model's initialisation",
      stateDictFile,
    )
    .option(
      '--export <file>',
      "write the state dict of the first optimizer's trained model, in the format the extension names (.pt/.pth/.bin or .safetensors)",
      stateDictFile,
    )
    .option(
      '--nproc <n>',
      'data parallel: start n worker processes on this machine (127.0.0.1; --threads each defaults to the recommended count / n)',
      integer(1),
    )
    .option('--rank <n>', "data parallel, one process per machine: this process's rank (default $RANK)", integer(0))
    .option('--world-size <n>', 'data parallel: the number of processes (default $WORLD_SIZE)', integer(1))
    .option('--master-addr <host>', "data parallel: rank 0's address (default $MASTER_ADDR, else 127.0.0.1)")
    .option(
      '--master-port <port>',
      "data parallel: rank 0's port (default $MASTER_PORT, else 29500; --nproc: a free one)",
      integer(1, 65535),
    )
    .option('--quiet', 'print nothing but errors')
    .option('--json', 'print JSON lines (one event per line) instead of progress bars')
    .action(train);
  return cli;
}

/** What commander hands the action: the config's own fields where the names agree, flags for the rest. */
type TrainFlags = Pick<TrainConfig, 'partition' | 'epochs' | 'batchSize' | 'hgBatchSize' | 'dtype' | 'device' | 'seed'> &
  Omit<NewtonSummarySpec, 'noregul' | 'diagonal'> & {
    model: TrainConfig['model']['kind'];
    layers?: number[];
    activation?: TrainConfig['model']['activation'];
    scaling?: boolean;
    sigmaW: number;
    sigmaB: number;
    vggConfig: 'A' | 'B' | 'D' | 'E';
    fc: number[];
    data: string;
    limit?: number;
    testFraction: number;
    threads?: number;
    optimizer: OptimizerName;
    compare: OptimizerName[];
    noregul?: boolean;
    diagonal?: boolean;
    adamLr: number;
    sgdLr: number;
    sgdMomentum: number;
    out?: string;
    resume?: string;
    init?: string;
    export?: string;
    quiet?: boolean;
    json?: boolean;
    nproc?: number;
    rank?: number;
    worldSize?: number;
    masterAddr?: string;
    masterPort?: number;
  };

// The library's names for the config's fields (in its errors), and the flags that set them.
const FLAG_OF: Record<string, string> = {
  'model.kind': '--model',
  'model.hidden': '--layers',
  'model.activation': '--activation',
  'model.scaling': '--scaling',
  'model.sigmaW': '--sigma-w',
  'model.sigmaB': '--sigma-b',
  'model.vggConfig': '--vgg-config',
  'model.fcSizes': '--fc',
  'data.source': '--data',
  'data.limit': '--limit',
  'data.testFraction': '--test-fraction',
  optimizers: '--optimizer/--compare',
  'newtonSummary.damping': '--damping',
  'newtonSummary.dampingInt': '--damping-int',
  'newtonSummary.periodHg': '--period-hg',
  'newtonSummary.momLrs': '--mom-lrs',
  'newtonSummary.momentum': '--momentum',
  'newtonSummary.momentumDamp': '--momentum-damp',
  'newtonSummary.ridge': '--ridge',
  'newtonSummary.noregul': '--noregul',
  'newtonSummary.updater': '--updater',
  'newtonSummary.summaries': '--summaries',
  'adam.lr': '--adam-lr',
  'sgd.lr': '--sgd-lr',
  'sgd.momentum': '--sgd-momentum',
  partition: '--partition',
  epochs: '--epochs',
  batchSize: '--batch-size',
  hgBatchSize: '--hg-batch-size',
  dtype: '--dtype',
  threads: '--threads',
  device: '--device',
  seed: '--seed',
};

/** The config the flags describe, checked by the library, its errors naming the flag instead of the field. */
function checkedConfig(flags: TrainFlags): TrainConfig {
  try {
    return checkTrainConfig(configFrom(flags), 'config');
  } catch (err) {
    const m = /^config: ([\w.]+?)(\[\d+\])? (must .*)$/s.exec((err as Error).message);
    if (m && FLAG_OF[m[1]]) throw new (err instanceof TypeError ? TypeError : RangeError)(`${FLAG_OF[m[1]]} ${m[3]}`);
    throw err;
  }
}

export function configFrom(f: TrainFlags): TrainConfig {
  return {
    model: {
      kind: f.model,
      hidden: f.layers,
      activation: f.activation,
      scaling: f.scaling ?? false,
      sigmaW: f.sigmaW,
      sigmaB: f.sigmaB,
      vggConfig: f.vggConfig,
      fcSizes: f.fc,
    },
    data: { source: f.data, limit: f.limit, testFraction: f.testFraction },
    optimizers: [f.optimizer, ...f.compare.filter((o) => o !== f.optimizer)],
    newtonSummary: {
      damping: f.damping,
      dampingInt: f.dampingInt,
      nesterov: f.nesterov,
      periodHg: f.periodHg,
      momLrs: f.momLrs,
      removeNegative: f.removeNegative,
      momentum: f.momentum,
      momentumDamp: f.momentumDamp,
      ridge: f.ridge,
      noregul: f.noregul ?? false,
      diagonal: f.diagonal ?? false,
      updater: f.updater,
      summaries: f.summaries,
    },
    adam: { lr: f.adamLr },
    sgd: { lr: f.sgdLr, momentum: f.sgdMomentum },
    partition: f.partition,
    epochs: f.epochs,
    batchSize: f.batchSize,
    hgBatchSize: f.hgBatchSize,
    dtype: f.dtype,
    threads: f.threads ?? recommendedThreads().threads,
    device: f.device,
    seed: f.seed,
  };
}

// What may accompany --resume: where and how to report, and what to export. Everything else is the
// checkpoint's own setting, which a flag would silently not change.
const RESUME_FLAGS = new Set(['resume', 'out', 'json', 'quiet', 'export', 'nproc', 'rank', 'worldSize', 'masterAddr', 'masterPort']);

// The flags only some runs read (by attribute name), and when they do. Any other run would ignore them without
// a word (--model lenet --layers 3 trained LeNet as if --layers had not been given).
const OPTIMIZER_FLAGS: Record<OptimizerName, string[]> = {
  'newton-summary': [
    'damping',
    'dampingInt',
    'nesterov',
    'ridge',
    'periodHg',
    'momLrs',
    'removeNegative',
    'momentum',
    'momentumDamp',
    'noregul',
    'diagonal',
    'updater',
    'summaries',
    'partition',
    'hgBatchSize',
  ],
  adam: ['adamLr'],
  sgd: ['sgdLr', 'sgdMomentum'],
};

/** Why a flag given on the command line would have no effect in this run, or undefined. */
function ignoredBecause(name: string, flags: TrainFlags): string | undefined {
  const optimizers = [flags.optimizer, ...flags.compare];
  const owner = (Object.keys(OPTIMIZER_FLAGS) as OptimizerName[]).find((o) => OPTIMIZER_FLAGS[o].includes(name));
  if (owner && !optimizers.includes(owner)) return `it sets ${owner}, which this run does not train (--optimizer/--compare)`;
  if (name === 'layers' && flags.model !== 'perceptron' && flags.model !== 'autoencoder')
    return `it sizes the perceptron's and the autoencoder's layers, not ${flags.model}'s`;
  if ((name === 'vggConfig' || name === 'fc') && flags.model !== 'vgg') return `it shapes vgg, not ${flags.model}`;
  if (name === 'testFraction' && !flags.data.endsWith('.csv')) return `it splits a .csv file, and --data is ${flags.data}`;
  if (name === 'dampingInt' && flags.nesterov === false) return "it is the Nesterov step's, which --no-nesterov turns off";
  return undefined;
}

async function train(flags: TrainFlags, command: Command): Promise<void> {
  if (flags.init && flags.resume) throw new Error('--init cannot be combined with --resume (the checkpoint holds the initial parameters)');
  const given = command.options.filter((o) => command.getOptionValueSource(o.attributeName()) === 'cli');
  if (flags.resume) {
    const settings = given.filter((o) => !RESUME_FLAGS.has(o.attributeName()));
    if (settings.length) {
      throw new Error(
        `--resume continues with the interrupted run's own settings: drop ${settings.map((o) => o.long).join(', ')} (start a new run to change them)`,
      );
    }
  }
  for (const o of given) {
    const why = ignoredBecause(o.attributeName(), flags);
    if (why) throw new Error(`${o.long} would be ignored: ${why}; drop it`);
  }
  const out =
    flags.out ?? (flags.resume ? path.dirname(flags.resume) : path.join('grnewt-runs', new Date().toISOString().replace(/[:.]/g, '-')));
  if (flags.nproc !== undefined && flags.nproc > 1) return launchWorkers(flags, out);
  // A worker of a data-parallel run (started by --nproc, torchrun-style launchers, or by hand with --rank/--world-size).
  const size = worldSizeOf(flags);
  if (size > 1) checkBatchesSplit(flags, size, flags.worldSize !== undefined ? `--world-size ${size}` : `$WORLD_SIZE ${size}`);
  const world = await joinProcessGroup(flags);
  try {
    await trainHere(flags, out, world);
    if (world.size > 1) await distributed.barrier(); // every rank done before rank 0's store goes away
  } finally {
    if (world.size > 1) await distributed.destroy().catch(() => undefined);
  }
}

/** `--nproc N`: N workers of this same command on 127.0.0.1, sharing the output folder. */
async function launchWorkers(flags: TrainFlags, out: string): Promise<void> {
  if (flags.rank !== undefined || flags.worldSize !== undefined)
    throw new Error('--nproc starts the workers itself: drop --rank and --world-size (they are for one process per machine)');
  if (flags.masterAddr !== undefined && !/^(127\.|localhost$)/.test(flags.masterAddr))
    throw new Error('--nproc runs its workers on this machine: --master-addr must be a loopback address (127.0.0.1)');
  // Workers beyond the cores only share them (each is a whole Node process with libtorch): a typo such as
  // --nproc 1000 would otherwise start a thousand.
  const most = Math.max(8, os.availableParallelism());
  if (flags.nproc! > most)
    throw new Error(`--nproc ${flags.nproc} is more workers than this machine has cores (${os.availableParallelism()}): at most ${most}`);
  checkBatchesSplit(flags, flags.nproc!, `--nproc ${flags.nproc}`);
  keepUnfinishedRun(out, flags.resume);
  makeDirectory(out);
  assertWritable(out);
  let args = withoutFlag(withoutFlag(process.argv.slice(2), '--nproc'), '--out');
  args = [...args, '--out', out];
  // Threads: the machine's recommended count shared out among the workers (a resumed run keeps its own).
  if (flags.threads === undefined && !flags.resume)
    args.push('--threads', String(Math.max(1, Math.floor(recommendedThreads().threads / flags.nproc!))));
  process.exitCode = await launch({ nproc: flags.nproc!, args, masterPort: flags.masterPort });
}

/**
 * Each of `size` processes reads an equal part of every batch: checked here, by the flags' names and before any
 * worker starts or joins (fit() refused it in every worker, as 'fit: batchSize', once they had started). A
 * resumed run's batches are its checkpoint's, checked by fit().
 */
function checkBatchesSplit(flags: TrainFlags, size: number, by: string): void {
  if (flags.resume) return;
  const config = checkedConfig(flags);
  for (const [value, flag] of [
    [config.batchSize, '--batch-size'],
    [config.hgBatchSize, '--hg-batch-size'],
  ] as const) {
    if (value % size !== 0)
      throw new RangeError(`${flag} ${value} must be a multiple of ${by}: each process reads an equal part of every batch`);
  }
}

/** How many processes this run has: --world-size, else torchrun's $WORLD_SIZE, else 1. */
function worldSizeOf(flags: TrainFlags): number {
  return flags.worldSize ?? (process.env.WORLD_SIZE ? Number(process.env.WORLD_SIZE) : 1);
}

/** Joins the process group when this process is one of several (flags first, then torchrun's variables). */
async function joinProcessGroup(flags: TrainFlags): Promise<{ rank: number; size: number }> {
  const size = worldSizeOf(flags);
  if (flags.rank !== undefined && flags.worldSize === undefined && !process.env.WORLD_SIZE)
    throw new Error('--rank needs --world-size (or $WORLD_SIZE)');
  if (size === 1 && !(flags.rank ?? 0)) return { rank: 0, size: 1 };
  const options = distributed.resolveInitOptions({
    rank: flags.rank,
    worldSize: flags.worldSize,
    masterAddr: flags.masterAddr,
    masterPort: flags.masterPort,
  });
  if (options.worldSize === 1) return { rank: 0, size: 1 };
  await distributed.init(options);
  return { rank: options.rank, size: options.worldSize };
}

async function trainHere(flags: TrainFlags, out: string, world: { rank: number; size: number }): Promise<void> {
  // Rank 0 alone prints, writes the report, the metrics, the checkpoints and the export; the others train quietly.
  const lead = world.rank === 0;
  const mode: Mode = flags.quiet || !lead ? 'quiet' : flags.json ? 'json' : 'human';
  const init = flags.init ? readStateDict(flags.init, '--init') : undefined;
  if (lead) {
    keepUnfinishedRun(out, flags.resume);
    makeDirectory(out);
    assertWritable(out); // before training, not at the first checkpoint an epoch later
    // Written when the first run ends: a folder that is missing or read-only failed only then, and the run's
    // report and the other runs were lost with it.
    if (flags.export) assertFileWritable(flags.export, '--export');
  }
  const checkpoint = path.join(out, 'checkpoint.ckpt');
  const controller = new AbortController();
  let stoppedBy = 'SIGINT' as NodeJS.Signals; // set by the handler below
  // SIGTERM (kill, systemd, a job scheduler) stops as Ctrl-C does: after this step, with a checkpoint.
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130); // a second signal: leave at once
    stoppedBy = signal;
    if (mode === 'human')
      process.stderr.write(`\nstopping after this step (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit now)…\n`);
    controller.abort();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const report = reporter(mode);
  let steps = 0;
  const onStep = report.onStep;
  report.onStep = (info) => {
    steps++;
    onStep?.(info);
  };
  const config = checkedConfig(flags);
  // Said once fit() has set it (a resumed run keeps its checkpoint's count), with why that many.
  const onData = (description: string) => {
    report.onData?.(description);
    const threads = getNumThreads();
    const why = flags.resume
      ? "the interrupted run's setting"
      : flags.threads !== undefined
        ? '--threads'
        : `${recommendedThreads().reason}; --threads N to choose`;
    report.onThreads?.(threads, why);
  };
  try {
    let exported = false;
    const onRunEnd = (_: OptimizerName, model: Module, run: number) => {
      if (run !== 1 || !flags.export || !lead) return;
      writeStateDict(flags.export, model.stateDict(), '--export');
      exported = true;
    };
    const { done: _, onThreads: __, ...callbacks } = report; // the reporter's own, not fit()'s
    const metrics = await fit(config, {
      ...callbacks,
      onData,
      checkpoint,
      resume: flags.resume,
      init,
      onRunEnd,
      signal: controller.signal,
      distributed: world.size > 1,
    });
    report.done();
    if (!lead) {
      if (metrics.runs.some((r) => r.stopped)) process.exitCode = stoppedBy === 'SIGTERM' ? 143 : 130;
      return;
    }
    const files = writeReport(out, metrics, { command: ['grnewt', ...process.argv.slice(2)] });
    const stopped = metrics.runs.some((r) => r.stopped);
    if (mode === 'human') {
      console.log('\noptimizer        train loss   test loss   test accuracy   time');
      for (const r of metrics.runs) {
        const last = r.epochs.at(-1);
        const time = r.epochs.reduce((t, e) => t + e.wallSeconds, 0);
        const acc = last?.testAccuracy == null ? '–' : last.testAccuracy.toFixed(4);
        console.log(
          `${r.optimizer.padEnd(16)} ${(last?.trainLoss.toFixed(4) ?? '–').padStart(10)}  ${(last?.testLoss.toFixed(4) ?? '–').padStart(10)}  ${acc.padStart(14)}  ${time.toFixed(1).padStart(6)} s`,
        );
      }
      console.log(`\nreport: ${files.html}\nmetrics: ${files.metrics}`);
      if (exported) console.log(`state dict: ${flags.export}`);
      if (stopped) console.log(`stopped early; continue with: grnewt train --resume ${checkpoint}`);
      if (flags.resume && steps === 0 && !stopped)
        console.log('nothing was left to train: every run of this checkpoint had finished (the table is its results)');
    } else if (mode === 'json') {
      console.log(JSON.stringify({ type: 'done', stopped, report: files.html, metrics: files.metrics, checkpoint }));
    }
    if (stopped) process.exitCode = stoppedBy === 'SIGTERM' ? 143 : 130; // 128 + the signal's number, as a shell reports it
  } finally {
    report.done();
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Refuses to train into a folder that holds the checkpoint of another, unfinished run (a new run, or a resumed
 * one writing elsewhere): it was overwritten at the first epoch's end, so typing the command again instead of
 * --resume lost the interrupted run. A finished run's folder may be reused (its checkpoint has nothing left).
 */
function keepUnfinishedRun(out: string, resume: string | undefined): void {
  const existing = path.join(out, 'checkpoint.ckpt');
  const other = fs.statSync(existing, { throwIfNoEntry: false });
  if (!other) return;
  if (resume !== undefined) {
    const mine = fs.statSync(resume, { throwIfNoEntry: false });
    if (mine && mine.dev === other.dev && mine.ino === other.ino) return; // the run being continued
  }
  let tree: { kind?: unknown; config?: { optimizers?: unknown }; position?: { run?: unknown } };
  try {
    tree = load(existing);
  } catch {
    return; // not a checkpoint that could be continued
  }
  const runs = tree?.config?.optimizers,
    run = tree?.position?.run;
  if (tree?.kind !== 'grnewt-train' || !Array.isArray(runs) || typeof run !== 'number' || run >= runs.length) return;
  throw new Error(
    `--out ${out} holds the checkpoint of an unfinished run (${existing}), which this run would overwrite: continue it with --resume ${existing}, or give another --out`,
  );
}

/** Creates and removes a file in `dir`: the only test that also catches read-only filesystems and ACLs. */
/**
 * Creates `dir` and its missing parents one at a time (Node 20's recursive mkdirSync never returns under
 * /proc), each failure naming the folder it could not make.
 */
function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); !fs.existsSync(p); p = path.dirname(p)) {
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const m of missing) {
    try {
      fs.mkdirSync(m);
    } catch (err) {
      throw new Error(`--out: cannot create the folder ${m} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
}

/**
 * The output directory can be written, and so can the files written there once training has ended: a
 * metrics.json or report.html that is a directory (or read-only) failed only then, with a bare EISDIR, and
 * the runs' results were lost.
 */
function assertWritable(dir: string): void {
  assertDirectoryWritable(dir);
  for (const name of ['metrics.json', 'report.html']) assertFileWritable(path.join(dir, name), '--out');
}

function assertDirectoryWritable(dir: string): void {
  const probe = path.join(dir, `.grnewt-write-test.${process.pid}.${crypto.randomBytes(6).toString('hex')}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.unlinkSync(probe);
  } catch (err) {
    throw new Error(
      `cannot write to the output directory ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): pass --out DIR`,
    );
  }
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`grnewt: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
