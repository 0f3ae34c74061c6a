// Order-3 jets of one activation tensor for S subsets, stored as rows of one tensor J [R, N, ...]:
// row 0 the value, then per active subset s its first (d1) and third (d3) derivative along u_s, and per
// pair (i, j) of active subsets the mixed second derivative (d2; the pair (s, s) is the second derivative
// along u_s). Rows are appended as subsets become active, so earlier row numbers never change.
//
// propagate_elementwise is the hot spot of the Taylor route: z = f(y) for an elementwise f, all rows in one
// pass, in place (see ../shared/reference/taylor-mode.md for the rules):
//   z = f(y),  z_s = f1 y_s,  z_ij = f1 y_ij + f2 y_i y_j,  z_sss = f1 y_sss + 3 f2 y_s y_ss + f3 y_s³.
// It runs a CPU loop or, for CUDA tensors in a CUDA build, the CUDA kernel of the same contract.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace grnewt::jets {

enum class ActivationKind : int { Identity = 0, Tanh = 1, Sigmoid = 2, Relu = 3, Elu = 4 };

struct Activation {
  ActivationKind kind = ActivationKind::Identity;
  double alpha = 1;  // ELU's α
};

Activation parse_activation(const std::string& name, double alpha = 1);

// Which rows of J hold what, for the active subsets a = 0..A-1 and the pairs p = 0..P-1 among them.
struct Rows {
  std::vector<int64_t> d1;              // [A] first-derivative row of each active subset
  std::vector<int64_t> d3;              // [A] third-derivative row, or empty when order 3 is not wanted
  std::vector<int64_t> diag;            // [A] the row of the pair (a, a); may be empty when d3 and pair are
  std::vector<int64_t> pair;            // [P] the row of each pair
  std::vector<int64_t> pair_a, pair_b;  // [P] the pair's subsets, as indices into d1
};

// The adjoint route's second-order sources at one activation (taylor_adjoint.cpp), taken in the same pass over
// the elements as the jets: with λ the loss's gradient at the activation's output and y the rows before the step,
//   gram[a·A + b] = Σ λ f2 y_a y_b  (over the elements, for the active subsets a, b: rows.d1),
//   order3[a]     = Σ λ (f3 y_a³ + 3 f2 y_a y_aa)  (only when `third`; y_aa from rows.diag, zero without it).
struct Contractions {
  at::Tensor lambda;  // contiguous, of J[0]'s shape, dtype and device
  bool third = false;
  std::vector<double> gram, order3;  // results: [A·A] and [A] (empty without `third`)
};

// Checks the contract (J contiguous float/double of rank ≥ 2, rows in range, consistent sizes), then
// updates J in place. `value`, when defined, is f(J[0]) already computed (a contiguous tensor of J[0]'s shape
// and dtype; a plain forward pass has it), so the CPU loop does not compute it again (the CUDA kernel computes
// f itself and ignores it). `contractions`, when
// given, receives the sums above. Throws grnewt::TypeError/RangeError on a broken contract.
void propagate_elementwise(at::Tensor& J, const Rows& rows, Activation activation, const at::Tensor& value = {},
                           Contractions* contractions = nullptr);

// f(y) and its first three derivatives at y, elementwise, with ATen ops (the same formulas as
// activation_derivatives.h): for the reference rules below and the adjoint route's sources.
struct Derivatives {
  at::Tensor f, f1, f2, f3;
};
Derivatives derivatives(const at::Tensor& y, Activation activation);

// f(y) alone, by ATen's vectorised ops.
at::Tensor apply(const at::Tensor& y, Activation activation);

// grad · f′(y) given y and f = f(y), by ATen's fused backward kernels (autograd's).
at::Tensor backward(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& f, Activation activation);

// The same rules written with ATen ops (one tensor op per row): the independent route the kernels are
// tested against, and the path for devices without a kernel; with `contractions`, those sums by ATen ops too
// (and the CUDA path's, whose kernel does not take them).
void propagate_elementwise_reference(at::Tensor& J, const Rows& rows, Activation activation,
                                     Contractions* contractions = nullptr);

namespace detail {
void propagate_elementwise_cpu(at::Tensor& J, const Rows& rows, Activation activation, const at::Tensor& value = {},
                               Contractions* contractions = nullptr);
void contract_reference(const at::Tensor& J, const Rows& rows, Activation activation, Contractions& contractions);
#ifdef GRNEWT_WITH_CUDA
void propagate_elementwise_cuda(at::Tensor& J, const Rows& rows, Activation activation);
#endif
}  // namespace detail

}  // namespace grnewt::jets
