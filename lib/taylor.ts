// The fast route for a Perceptron's summaries: forward jets of order 3 for every subset at once (C++),
// equal to computeHg's autograd route (tested to 1e-10 in float64) at a fraction of its cost.
import { Linear } from './nn/layers';
import { native } from './native';
import { Perceptron } from './models/perceptron';
import { fanIn } from './models/init';
import { checkParamGroups, type ParamGroup } from './partition';
import { assertFree } from './busy';
import { checkFinite, groupDirection, wrapHg, type Hg, type HgOptions } from './summaries';
import { Tensor } from './tensor';
import { checkBoolean, checkOptions, show } from './validate';

/**
 * computeHg for `model` (a models.Perceptron) and its natural loss — losses.nll(model.forward(x), y) when it
 * classifies, losses.mse(model.forward(x), y) otherwise — by Taylor mode instead of repeated backward passes.
 * Parameters of the model absent from `paramGroups` get no direction (as in computeHg).
 */
export function computeHgTaylor(model: Perceptron, paramGroups: ParamGroup[], x: Tensor, y: Tensor, direction: Tensor[], options?: HgOptions): Hg {
  const where = 'computeHgTaylor';
  if (!(model instanceof Perceptron)) throw new TypeError(`${where}: model must be a models.Perceptron, got ${show(model)}`);
  const groups = checkParamGroups(where, paramGroups);
  assertFree(where, groups.flat());
  const flat = groups.flat();
  const grouped = groupDirection(where, groups, direction);
  const groupOf = new Map<Tensor, number>(), directionOf = new Map<Tensor, Tensor>();
  groups.forEach((g, s) => g.forEach((p, k) => {
    groupOf.set(p, s);
    directionOf.set(p, grouped[s][k]);
  }));
  const owned = new Set(model.parameters());
  const stray = flat.find((p) => !owned.has(p));
  if (stray) throw new RangeError(`${where}: paramGroups holds a tensor that is not a parameter of the model`);
  checkFinite(where, 'x', x);
  checkFinite(where, 'y', y);
  const o = checkOptions(where, options);
  const noregul = o.noregul === undefined ? false : checkBoolean(where, 'noregul', o.noregul);
  const diagonal = o.diagonal === undefined ? false : checkBoolean(where, 'diagonal', o.diagonal);
  const zeroLike = (t: Tensor) => t.detach().mul(0);
  const layers = [...model.layers].map((m) => {
    const layer = m as Linear;
    const w = layer.weight, b = layer.bias!;
    const dw = directionOf.get(w) ?? zeroLike(w), db = directionOf.get(b) ?? zeroLike(b);
    return {
      weight: w.handle(where), bias: b.handle(where), dweight: dw.handle(where), dbias: db.handle(where),
      weightGroup: groupOf.get(w) ?? -1, biasGroup: groupOf.get(b) ?? -1, inputScale: model.scaling ? 1 / Math.sqrt(fanIn(layer)) : 1,
    };
  });
  return wrapHg(native().mlpHg(layers, model.activation, model.classification, x.handle(where), y.handle(where), groups.length, noregul, diagonal));
}
