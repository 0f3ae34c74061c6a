// Which implementation of the Taylor route summaries() runs: the one with the smaller estimated cost. Both
// spend their time in the layers (GEMMs, convolutions) applied to jet rows, so the estimate counts, per layer,
// its multiply-adds per sample times the rows it is applied to:
//   jets:    1 + A·(1 + third) + pairs(A) rows in, plus the direction's terms U x, U x_t (one per pair with
//            the layer's subset), 3 U x_ss;
//   adjoint: 1 + A·(1 + second) rows in, plus U x and 2 U x_s, plus the values' forward and backward pass
//            (one row each) and the contraction Uᵀλ (one row) of a layer whose subset meets active rows;
// with A the subsets active at the layer's input. The jets route's rows grow as S², the adjoint route's as S:
// the adjoint route is chosen when its estimate, times kAdjointOverhead, is below the jets route's.
#include <ATen/ATen.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "method/taylor_parts.h"

namespace grnewt::taylor::detail {

namespace {

// Multiply-adds per sample of each step (zero but for Linear and Conv2d), from the shapes of one sample's pass.
std::vector<double> layer_costs(const std::vector<const Op*>& steps, const at::Tensor& x) {
  std::vector<double> cost(steps.size(), 0);
  at::Tensor v = x.narrow(0, 0, 1);
  for (size_t k = 0; k < steps.size(); ++k) {
    const Op& op = *steps[k];
    switch (op.kind) {
      case Op::Kind::Linear:
        v = at::linear(v, op.weight);
        cost[k] = static_cast<double>(op.weight.numel());
        break;
      case Op::Kind::Conv2d:
        v = at::conv2d(v, op.weight, {}, op.conv.stride, op.conv.padding, op.conv.dilation, op.conv.groups);
        cost[k] = static_cast<double>(op.weight.numel()) * static_cast<double>(v.size(2) * v.size(3));
        break;
      case Op::Kind::MaxPool2d:
        v = at::max_pool2d(v, op.pool.kernel_size, op.pool.stride.empty() ? op.pool.kernel_size : op.pool.stride,
                           op.pool.padding, op.pool.dilation, op.pool.ceil_mode);
        break;
      case Op::Kind::Flatten:
        v = v.flatten(1);
        break;
      case Op::Kind::Activation:
        break;
    }
  }
  return cost;
}

// What the layer count leaves out of the adjoint route's time, as a factor on its estimate: its values pass,
// max-pool backward and elementwise sources are separate ATen ops where the jets route has one fused kernel.
// Measured (1 thread, float32): adjoint / jets time 1.5 on the Perceptron and 1.1–1.3 on LeNet, where the
// layer estimates alone give 1.19 and 0.73; VGG-11: 0.1, estimated 0.17. With 2, the jets route runs on the first
// two, the adjoint route on VGG-11.
constexpr double kAdjointOverhead = 2;

struct Estimate {
  double jets = 0, adjoint = 0;
};

Estimate estimate(const std::vector<const Op*>& steps, const std::vector<double>& cost, int64_t S,
                  const summaries::Options& options) {
  const bool third = !options.noregul, diagonal = options.diagonal;
  const bool second = third && !second_derivatives_vanish(steps, S);
  size_t first_source = steps.size();
  for (size_t k = 0; k < steps.size() && first_source == steps.size(); ++k)
    if (has_sources(*steps[k])) first_source = k;
  std::vector<bool> active(static_cast<size_t>(S), false);
  double A = 0;
  Estimate e;
  for (size_t k = 0; k < steps.size(); ++k) {
    const Op& op = *steps[k];
    if (op.kind != Op::Kind::Linear && op.kind != Op::Kind::Conv2d) continue;
    const int64_t s = op.dweight.defined() ? op.weight_group : -1;
    const bool own = s >= 0, was_active = own && active[s];
    const double pairs = diagonal ? A : A * (A + 1) / 2;
    const double jets_rows = 1 + A * (third ? 2 : 1) + pairs +
                             (own ? 1 + (diagonal ? (was_active ? 1 : 0) : A) + (third && was_active ? 1 : 0) : 0);
    const double adjoint_rows = 1 + A * (second ? 2 : 1) + (own ? 1 + (second && was_active ? 1 : 0) : 0) + 1 +
                                (k > first_source ? 1 : 0) + (own && A > 0 ? 1 : 0);
    e.jets += cost[k] * jets_rows, e.adjoint += cost[k] * adjoint_rows;
    for (const int64_t group : {s, op.dbias.defined() ? op.bias_group : int64_t{-1}})
      if (group >= 0 && !active[group]) active[group] = true, ++A;
  }
  return e;
}

}  // namespace

Route route_for(const std::vector<const Op*>& steps, const at::Tensor& x, int64_t S,
                const summaries::Options& options) {
  if (const char* forced = std::getenv("GRNEWT_TAYLOR_ROUTE")) {
    const std::string name(forced);
    if (name == "jets") return Route::Jets;
    if (name == "adjoint") return Route::Adjoint;
  }
  std::vector<double> cost;
  try {
    cost = layer_costs(steps, x);
  } catch (const std::exception&) {
    return Route::Jets;  // shapes that do not fit: the jets route reports them in its terms
  }
  const Estimate e = estimate(steps, cost, S, options);
  return kAdjointOverhead * e.adjoint < e.jets ? Route::Adjoint : Route::Jets;
}

}  // namespace grnewt::taylor::detail
