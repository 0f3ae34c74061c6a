// The summaries of the loss along a direction u split by a partition into S subsets (autograd route):
//   ḡ_s = ⟨∇L, u_s⟩,  H̄_ij = u_iᵀ ∇²L u_j,  order3_s = D³L[u_s, u_s, u_s],
// and, for research and cross-checks, every D^n L[u_i1, …, u_in] with i1 ≤ … ≤ in.
// Cost: one backward for ḡ, then per subset one double backward (a row of H̄) and one triple backward
// (order3). Nothing leaves the device until the results are stacked.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace grnewt::summaries {

// One entry per subset: its parameter tensors (leaves requiring grad), or the direction on them.
using Groups = std::vector<std::vector<at::Tensor>>;

struct Options {
  bool noregul = false;   // skip order3 (zeros)
  bool diagonal = false;  // only H̄'s diagonal (off-diagonal zeros)
};

struct Hg {
  at::Tensor H, g, order3;  // [S,S], [S], [S], in the loss's dtype
};

// `loss` is a scalar computed from the parameters (its graph is kept: the caller may reuse it).
Hg compute_hg(const at::Tensor& loss, const Groups& params, const Groups& direction, const Options& options);

// All D^n L[u_i1..u_in] for i1 ≤ … ≤ in, in lexicographic order of (i1, …, in): C(S+n-1, n) values.
at::Tensor diff_n(const at::Tensor& loss, const Groups& params, const Groups& direction, int order);

// Checks that params and direction match (same group sizes, shapes, dtype, device); throws RangeError/TypeError.
void check_partition(const Groups& params, const Groups& direction);

}  // namespace grnewt::summaries
