// Losses with mean reduction, written with differentiable ops so that every order of derivative exists.
import { noGrad } from '../core/grad_mode';
import { Tensor, minMax } from '../core/tensor';
import { formatShape } from '../core/validate';

/** Negative log-likelihood: −mean_n logProbs[n, target[n]]. logProbs [N, C], target int64 [N]. */
export function nll(logProbs: Tensor, target: Tensor): Tensor {
  checkClassification('nll', logProbs, target);
  return logProbs
    .gather(1, target.reshape([-1, 1]))
    .mean()
    .neg();
}

/** nll(logSoftmax(logits)). logits [N, C], target int64 [N]. */
export function crossEntropy(logits: Tensor, target: Tensor): Tensor {
  checkClassification('crossEntropy', logits, target);
  return nll(logits.logSoftmax(1), target);
}

/** mean((pred − target)²) over every element. */
export function mse(pred: Tensor, target: Tensor): Tensor {
  checkSameShape('mse', pred, target);
  return pred.sub(target).pow(2).mean();
}

/** Binary cross-entropy of probabilities: −mean(t·log p + (1 − t)·log(1 − p)), logs clamped at −100 as torch. */
export function bce(prob: Tensor, target: Tensor): Tensor {
  checkSameShape('bce', prob, target);
  // As torch's binary_cross_entropy: a probability outside [0, 1] has no log-likelihood (it gave NaN).
  if (prob.numel > 0) {
    const [lo, hi] = noGrad(() => minMax(prob));
    if (!(lo >= 0 && hi <= 1)) throw new RangeError(`bce: input must hold probabilities in [0, 1], got values in [${lo}, ${hi}]`);
  }
  const logP = prob.log().clampMin(-100);
  const log1mP = prob.neg().add(1).log().clampMin(-100);
  return target.mul(logP).add(target.neg().add(1).mul(log1mP)).mean().neg();
}

function checkTensor(where: string, name: string, value: unknown): Tensor {
  Tensor.handleOf(where, name, value);
  return value as Tensor;
}

function checkClassification(where: string, scores: Tensor, target: Tensor): void {
  checkTensor(where, 'input', scores);
  checkTensor(where, 'target', target);
  if (scores.ndim !== 2) throw new RangeError(`${where}: input must be [N, C], got ${formatShape(scores.shape)}`);
  if (target.dtype !== 'int64') {
    throw new TypeError(
      `${where}: target must hold int64 class indices, got ${target.dtype}; make the labels with { dtype: 'int64' } ` +
        `(grnewt.tensor(labels, { dtype: 'int64' })) or convert them with target.to({ dtype: 'int64' })`,
    );
  }
  if (target.ndim !== 1 || target.shape[0] !== scores.shape[0]) {
    throw new RangeError(`${where}: target must be [N] = [${scores.shape[0]}], got ${formatShape(target.shape)}`);
  }
  checkClassIndices(where, target, scores.shape[1]);
}

/** Every int64 label of `target` a class index in 0 … classes − 1 (nll, crossEntropy and accuracy). */
export function checkClassIndices(where: string, target: Tensor, classes: number): void {
  const labels = target.toArray() as BigInt64Array;
  const bad = labels.findIndex((c) => c < 0n || c >= BigInt(classes));
  if (bad >= 0) throw new RangeError(`${where}: target[${bad}] = ${labels[bad]} is not a class index in 0..${classes - 1}`);
}

function checkSameShape(where: string, a: Tensor, b: Tensor): void {
  checkTensor(where, 'input', a);
  checkTensor(where, 'target', b);
  if (formatShape(a.shape) !== formatShape(b.shape)) {
    throw new RangeError(`${where}: input ${formatShape(a.shape)} and target ${formatShape(b.shape)} must have the same shape`);
  }
}
