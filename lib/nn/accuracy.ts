// Classification accuracy, the metric users otherwise write by hand (argmax, compare bigints, count).
import { noGrad } from '../core/grad_mode';
import { Tensor } from '../core/tensor';
import { formatShape } from '../core/validate';
import { checkClassIndices } from './losses';

/**
 * The fraction of rows of `outputs` ([N, C] logits, probabilities or log-probabilities) whose largest entry
 * is at the class index given by `target` (int64 [N]). Records no graph.
 */
export function accuracy(outputs: Tensor, target: Tensor): number {
  Tensor.handleOf('accuracy', 'outputs', outputs);
  Tensor.handleOf('accuracy', 'target', target);
  if (outputs.ndim !== 2) throw new RangeError(`accuracy: outputs must be [N, C] scores, got shape ${formatShape(outputs.shape)}`);
  if (target.dtype !== 'int64') {
    throw new TypeError(
      `accuracy: target must hold int64 class indices, got ${target.dtype}; make the labels with { dtype: 'int64' } or convert them with target.to({ dtype: 'int64' })`,
    );
  }
  const n = outputs.shape[0];
  if (target.ndim !== 1 || target.shape[0] !== n)
    throw new RangeError(`accuracy: target must be [N] = [${n}], got shape ${formatShape(target.shape)}`);
  if (n === 0) throw new RangeError('accuracy: outputs has no rows (N = 0), so accuracy is undefined');
  checkClassIndices('accuracy', target, outputs.shape[1]);
  return noGrad(() => {
    const predicted = outputs.argmax(1);
    const hits = predicted.eq(target);
    const count = hits.sum();
    const value = count.item() / n; // float32 sums of 0/1 are exact up to 2^24 rows
    for (const t of [predicted, hits, count]) t.dispose();
    return value;
  });
}
