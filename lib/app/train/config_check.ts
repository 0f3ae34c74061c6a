// Every field of a TrainConfig checked, in the library's terms (`trainConfig: model.kind must be one of …`):
// the same check for a config built in code, by the CLI, or read back from a checkpoint (a crafted one must
// not get further than a bad command line would). The CLI maps the field names to its flags.
import { activations } from '../../models/init';
import { VGG_CONFIGS } from '../../models/vgg';
import { maxThreads } from '../../core/runtime';
import { checkEach, show } from '../../core/validate';
import type { TrainConfig } from './config';

const MODEL_KINDS = ['perceptron', 'lenet', 'vgg', 'autoencoder'] as const;
const OPTIMIZERS = ['newton-summary', 'adam', 'sgd'] as const;

type Where = { where: string };

function fail(c: Where, field: string, expected: string, value: unknown, Kind: typeof TypeError | typeof RangeError = RangeError): never {
  throw new Kind(`${c.where}${field ? `: ${field}` : ''} must be ${expected}, got ${show(value)}`);
}

function object(c: Where, field: string, value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(c, field, 'an object', value, TypeError);
  for (const key of Object.keys(value as object)) {
    if (!keys.includes(key))
      throw new TypeError(`${c.where}: unknown field ${field ? `${field}.` : ''}${key}; the fields are ${keys.join(', ')}`);
  }
  return value as Record<string, unknown>;
}

function oneOf(c: Where, field: string, value: unknown, choices: readonly unknown[]): void {
  if (!choices.includes(value)) fail(c, field, `one of ${choices.join(', ')}`, value, TypeError);
}

function integer(c: Where, field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(
      c,
      field,
      max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`,
      value,
      typeof value === 'number' ? RangeError : TypeError,
    );
  }
}

/** A finite number in [min, max] (or [min, max) when `open`). float32 training: values beyond float32 overflow. */
function number(c: Where, field: string, value: unknown, min: number, max = 3.4e38, open = false): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (open && value === max)) {
    fail(c, field, `a finite number in [${min}, ${max}${open ? ')' : ']'}`, value, typeof value === 'number' ? RangeError : TypeError);
  }
}

function boolean(c: Where, field: string, value: unknown): void {
  if (typeof value !== 'boolean') fail(c, field, 'a boolean', value, TypeError);
}

function sizes(c: Where, field: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) fail(c, field, 'a non-empty array of sizes', value, TypeError);
  checkEach(value as unknown[], (v, i) => integer(c, `${field}[${i}]`, v, 1, 1 << 24));
}

/**
 * Optional fields left out are `undefined`; checkpoints written by grnewt 0.1 stored them as null: such
 * a null is taken as absent (removed), so those runs still resume.
 */
function dropNulls(o: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of keys) if (o[key] === null) delete o[key];
}

/** Throws a TypeError/RangeError naming the first bad field of `config` (its path, e.g. `newtonSummary.periodHg`). */
export function checkTrainConfig(config: unknown, where = 'trainConfig'): TrainConfig {
  const c = { where };
  const o = object(c, '', config, [
    'model',
    'data',
    'optimizers',
    'newtonSummary',
    'adam',
    'sgd',
    'partition',
    'epochs',
    'batchSize',
    'hgBatchSize',
    'dtype',
    'threads',
    'device',
    'seed',
  ]);

  const m = object(c, 'model', o.model, ['kind', 'hidden', 'activation', 'scaling', 'sigmaW', 'sigmaB', 'vggConfig', 'fcSizes']);
  dropNulls(m, ['hidden', 'activation', 'scaling', 'sigmaW', 'sigmaB', 'vggConfig', 'fcSizes']);
  oneOf(c, 'model.kind', m.kind, MODEL_KINDS);
  if (m.hidden !== undefined) sizes(c, 'model.hidden', m.hidden);
  if (m.activation !== undefined) oneOf(c, 'model.activation', m.activation, Object.keys(activations));
  if (m.scaling !== undefined) boolean(c, 'model.scaling', m.scaling);
  // σ beyond ~1e3 saturates every unit: the loss is then NaN or flat, which only looks like a bug elsewhere.
  if (m.sigmaW !== undefined) number(c, 'model.sigmaW', m.sigmaW, 0, 1e3);
  if (m.sigmaB !== undefined) number(c, 'model.sigmaB', m.sigmaB, 0, 1e3);
  if (m.vggConfig !== undefined) oneOf(c, 'model.vggConfig', m.vggConfig, Object.keys(VGG_CONFIGS));
  if (m.fcSizes !== undefined) sizes(c, 'model.fcSizes', m.fcSizes);

  const d = object(c, 'data', o.data, ['source', 'limit', 'testFraction']);
  dropNulls(d, ['limit', 'testFraction']);
  if (typeof d.source !== 'string' || d.source === '')
    fail(c, 'data.source', "'fashion-mnist', 'embedded', a folder of IDX files or a .csv file", d.source, TypeError);
  if (d.limit !== undefined) integer(c, 'data.limit', d.limit, 1);
  if (d.testFraction !== undefined && !(typeof d.testFraction === 'number' && d.testFraction > 0 && d.testFraction < 1))
    fail(c, 'data.testFraction', 'a number in (0, 1)', d.testFraction, typeof d.testFraction === 'number' ? RangeError : TypeError);

  if (!Array.isArray(o.optimizers) || o.optimizers.length === 0)
    fail(c, 'optimizers', `a non-empty array of ${OPTIMIZERS.join(', ')}`, o.optimizers, TypeError);
  (o.optimizers as unknown[]).forEach((name, i) => oneOf(c, `optimizers[${i}]`, name, OPTIMIZERS));
  if (new Set(o.optimizers as unknown[]).size !== (o.optimizers as unknown[]).length)
    fail(c, 'optimizers', 'names without repeats', o.optimizers);

  const ns = object(c, 'newtonSummary', o.newtonSummary, [
    'damping',
    'dampingInt',
    'nesterov',
    'periodHg',
    'momLrs',
    'removeNegative',
    'momentum',
    'momentumDamp',
    'ridge',
    'noregul',
    'diagonal',
    'updater',
    'summaries',
  ]);
  dropNulls(ns, ['summaries']);
  number(c, 'newtonSummary.damping', ns.damping, 0);
  number(c, 'newtonSummary.dampingInt', ns.dampingInt, 0);
  boolean(c, 'newtonSummary.nesterov', ns.nesterov);
  integer(c, 'newtonSummary.periodHg', ns.periodHg, 1);
  number(c, 'newtonSummary.momLrs', ns.momLrs, 0, 1, true);
  boolean(c, 'newtonSummary.removeNegative', ns.removeNegative);
  number(c, 'newtonSummary.momentum', ns.momentum, 0);
  number(c, 'newtonSummary.momentumDamp', ns.momentumDamp, 0, 1);
  number(c, 'newtonSummary.ridge', ns.ridge, 0);
  boolean(c, 'newtonSummary.noregul', ns.noregul);
  boolean(c, 'newtonSummary.diagonal', ns.diagonal);
  // The Nesterov step has no solution with D = 0 (noregul), and takes no ridge: both would go unnoticed.
  if (ns.noregul && ns.nesterov)
    fail(
      c,
      'newtonSummary.noregul',
      'false with the Nesterov step (it has no solution when D = 0: every learning rate would stay 0; turn nesterov off, --no-nesterov)',
      ns.noregul,
    );
  if ((ns.ridge as number) > 0 && ns.nesterov)
    fail(
      c,
      'newtonSummary.ridge',
      '0 with the Nesterov step, which takes no ridge (turn nesterov off, --no-nesterov, to use one)',
      ns.ridge,
    );
  oneOf(c, 'newtonSummary.updater', ns.updater, ['sgd', 'adam']);
  // Checkpoints written before the summaries option existed have none: they resume on the autograd route.
  if (ns.summaries !== undefined) oneOf(c, 'newtonSummary.summaries', ns.summaries, ['auto', 'taylor', 'autograd']);

  const adam = object(c, 'adam', o.adam, ['lr']);
  number(c, 'adam.lr', adam.lr, 0);
  const sgd = object(c, 'sgd', o.sgd, ['lr', 'momentum']);
  number(c, 'sgd.lr', sgd.lr, 0);
  number(c, 'sgd.momentum', sgd.momentum, 0);

  if (typeof o.partition !== 'string' || !/^(canonical|trivial|wb|blocks-[1-9]\d{0,5})$/.test(o.partition)) {
    fail(c, 'partition', 'canonical, trivial, wb or blocks-N', o.partition, TypeError);
  }
  integer(c, 'epochs', o.epochs, 1, 1e6);
  integer(c, 'batchSize', o.batchSize, 1, 1 << 24);
  integer(c, 'hgBatchSize', o.hgBatchSize, 1, 1 << 24);
  oneOf(c, 'dtype', o.dtype, ['float32', 'float64']);
  integer(c, 'threads', o.threads, 1, maxThreads()); // more only oversubscribes the machine
  oneOf(c, 'device', o.device, ['cpu', 'cuda']);
  integer(c, 'seed', o.seed, 0);
  return config as TrainConfig;
}
