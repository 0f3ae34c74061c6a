// Which implementation of the Taylor route summaries() runs: the one with the smaller estimated cost. Both
// spend their time in the layers (GEMMs, convolutions) applied to jet rows, so the estimate counts, per layer,
// its multiply-adds per sample times the rows it is applied to:
//   jets:    1 + A·(1 + third) + pairs(A) rows in, plus the direction's terms U x, U x_t (one per pair with
//            the layer's subset), 3 U x_ss;
//   adjoint: A·(1 + second) rows in (row 0 comes from its plain forward pass), plus U x and 2 U x_s, plus that
//            forward pass and the backward pass of λ (one row each) and the contraction Uᵀλ (one row) of a layer
//            whose subset meets active rows;
// with A the subsets active at the layer's input. The jets route's rows grow as S², the adjoint route's as S:
// on the CPU the adjoint route is chosen when its estimate, times kAdjointOverhead, is below the jets route's;
// on a GPU, only when the multiply-adds it saves outweigh its fixed cost there (kGpuAdjointFixedCost).
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "method/taylor_parts.h"

namespace grnewt::taylor::detail {

namespace {

// Multiply-adds per sample of each step (zero but for Linear and Conv2d), from one sample's output shapes.
std::vector<double> layer_costs(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<double> cost(steps.size(), 0);
  for (size_t k = 0; k < steps.size(); ++k) {
    const Op& op = *steps[k];
    if (op.kind == Op::Kind::Linear) cost[k] = static_cast<double>(op.weight.numel());
    if (op.kind == Op::Kind::Conv2d)
      cost[k] = static_cast<double>(op.weight.numel()) * static_cast<double>(shapes[k][2] * shapes[k][3]);
  }
  return cost;
}

// What the layer count leaves out of the adjoint route's time, as a factor on its estimate: its backward pass
// and contractions are separate ATen ops. Measured (1 thread, float32, batch 1000): on the Perceptron
// 784-200-100-10, jets / adjoint time 1.2 with the canonical partition (estimates 1.15), 0.9–0.95 with one
// subset (estimates equal); with the weights/biases partition the two took the same time (estimates 1.125).
constexpr double kAdjointOverhead = 1.1;

// On a GPU, small models are bound by kernel launches and memory passes, not by multiply-adds, and the
// adjoint route has more of those (its forward and backward passes of the values, its contractions with λ by
// ATen ops). On an H200 (libtorch 2.11, float32; scripts/bench-gpu.mjs, both timed in turn) it took 1.2–3.7 ms
// more than the jets route on the Perceptron and LeNet at batch 256 to 8192, though it saved up to 9·10⁹
// multiply-adds there; on VGG-11 it saved 2.9·10¹² at batch 256 and took 7.4× less time (its rows ran at
// ~4.6·10¹³ multiply-adds per second).
// So there it is chosen when the multiply-adds it saves over the batch exceed this, ~3 ms of that GPU.
constexpr double kGpuAdjointFixedCost = 1.3e11;

struct Estimate {
  double jets = 0, adjoint = 0;
};

Estimate estimate(const std::vector<const Op*>& steps, const std::vector<double>& cost, int64_t S,
                  const summaries::Options& options) {
  const bool third = !options.noregul, diagonal = options.diagonal;
  const bool second = third && !second_derivatives_vanish(steps, S);
  const std::vector<bool> needs = needs_adjoint(steps);
  const size_t first_source = std::find(needs.begin(), needs.end(), true) - needs.begin();  // λ's backward stops there
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
    const double adjoint_rows = A * (second ? 2 : 1) + (own ? 1 + (second && was_active ? 1 : 0) : 0) + 1 +
                                (k > first_source ? 1 : 0) + (own && A > 0 ? 1 : 0);
    e.jets += cost[k] * jets_rows, e.adjoint += cost[k] * adjoint_rows;
    for (const int64_t group : {s, op.dbias.defined() ? op.bias_group : int64_t{-1}})
      if (group >= 0 && !active[group]) active[group] = true, ++A;
  }
  return e;
}

}  // namespace

Route route_for(const std::vector<const Op*>& steps, const std::vector<std::vector<int64_t>>& shapes, int64_t S,
                const summaries::Options& options, int64_t N, bool on_cpu) {
  if (const char* forced = std::getenv("GRNEWT_TAYLOR_ROUTE")) {
    const std::string name(forced);
    if (name == "jets") return Route::Jets;
    if (name == "adjoint") return Route::Adjoint;
  }
  const Estimate e = estimate(steps, layer_costs(steps, shapes), S, options);
  const double saved = e.jets - kAdjointOverhead * e.adjoint;  // per sample
  if (on_cpu) return saved > 0 ? Route::Adjoint : Route::Jets;
  return static_cast<double>(N) * saved > kGpuAdjointFixedCost ? Route::Adjoint : Route::Jets;
}

}  // namespace grnewt::taylor::detail
