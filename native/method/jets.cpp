#include "method/jets.h"

#include <algorithm>

#include "core/errors.h"
#include "core/tensor_factory.h"
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

void propagate_elementwise(at::Tensor& J, const Rows& rows, Activation activation, const at::Tensor& value,
                           Contractions* contractions) {
  check_contract(J, rows);
  const auto like_value = [&](const at::Tensor& t) {
    return t.sizes().equals(J[0].sizes()) && t.scalar_type() == J.scalar_type() && t.is_contiguous() &&
           t.device() == J.device();
  };
  if (value.defined() && !like_value(value))
    throw RangeError("propagate_elementwise: value must be a contiguous tensor of J[0]'s shape, dtype and device");
  if (contractions && (!contractions->lambda.defined() || !like_value(contractions->lambda)))
    throw RangeError("propagate_elementwise: λ must be a contiguous tensor of J[0]'s shape, dtype and device");
  if (J.is_cpu()) return detail::propagate_elementwise_cpu(J, rows, activation, value, contractions);
  if (contractions) detail::contract_reference(J, rows, activation, *contractions);
  if (activation.kind == ActivationKind::Identity) return;
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

at::Tensor backward(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& f, Activation activation) {
  switch (activation.kind) {
    case ActivationKind::Tanh:
      return at::tanh_backward(grad, f);
    case ActivationKind::Sigmoid:
      return at::sigmoid_backward(grad, f);
    case ActivationKind::Relu:
      return at::threshold_backward(grad, y, 0);
    case ActivationKind::Elu:
      return at::elu_backward(grad, activation.alpha, 1, 1, false, y);
    case ActivationKind::Identity:
      break;
  }
  return grad;
}

void propagate_elementwise_reference(at::Tensor& J, const Rows& rows, Activation activation,
                                     Contractions* contractions) {
  check_contract(J, rows);
  if (contractions) detail::contract_reference(J, rows, activation, *contractions);
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

void contract_reference(const at::Tensor& J, const Rows& rows, Activation activation, Contractions& c) {
  const int64_t A = static_cast<int64_t>(rows.d1.size());
  if (A == 0) {  // no active subset: nothing to contract
    c.gram.clear(), c.order3.clear();
    return;
  }
  const std::vector<at::Tensor> index = index_tensors({&rows.d1, &rows.diag}, J.device());
  const auto d = derivatives(J[0], activation);
  const at::Tensor first = J.index_select(0, index[0]).reshape({A, -1});  // [A, elements]
  const at::Tensor w2 = (c.lambda * d.f2).reshape({1, -1});
  const at::Tensor gram = at::mm(first * w2, first.t()).to(at::kDouble).cpu().contiguous();
  c.gram.assign(gram.data_ptr<double>(), gram.data_ptr<double>() + A * A);
  c.order3.clear();
  if (!c.third) return;
  at::Tensor o3 = first * first * (c.lambda * d.f3).reshape({1, -1});
  if (!rows.diag.empty()) o3 = o3 + 3 * J.index_select(0, index[1]).reshape({A, -1}) * w2;
  const at::Tensor sums = (first * o3).sum(1).to(at::kDouble).cpu().contiguous();
  c.order3.assign(sums.data_ptr<double>(), sums.data_ptr<double>() + A);
}

}  // namespace detail

}  // namespace grnewt::jets
