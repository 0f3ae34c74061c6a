// NewtonSummary's `average` option: the summaries (H̄, ḡ, order3) solved with are averaged across updates —
// a uniform mean throughout ('uniform'), or a moving average with weight `factor` on the past after a
// uniform warm-up of `warmup` updates ('moving'). The running values belong to the optimizer (kept out of
// any tidy scope) and are part of its state dict.
import { type Tensor, keep, tidy } from '../core/tensor';

export interface AverageOptions {
  /** 'moving': an exponential moving average after the warm-up; 'uniform': the mean of every update's summaries. */
  kind: 'moving' | 'uniform';
  /** 'moving': the weight kept on the past at each update; default 0.9. */
  factor?: number;
  /** 'moving': updates averaged uniformly before the moving average starts; default 0. */
  warmup?: number;
}

export interface Summaries {
  H: Tensor;
  g: Tensor;
  order3: Tensor;
}

export interface SavedAverage extends Summaries {
  count: number;
}

export class SummariesAverage {
  readonly #options: AverageOptions;
  #current: SavedAverage | undefined;

  constructor(options: AverageOptions) {
    this.#options = options;
  }

  /** Folds in one update's summaries and returns the average to solve with (owned by this object). */
  add(fresh: Summaries): SavedAverage {
    const prev = this.#current;
    const count = (prev?.count ?? 0) + 1;
    const warm = this.#options.kind === 'uniform' || count <= (this.#options.warmup ?? 0) || !prev;
    const w = warm ? 1 / count : 1 - (this.#options.factor ?? 0.9); // weight of the new summaries
    const mix = (old: Tensor | undefined, now: Tensor) => keep(tidy(() => (old ? old.mul(1 - w).add(now.mul(w)) : now.clone())));
    this.#replace({ count, H: mix(prev?.H, fresh.H), g: mix(prev?.g, fresh.g), order3: mix(prev?.order3, fresh.order3) });
    return this.#current!;
  }

  /** The running average for a state dict, or null before the first update. */
  saved(): SavedAverage | null {
    return this.#current ? { ...this.#current } : null;
  }

  /** Continues from a (checked) saved average; copies it, so the state dict stays the caller's. */
  restore(saved: SavedAverage | undefined): void {
    this.#replace(saved && { count: saved.count, H: keep(saved.H.clone()), g: keep(saved.g.clone()), order3: keep(saved.order3.clone()) });
  }

  #replace(next: SavedAverage | undefined): void {
    if (this.#current) for (const t of [this.#current.H, this.#current.g, this.#current.order3]) t.dispose();
    this.#current = next;
  }
}
