// Per-subset learning rates from the summaries: the anisotropic Nesterov cubic step, solved in C++ (float64).
import { native } from './native';
import { Tensor } from './tensor';
import { checkOptions, show } from './validate';

export interface NesterovResult {
  /** η, in H's dtype; null when no solution was found. */
  lrs: Tensor | null;
  found: boolean;
  /** ‖Dη‖ at the solution. */
  r: number | null;
  /** Why no solution was found. */
  reason?: string;
  /** Start of the search: 0 when H̄ ≻ 0, else where H̄ + ½λrD² stops being singular. */
  r0: number;
  /** The interval Brent's method searched. */
  bracket: [number, number];
  /** 'newton' (λ = 0), 'positive-definite', 'indefinite' or 'hard-case'; null if the search never started. */
  branch: string | null;
  /** Some d_s ≈ 0 (below 1e-6·max d): those subsets were eliminated exactly first. */
  dSingular: boolean;
  iterations: number;
  /** Relative residual of η = (H̄ + ½λ‖Dη‖D²)⁻¹ḡ. */
  residual?: number;
}

/**
 * Solves η = (H + ½·dampingInt·‖Dη‖·D²)⁻¹ g for the root of largest ‖Dη‖, D = diag(order3_) (D's diagonal,
 * i.e. |order3|^(1/3)). Throws RangeError for dampingInt = 0 with an H that is not positive definite.
 */
export function nesterovLrs(H: Tensor, g: Tensor, order3_: Tensor, options: { dampingInt: number }): NesterovResult {
  const where = 'nesterovLrs';
  const o = checkOptions(where, options);
  if (typeof o.dampingInt !== 'number') throw new TypeError(`${where}: options.dampingInt must be a number, got ${show(o.dampingInt)}`);
  if (!Number.isFinite(o.dampingInt) || o.dampingInt < 0) throw new RangeError(`${where}: dampingInt must be a finite number ≥ 0, got ${o.dampingInt}`);
  const r = native().nesterovLrs(Tensor.handleOf(where, 'H', H), Tensor.handleOf(where, 'g', g), Tensor.handleOf(where, 'order3_', order3_), o.dampingInt);
  return { ...r, lrs: r.lrs === null ? null : new Tensor(r.lrs) };
}

/** Without the cubic regularisation: η = (H + ridge·I)⁻¹ g (branch 'ridge'), not found when singular. */
export function ridgeLrs(H: Tensor, g: Tensor, options: { ridge: number }): NesterovResult {
  const where = 'ridgeLrs';
  const o = checkOptions(where, options);
  if (typeof o.ridge !== 'number' || !Number.isFinite(o.ridge) || o.ridge < 0) throw new RangeError(`${where}: ridge must be a finite number ≥ 0, got ${show(o.ridge)}`);
  const r = native().ridgeLrs(Tensor.handleOf(where, 'H', H), Tensor.handleOf(where, 'g', g), o.ridge);
  return { ...r, lrs: r.lrs === null ? null : new Tensor(r.lrs) };
}
