#include "method/jets.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "core/errors.h"
#include "method/activation_derivatives.h"

namespace grnewt::jets {

Activation parse_activation(const std::string& name, double alpha) {
  if (name == "tanh") return {ActivationKind::Tanh, 1};
  if (name == "sigmoid") return {ActivationKind::Sigmoid, 1};
  if (name == "relu") return {ActivationKind::Relu, 1};
  if (name == "elu") return {ActivationKind::Elu, alpha};
  if (name == "identity") return {ActivationKind::Identity, 1};
  throw TypeError("activation must be tanh, relu, sigmoid, elu or identity, got '" + name + "'");
}

namespace {

void check_contract(const at::Tensor& J, const Rows& rows) {
  if (!J.defined() || J.dim() < 2) throw TypeError("propagate_elementwise: J must be a tensor [rows, ...]");
  if (J.scalar_type() != at::kFloat && J.scalar_type() != at::kDouble)
    throw TypeError("propagate_elementwise: J must be float32 or float64");
  if (!J.is_contiguous()) throw TypeError("propagate_elementwise: J must be contiguous");
  const size_t A = rows.d1.size(), P = rows.pair.size();
  // diag may be empty when nothing reads it (no third derivatives, no pairs): the adjoint route's first-order rows.
  const bool no_diag = rows.diag.empty() && rows.d3.empty() && P == 0;
  if ((rows.diag.size() != A && !no_diag) || (!rows.d3.empty() && rows.d3.size() != A) || rows.pair_a.size() != P ||
      rows.pair_b.size() != P)
    throw RangeError("propagate_elementwise: row tables of inconsistent sizes");
  const int64_t R = J.size(0);
  auto in_rows = [&](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [&](int64_t r) { return r > 0 && r < R; });
  };
  auto in_subsets = [&](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [&](int64_t a) { return a >= 0 && a < static_cast<int64_t>(A); });
  };
  if (!in_rows(rows.d1) || !in_rows(rows.d3) || !in_rows(rows.diag) || !in_rows(rows.pair) ||
      !in_subsets(rows.pair_a) || !in_subsets(rows.pair_b))
    throw RangeError("propagate_elementwise: a row or subset index is out of range");
}

}  // namespace

void propagate_elementwise(at::Tensor& J, const Rows& rows, Activation activation) {
  check_contract(J, rows);
  if (activation.kind == ActivationKind::Identity) return;
  if (J.is_cpu()) return detail::propagate_elementwise_cpu(J, rows, activation);
#ifdef GRNEWT_WITH_CUDA
  if (J.is_cuda()) return detail::propagate_elementwise_cuda(J, rows, activation);
#endif
  propagate_elementwise_reference(J, rows, activation);
}

Derivatives derivatives(const at::Tensor& y, Activation activation) {
  at::Tensor f, f1, f2, f3;
  switch (activation.kind) {
    case ActivationKind::Tanh:
      f = at::tanh(y), f1 = 1 - f * f, f2 = -2 * f * f1, f3 = -2 * f1 * f1 + 4 * f * f * f1;
      break;
    case ActivationKind::Sigmoid:
      f = at::sigmoid(y), f1 = f * (1 - f), f2 = f1 * (1 - 2 * f), f3 = f1 * (1 - 6 * f + 6 * f * f);
      break;
    case ActivationKind::Relu:
      f = at::relu(y), f1 = (y > 0).to(y.scalar_type()), f2 = at::zeros_like(y), f3 = f2;
      break;
    case ActivationKind::Elu: {
      const at::Tensor e = activation.alpha * at::exp(at::clamp_max(y, 0)), pos = y > 0;
      f = at::elu(y, activation.alpha), f1 = at::where(pos, at::ones_like(y), e),
      f2 = at::where(pos, at::zeros_like(y), e), f3 = f2;
      break;
    }
    case ActivationKind::Identity:
      f = y, f1 = at::ones_like(y), f2 = at::zeros_like(y), f3 = f2;
      break;
  }
  return {f, f1, f2, f3};
}

at::Tensor apply(const at::Tensor& y, Activation activation) {
  switch (activation.kind) {
    case ActivationKind::Tanh:
      return at::tanh(y);
    case ActivationKind::Sigmoid:
      return at::sigmoid(y);
    case ActivationKind::Relu:
      return at::relu(y);
    case ActivationKind::Elu:
      return at::elu(y, activation.alpha);
    case ActivationKind::Identity:
      break;
  }
  return y;
}

void propagate_elementwise_reference(at::Tensor& J, const Rows& rows, Activation activation) {
  check_contract(J, rows);
  if (activation.kind == ActivationKind::Identity) return;
  const auto [f, f1, f2, f3] = derivatives(J[0].clone(), activation);
  const at::Tensor original = J.clone();
  const size_t A = rows.d1.size();
  for (size_t a = 0; a < A; ++a) {
    const at::Tensor y1 = original[rows.d1[a]];
    J[rows.d1[a]].copy_(f1 * y1);
    if (!rows.d3.empty())
      J[rows.d3[a]].copy_(f1 * original[rows.d3[a]] + 3 * f2 * y1 * original[rows.diag[a]] + f3 * y1 * y1 * y1);
  }
  for (size_t p = 0; p < rows.pair.size(); ++p)
    J[rows.pair[p]].copy_(f1 * original[rows.pair[p]] +
                          f2 * original[rows.d1[rows.pair_a[p]]] * original[rows.d1[rows.pair_b[p]]]);
  J[0].copy_(f);
}

namespace detail {

// Blocks of consecutive elements, each row streamed through once per block: the reads of the original
// d1 / diag values happen before the rows holding them are overwritten (d3 first, then pairs, then d1).
void propagate_elementwise_cpu(at::Tensor& J, const Rows& rows, Activation activation) {
  const int64_t M = J[0].numel();
  constexpr int64_t kBlock = 256;
  const int kind = static_cast<int>(activation.kind);
  if (activation.kind == ActivationKind::Identity) return;
  // f(y) by ATen's vectorised kernels (libm's scalar tanh/exp would dominate the whole loop).
  const at::Tensor value = apply(J[0], activation);
  AT_DISPATCH_FLOATING_TYPES(J.scalar_type(), "propagate_elementwise_cpu", [&] {
    scalar_t* base = J.data_ptr<scalar_t>();
    const scalar_t* fvalue = value.data_ptr<scalar_t>();
    const auto alpha = static_cast<scalar_t>(activation.alpha);
    auto row = [&](int64_t r) { return base + r * M; };
    at::parallel_for(0, (M + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
      scalar_t f1[kBlock], f2[kBlock], f3[kBlock];
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t e0 = b * kBlock, n = std::min(kBlock, M - e0);
        scalar_t* y0 = row(0) + e0;
        const scalar_t* f = fvalue + e0;
        for (int64_t e = 0; e < n; ++e) activation_derivatives<scalar_t>(kind, y0[e], f[e], alpha, f1[e], f2[e], f3[e]);
        for (size_t a = 0; a < rows.d3.size(); ++a) {
          scalar_t* z3 = row(rows.d3[a]) + e0;
          const scalar_t *y1 = row(rows.d1[a]) + e0, *y2 = row(rows.diag[a]) + e0;
          for (int64_t e = 0; e < n; ++e)
            z3[e] = f1[e] * z3[e] + 3 * f2[e] * y1[e] * y2[e] + f3[e] * y1[e] * y1[e] * y1[e];
        }
        for (size_t p = 0; p < rows.pair.size(); ++p) {
          scalar_t* z2 = row(rows.pair[p]) + e0;
          const scalar_t *yi = row(rows.d1[rows.pair_a[p]]) + e0, *yj = row(rows.d1[rows.pair_b[p]]) + e0;
          for (int64_t e = 0; e < n; ++e) z2[e] = f1[e] * z2[e] + f2[e] * yi[e] * yj[e];
        }
        for (size_t a = 0; a < rows.d1.size(); ++a) {
          scalar_t* z1 = row(rows.d1[a]) + e0;
          for (int64_t e = 0; e < n; ++e) z1[e] *= f1[e];
        }
        std::copy(f, f + n, y0);
      }
    });
  });
}

}  // namespace detail

}  // namespace grnewt::jets
