// A dataset of examples held in two tensors whose first dimension indexes the examples.
import { tensor } from '../core/creation';
import { Tensor } from '../core/tensor';
import { checkInteger, formatShape } from '../core/validate';

/** Examples held in two tensors, inputs x and targets y, whose first dimension indexes the examples. */
export class TensorDataset {
  constructor(
    readonly x: Tensor,
    readonly y: Tensor,
  ) {
    Tensor.handleOf('TensorDataset', 'x', x);
    Tensor.handleOf('TensorDataset', 'y', y);
    if (x.ndim === 0 || y.ndim === 0 || x.shape[0] !== y.shape[0]) {
      throw new RangeError(`TensorDataset: x ${formatShape(x.shape)} and y ${formatShape(y.shape)} must have the same first dimension`);
    }
  }
  get length(): number {
    return this.x.shape[0];
  }
  /** The examples at `indices`, as [x, y] batches. */
  batch(indices: ArrayLike<number>): [Tensor, Tensor] {
    const index = tensor(Int32Array.from(indices as ArrayLike<number>));
    const out: [Tensor, Tensor] = [this.x.indexSelect(0, index), this.y.indexSelect(0, index)];
    index.dispose();
    return out;
  }
  /** The first n examples (or all), as a new dataset. */
  subset(n: number): TensorDataset {
    checkInteger('TensorDataset.subset', 'n', n, 1);
    const [x, y] = this.batch(Array.from({ length: Math.min(n, this.length) }, (_, i) => i));
    return new TensorDataset(x, y);
  }
}
