// Per-subset learning rates from the summaries: the anisotropic Nesterov cubic step, solved in C++ (float64).
import { native, type NativeNesterovResult } from '../core/native';
import { Tensor } from '../core/tensor';
import { checkOptions, show } from '../core/validate';

/** The solver's answer (see NativeNesterovResult for each field), η as a Tensor. */
export interface NesterovResult extends Omit<NativeNesterovResult, 'lrs'> {
  lrs: Tensor | null;
}

/**
 * Solves η = (H + ½·dampingInt·‖Dη‖·D²)⁻¹ g for the root of largest ‖Dη‖, D = diag(order3_) (D's diagonal,
 * i.e. |order3|^(1/3)). Throws RangeError for dampingInt = 0 with an H that is not positive definite.
 */
export function nesterovLrs(H: Tensor, g: Tensor, order3_: Tensor, options: { dampingInt: number }): NesterovResult {
  const where = 'nesterovLrs';
  const o = checkOptions(where, options, ['dampingInt']);
  if (typeof o.dampingInt !== 'number') throw new TypeError(`${where}: options.dampingInt must be a number, got ${show(o.dampingInt)}`);
  if (!Number.isFinite(o.dampingInt) || o.dampingInt < 0)
    throw new RangeError(`${where}: dampingInt must be a finite number ≥ 0, got ${o.dampingInt}`);
  floats(where, { H, g, order3_ });
  return wrap(
    native().nesterovLrs(
      Tensor.handleOf(where, 'H', H),
      Tensor.handleOf(where, 'g', g),
      Tensor.handleOf(where, 'order3_', order3_),
      o.dampingInt,
    ),
  );
}

/** Without the cubic regularisation: η = (H + ridge·I)⁻¹ g (branch 'ridge'), not found when singular. */
export function ridgeLrs(H: Tensor, g: Tensor, options: { ridge: number }): NesterovResult {
  const where = 'ridgeLrs';
  const o = checkOptions(where, options, ['ridge']);
  if (typeof o.ridge !== 'number' || !Number.isFinite(o.ridge) || o.ridge < 0)
    throw new RangeError(`${where}: ridge must be a finite number ≥ 0, got ${show(o.ridge)}`);
  floats(where, { H, g });
  return wrap(native().ridgeLrs(Tensor.handleOf(where, 'H', H), Tensor.handleOf(where, 'g', g), o.ridge));
}

/** Float tensors (an int64 H or g would be solved for int64 learning rates, truncated). */
function floats(where: string, named: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(named)) {
    Tensor.handleOf(where, name, t);
    if (t.dtype === 'int64')
      throw new TypeError(`${where}: ${name} must be float32 or float64, got int64; convert it with .to({ dtype: 'float64' })`);
  }
}

function wrap(r: NativeNesterovResult): NesterovResult {
  return { ...r, lrs: r.lrs === null ? null : new Tensor(r.lrs) };
}
