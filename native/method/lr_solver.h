// The anisotropic Nesterov cubic step: per-subset learning rates η solving
//   η = (H̄ + ½ λ r D²)⁻¹ ḡ,   r = ‖D η‖,
// taking the solution of largest r. Float64 throughout, whatever the inputs' dtype. S is small (≤ a few
// hundred), so everything is dense and exact: after eliminating the subsets where D ≈ 0 (a Schur
// complement) and scaling by D⁻¹, one symmetric eigendecomposition turns ‖Dη(r)‖ into the closed-form
// secular function ‖ξ(r)‖² = Σ βᵢ² / (μᵢ + ½λr)², whose root is bracketed and found by Brent's method.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace grnewt::lr_solver {

struct Result {
  bool found = false;
  std::vector<double> lrs;  // η, empty when !found
  double r = 0;             // ‖Dη‖ at the solution
  double r0 = 0;            // lower end of the search: where H̄ + ½λrD² stops being singular
  double bracket_lo = 0, bracket_hi = 0;
  // 'newton' (λ = 0), 'positive-definite' (H̄ ≻ 0, search from 0), 'indefinite' (search from r0 > 0),
  // 'hard-case' (ḡ has no component on the critical eigenvector: the solution sits at r0)
  std::string branch;
  bool d_singular = false;  // some d_s ≈ 0: those subsets were eliminated first
  int iterations = 0;       // Brent iterations
  double residual = 0;  // ‖(H̄ + ½λrD²)η − ḡ‖ / max(‖ḡ‖, ‖H̄‖‖η‖) at the point returned (or refused)
  double gap = 0;      // |‖Dη‖ − r| / max(r, 1) at that point
  std::string reason;  // why no solution, when !found
};

// H: [S,S], g: [S], d: [S] (D's diagonal, ≥ 0), damping_int = λ ≥ 0.
// Throws grnewt::RangeError for λ = 0 with a non-positive-definite H̄ (no solution exists).
Result solve(const at::Tensor& H, const at::Tensor& g, const at::Tensor& d, double damping_int);

// Without Nesterov: η = (H̄ + ridge·I)⁻¹ ḡ (branch 'ridge'); not found when that matrix is singular.
Result ridge(const at::Tensor& H, const at::Tensor& g, double ridge);

// A point is returned only if it satisfies both equations to these bounds; otherwise found = false and the
// reason says that float64 could not resolve the problem (never a point that is not a solution).
constexpr double kResidualBound = 1e-10;
constexpr double kGapBound = 1e-12;

// Ratio below which d_s / max(d) counts as zero: d_s² then weighs ≤ 1e-12 of the largest regularisation.
constexpr double kNullRatio = 1e-6;

}  // namespace grnewt::lr_solver
