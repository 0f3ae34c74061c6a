// How NewtonSummary turns the solver's η into each group's learning rate (the method note's update rule):
// η_s with negatives removed (removeNegative) and clipped (lrsClip), damped by the group's damping λ₁, then
// mixed into the previous lr with the group's moving-average factor momLrs — except on the first update,
// which takes the damped η alone (there is no previous lr to average with).

export interface LrUpdateGroup {
  lr: number;
  damping: number;
  momLrs: number;
}

export interface LrUpdateRules {
  removeNegative: boolean;
  lrsClip?: [number, number];
  /** No learning rate was computed yet: the new ones are the damped η alone. */
  first: boolean;
}

/** Every group's next lr from η (one per group), or null when one would not be finite (a huge damping · η). */
export function nextLrs(groups: readonly LrUpdateGroup[], eta: readonly number[], rules: LrUpdateRules): number[] | null {
  if (eta.length !== groups.length) throw new RangeError(`nextLrs: η has ${eta.length} entries for ${groups.length} groups`);
  const next = groups.map((group, s) => {
    let e = rules.removeNegative ? Math.max(0, eta[s]) : eta[s];
    if (rules.lrsClip) e = Math.min(Math.max(e, rules.lrsClip[0]), rules.lrsClip[1]);
    const mom = rules.first ? 0 : group.momLrs;
    return mom * group.lr + (1 - mom) * group.damping * e;
  });
  return next.every(Number.isFinite) ? next : null;
}
