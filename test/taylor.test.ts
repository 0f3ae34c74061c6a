// The fast route equals the autograd route (float64, 1e-10) for every activation, both losses, every
// partition, with `scaling`, `diagonal` and `noregul`.
import { describe, expect, it } from 'vitest';
import * as g from '../lib';
import { computeHg, computeHgTaylor, losses, models, partition, tensor, type Tensor } from '../lib';
import type { Activation } from '../lib/models';
import { expectClose, values } from './helpers';

const f64 = { dtype: 'float64' as const };
const activations: Activation[] = ['tanh', 'relu', 'sigmoid', 'elu', 'identity'];
const partitions = { canonical: partition.canonical, trivial: partition.trivial, wb: partition.wb, 'blocks-2': (m: models.Perceptron) => partition.blocks(m, 2) };

function setup(activation: Activation, classification: boolean, scaling = false) {
  g.manualSeed(5);
  const model = new models.Perceptron([5, 6, 4, 3], { activation, classification, scaling, dtype: 'float64' });
  const x = tensor(values(7 * 5, 3, -2, 2), { shape: [7, 5], dtype: 'float64' });
  const y = classification ? tensor([0, 1, 2, 2, 1, 0, 1], { dtype: 'int64' }) : tensor(values(7 * 3, 4), { shape: [7, 3], dtype: 'float64' });
  const fullLoss = (a: Tensor, b: Tensor) => (classification ? losses.nll(model.forward(a), b) : losses.mse(model.forward(a), b));
  return { model, x, y, fullLoss };
}

describe('computeHgTaylor equals computeHg', () => {
  for (const activation of activations) {
    for (const classification of [true, false]) {
      for (const [name, make] of Object.entries(partitions)) {
        it(`${activation}, ${classification ? 'nll' : 'mse'}, ${name}`, () => {
          const { model, x, y, fullLoss } = setup(activation, classification);
          const { paramGroups } = make(model);
          const direction = paramGroups.flatMap((grp) => grp.params).map((p, k) => tensor(values(p.numel, 20 + k), { shape: p.shape, ...f64 }));
          const fast = computeHgTaylor(model, paramGroups, x, y, direction);
          const exact = computeHg(paramGroups, fullLoss, x, y, direction);
          for (const k of ['g', 'H', 'order3'] as const) expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
        });
      }
    }
  }

  it('with scaling, diagonal, noregul, and a partial partition', () => {
    const { model, x, y, fullLoss } = setup('tanh', true, true);
    const params = model.parameters();
    const groups = [{ params: [params[0], params[3]] }, { params: [params[4]] }]; // the rest gets no direction
    const direction = [params[0], params[3], params[4]].map((p, k) => tensor(values(p.numel, 40 + k), { shape: p.shape, ...f64 }));
    for (const options of [{}, { diagonal: true }, { noregul: true }]) {
      const fast = computeHgTaylor(model, groups, x, y, direction, options);
      const exact = computeHg(groups, fullLoss, x, y, direction, options);
      for (const k of ['g', 'H', 'order3'] as const) expectClose(fast[k].toArray(), exact[k].toArray() as Float64Array, 1e-10, 1e-12);
    }
  });

  it('checks its arguments', () => {
    const { model, x, y } = setup('tanh', true);
    const { paramGroups } = partition.canonical(model);
    const direction = model.parameters().map((p) => p.detach());
    expect(() => computeHgTaylor({} as never, paramGroups, x, y, direction)).toThrow(/model must be a models.Perceptron/);
    expect(() => computeHgTaylor(model, paramGroups, x, y, direction.slice(1))).toThrow(/direction has 5 tensors, the partition 6 parameters/);
    const other = new models.Perceptron([5, 2]);
    expect(() => computeHgTaylor(model, partition.canonical(other).paramGroups, x, y, other.parameters())).toThrow(/not a parameter of the model/);
  });
});
