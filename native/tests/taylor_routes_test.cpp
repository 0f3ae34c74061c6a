// The Taylor route's two implementations (all jets forward; forward-over-adjoint) on the same models, float64:
// every activation, both losses, partitions whose subsets span one layer, several layers or none, the input
// scaling, conv (stride, padding, dilation, groups), max-pool before and after an activation, and the
// options diagonal / noregul. They must agree to 1e-12 relative (test/taylor.test.ts holds both to the
// autograd route at 1e-10 through GRNEWT_TAYLOR_ROUTE).
#include "taylor_routes_test.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "method/taylor_parts.h"

namespace grnewt::tests {

namespace {

using taylor::Op;
using taylor::detail::Route;
using Kind = jets::ActivationKind;

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

// Which subset owns each weight and bias: layer k's weight and bias get their own (canonical), everything
// one subset (trivial), all weights one and all biases another (wb), or every other tensor left out (partial).
enum class Partition { Canonical, Trivial, Wb, Partial };

struct Groups {
  int64_t S = 0;
  std::vector<int64_t> weight, bias;
};

Groups groups_for(Partition p, int64_t layers) {
  Groups g;
  for (int64_t k = 0; k < layers; ++k) {
    switch (p) {
      case Partition::Canonical:
        g.weight.push_back(2 * k), g.bias.push_back(2 * k + 1);
        break;
      case Partition::Trivial:
        g.weight.push_back(0), g.bias.push_back(0);
        break;
      case Partition::Wb:
        g.weight.push_back(0), g.bias.push_back(1);
        break;
      case Partition::Partial:
        g.weight.push_back(k % 2 ? -1 : k), g.bias.push_back(k % 2 ? k : -1);
        break;
    }
  }
  g.S = p == Partition::Canonical ? 2 * layers : p == Partition::Trivial ? 1 : p == Partition::Wb ? 2 : layers;
  return g;
}

Op layer(Op::Kind kind, at::Tensor weight, at::Tensor bias, int64_t weight_group, int64_t bias_group, double scale) {
  Op op;
  op.kind = kind;
  op.weight = weight, op.bias = bias;
  op.weight_group = weight_group, op.bias_group = bias_group;
  if (weight_group >= 0) op.dweight = at::randn_like(weight);
  if (bias.defined() && bias_group >= 0) op.dbias = at::randn_like(bias);
  op.input_scale = scale;
  return op;
}

Op activation(Kind kind, double alpha = 1) {
  Op op;
  op.kind = Op::Kind::Activation;
  op.activation = {kind, alpha};
  return op;
}

// An MLP 7-6-5-4 (the last layer without bias when `scale` ≠ 1, to cover a missing bias).
std::vector<Op> mlp(Kind kind, double alpha, const Groups& g, double scale) {
  const std::vector<int64_t> sizes{7, 6, 5, 4};
  std::vector<Op> model;
  for (size_t k = 0; k + 1 < sizes.size(); ++k) {
    const bool last = k + 2 == sizes.size();
    at::Tensor bias = last && scale != 1 ? at::Tensor() : at::randn({sizes[k + 1]}, kF64) * 0.5;
    model.push_back(layer(Op::Kind::Linear,
                          at::randn({sizes[k + 1], sizes[k]}, kF64) / std::sqrt(static_cast<double>(sizes[k])), bias,
                          g.weight[k], g.bias[k], scale));
    if (!last) model.push_back(activation(kind, alpha));
  }
  return model;
}

// conv (stride 2, padding 1) → act → max-pool (swapped with a non-decreasing act) → conv (dilation, groups)
// → act → max-pool (stride 1, padding 1) → flatten → linear → act → linear.
std::vector<Op> convnet(Kind kind, double alpha, const Groups& g, double scale) {
  std::vector<Op> model;
  Op c1 = layer(Op::Kind::Conv2d, at::randn({4, 2, 3, 3}, kF64) / 4, at::randn({4}, kF64) * 0.3, g.weight[0], g.bias[0],
                scale);
  c1.conv.stride = {2, 2}, c1.conv.padding = {1, 1};
  model.push_back(c1);
  model.push_back(activation(kind, alpha));
  Op pool;
  pool.kind = Op::Kind::MaxPool2d;
  pool.pool.kernel_size = {2, 2};
  model.push_back(pool);
  Op c2 =
      layer(Op::Kind::Conv2d, at::randn({4, 2, 2, 2}, kF64) / 3, at::randn({4}, kF64) * 0.3, g.weight[1], g.bias[1], 1);
  c2.conv.dilation = {1, 2}, c2.conv.groups = 2, c2.conv.padding = {1, 1};
  model.push_back(c2);
  model.push_back(activation(kind, alpha));
  Op pool2 = pool;
  pool2.pool.stride = {1, 1}, pool2.pool.padding = {1, 1};
  model.push_back(pool2);
  Op flatten;
  flatten.kind = Op::Kind::Flatten;
  model.push_back(flatten);
  // 12×12 input → conv1 6×6 → pool 3×3 → conv2 (dilation 2 on W, padding 1) 4×3 → pool (stride 1, pad 1) 5×4.
  model.push_back(layer(Op::Kind::Linear, at::randn({5, 4 * 5 * 4}, kF64) / 9, at::randn({5}, kF64) * 0.3, g.weight[2],
                        g.bias[2], 1));
  model.push_back(activation(kind, alpha));
  model.push_back(
      layer(Op::Kind::Linear, at::randn({3, 5}, kF64) / 2, at::randn({3}, kF64) * 0.3, g.weight[3], g.bias[3], 1));
  return model;
}

double relative(const at::Tensor& actual, const at::Tensor& expected) {
  const double scale = std::max(expected.abs().max().item<double>(), 1e-300);
  return (actual - expected).abs().max().item<double>() / scale;
}

// An MLP of the given sizes, tanh, canonical partition, float32 (for the route choice: only shapes matter).
std::vector<Op> wide_mlp(const std::vector<int64_t>& sizes, bool one_subset = false) {
  std::vector<Op> model;
  for (size_t k = 0; k + 1 < sizes.size(); ++k) {
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    Op op = layer(Op::Kind::Linear, at::zeros({sizes[k + 1], sizes[k]}, f32), at::zeros({sizes[k + 1]}, f32),
                  one_subset ? 0 : static_cast<int64_t>(2 * k), one_subset ? 0 : static_cast<int64_t>(2 * k + 1), 1);
    model.push_back(op);
    if (k + 2 < sizes.size()) model.push_back(activation(Kind::Tanh));
  }
  return model;
}

// The choice between the implementations (by estimated cost), as measured on the Perceptron 784-200-100-10:
// on the CPU, the adjoint route for its canonical partition (S = 6; 1.2× faster), the jets route when one
// subset holds everything (S = 1; the estimates tie, and the jets route was 5–10% faster); the adjoint route
// for a deep, even MLP (S = 24, the pairs' rows dominate). On a GPU (H200), the jets route for the Perceptron
// (1.4–1.5× faster at batch 1024 and 8192: launches, not multiply-adds), the adjoint route for a deep MLP
// 1024 wide at batch 1024 (it saves ~10¹² multiply-adds there) but not at batch 16.
int route_choice() {
  unsetenv("GRNEWT_TAYLOR_ROUTE");  // the rule's own choice
  const auto choose = [](const std::vector<Op>& model, int64_t S, int64_t N = 4, bool on_cpu = true) {
    std::vector<const Op*> steps;
    for (const Op& op : model) steps.push_back(&op);
    const at::Tensor x = at::zeros({4, model[0].weight.size(1)});
    return taylor::detail::route_for(steps, taylor::detail::sample_shapes(steps, x), S, {}, N, on_cpu);
  };
  const bool perceptron = choose(wide_mlp({784, 200, 100, 10}), 6) == Route::Adjoint &&
                          choose(wide_mlp({784, 200, 100, 10}, true), 1) == Route::Jets;
  std::printf("%s  route choice: the Perceptron 784-200-100-10, adjoint route if canonical, jets if trivial\n",
              perceptron ? "ok  " : "FAIL");
  const bool deep = choose(wide_mlp(std::vector<int64_t>(13, 64)), 24) == Route::Adjoint;
  std::printf("%s  route choice: the adjoint route for an MLP of 12 layers 64 wide, canonical (S = 24)\n",
              deep ? "ok  " : "FAIL");
  const std::vector<Op> wide = wide_mlp(std::vector<int64_t>(13, 1024));
  const bool gpu = choose(wide_mlp({784, 200, 100, 10}), 6, 1024, false) == Route::Jets &&
                   choose(wide_mlp({784, 200, 100, 10}), 6, 8192, false) == Route::Jets &&
                   choose(wide, 24, 1024, false) == Route::Adjoint && choose(wide, 24, 16, false) == Route::Jets;
  std::printf(
      "%s  route choice on a GPU: jets for the Perceptron (batch 1024, 8192); for 12 layers 1024 wide "
      "(S = 24), adjoint at batch 1024, jets at 16\n",
      gpu ? "ok  " : "FAIL");
  return !perceptron + !deep + !gpu;
}

// The CPU loop of the cross-entropy head against its ATen version, on the jets implementation's output rows.
int head_cpu_equals_reference(const std::vector<Op>& model, const at::Tensor& x, const at::Tensor& labels, int64_t S,
                              const summaries::Options& options) {
  using namespace taylor::detail;
  const Jets z = forward(schedule(model), x, S, options, nullptr);
  const Layout L = layout_of(z, z.J.device());
  const bool third = !options.noregul;
  const HeadSums cpu = cross_entropy_sums_cpu(z, L, labels, third);
  const HeadSums aten = cross_entropy_sums_reference(z, L, labels, third);
  const auto same = [](const at::Tensor& a, const at::Tensor& b) {
    return a.defined() == b.defined() && (!a.defined() || relative(a, b) <= 1e-13);
  };
  const bool ok =
      same(cpu.loss, aten.loss) && same(cpu.lin, aten.lin) && same(cpu.cov, aten.cov) && same(cpu.higher, aten.higher);
  std::printf("%s  cross-entropy head, CPU loop = ATen ops (%lld rows)\n", ok ? "ok  " : "FAIL",
              static_cast<long long>(z.rows()));
  return ok ? 0 : 1;
}

// The adjoint route with its reverse-mode tail forced to start at every step it may start at, against the
// jets route (its models' tails: the MLP's every step, the convnet's flatten → linear → act → linear, for
// relu and identity activations and partitions whose subsets are one layer's).
int reverse_tail_equals_jets(const std::vector<Op>& model, taylor::Loss loss, const at::Tensor& x,
                             const at::Tensor& target, int64_t S, const summaries::Options& options,
                             const taylor::Result& jets) {
  using namespace taylor::detail;
  const std::vector<const Op*> steps = schedule(model);
  const size_t limit = tail_limit(steps, S);
  if (limit == steps.size()) return 0;
  const std::vector<std::vector<int64_t>> shapes = sample_shapes(steps, x);
  double worst = 0;
  for (size_t p = limit; p < steps.size(); ++p) {
    const taylor::Result tail = adjoint_summaries(steps, shapes, loss, x, target, S, options, nullptr, p);
    worst =
        std::max({worst, relative(tail.hg.H, jets.hg.H), relative(tail.hg.g, jets.hg.g),
                  options.noregul ? 0.0 : relative(tail.hg.order3, jets.hg.order3), relative(tail.loss, jets.loss)});
  }
  const bool ok = worst <= 1e-12;
  std::printf("%s  reverse tail = jets route, from each of its %zu possible starts (%.3g)\n", ok ? "ok  " : "FAIL",
              steps.size() - limit, worst);
  return ok ? 0 : 1;
}

// Where the cost rule starts the tail: none for the Perceptron (tanh: its sources stop it), in a relu MLP
// of 14 layers 64 wide into 10 classes where the rows reaching the last layers outnumber the classes.
int tail_choice() {
  std::vector<Op> relu_mlp = wide_mlp(std::vector<int64_t>(15, 64));
  relu_mlp.back().weight = at::zeros({10, 64}, relu_mlp.back().weight.options());
  relu_mlp.back().bias = at::zeros({10}, relu_mlp.back().bias.options());
  relu_mlp.back().dweight = at::zeros_like(relu_mlp.back().weight),
  relu_mlp.back().dbias = at::zeros_like(relu_mlp.back().bias);
  for (Op& op : relu_mlp)
    if (op.kind == Op::Kind::Activation) op.activation = {Kind::Relu, 1};
  const auto start = [](const std::vector<Op>& model, int64_t S) {
    std::vector<const Op*> steps;
    for (const Op& op : model) steps.push_back(&op);
    const at::Tensor x = at::zeros({2, model[0].weight.size(1)});
    return std::pair{taylor::detail::tail_start(steps, taylor::detail::sample_shapes(steps, x), x, S, false),
                     steps.size()};
  };
  const auto [perceptron, perceptron_steps] = start(wide_mlp({784, 200, 100, 10}), 6);
  const auto [relu, relu_steps] = start(relu_mlp, 28);
  const bool ok = perceptron == perceptron_steps && relu < relu_steps;
  std::printf("%s  reverse tail: none for the Perceptron, from step %zu of %zu in a 14-layer relu MLP\n",
              ok ? "ok  " : "FAIL", relu, relu_steps);
  return ok ? 0 : 1;
}

}  // namespace

int taylor_routes_agree() {
  int failures = route_choice() + tail_choice();
  const std::vector<std::pair<std::string, jets::Activation>> activations = {
      {"tanh", {Kind::Tanh, 1}}, {"sigmoid", {Kind::Sigmoid, 1}},  {"relu", {Kind::Relu, 1}},
      {"elu", {Kind::Elu, 1}},   {"elu(-0.6)", {Kind::Elu, -0.6}}, {"identity", {Kind::Identity, 1}}};
  const std::vector<std::pair<std::string, Partition>> partitions = {{"canonical", Partition::Canonical},
                                                                     {"trivial", Partition::Trivial},
                                                                     {"wb", Partition::Wb},
                                                                     {"partial", Partition::Partial}};
  for (const bool conv : {false, true})
    for (const auto& [aname, act] : activations)
      for (const auto& [pname, part] : partitions)
        for (const auto loss : {taylor::Loss::CrossEntropy, taylor::Loss::Mse}) {
          at::manual_seed(17);
          const double scale = part == Partition::Partial ? 0.7 : 1;
          const Groups g = groups_for(part, conv ? 4 : 3);
          const std::vector<Op> model =
              conv ? convnet(act.kind, act.alpha, g, scale) : mlp(act.kind, act.alpha, g, scale);
          const int64_t N = 9, classes = conv ? 3 : 4;
          const at::Tensor x = conv ? at::randn({N, 2, 12, 12}, kF64) : at::randn({N, 7}, kF64) * 1.5;
          const at::Tensor target = loss == taylor::Loss::CrossEntropy
                                        ? at::randint(0, classes, {N}, at::TensorOptions().dtype(at::kLong))
                                        : at::randn({N, classes}, kF64);
          for (const int variant : {0, 1, 2}) {
            summaries::Options options;
            options.diagonal = variant == 1, options.noregul = variant == 2;
            const auto jets = taylor::detail::summaries_by(Route::Jets, model, loss, x, target, g.S, options);
            const auto adjoint = taylor::detail::summaries_by(Route::Adjoint, model, loss, x, target, g.S, options);
            const double err =
                std::max({relative(adjoint.hg.H, jets.hg.H), relative(adjoint.hg.g, jets.hg.g),
                          options.noregul ? (adjoint.hg.order3.abs().max().item<double>() == 0 ? 0.0 : 1.0)
                                          : relative(adjoint.hg.order3, jets.hg.order3),
                          relative(adjoint.loss, jets.loss)});
            const bool ok = err <= 1e-12 && jets.hg.H.abs().max().item<double>() > 0;
            std::printf("%s  adjoint route = jets route: %s %s, %s, %s%s (%.3g)\n", ok ? "ok  " : "FAIL",
                        conv ? "convnet" : "MLP", aname.c_str(), pname.c_str(),
                        loss == taylor::Loss::CrossEntropy ? "cross-entropy" : "mse",
                        variant == 1   ? ", diagonal"
                        : variant == 2 ? ", noregul"
                                       : "",
                        err);
            if (!ok) ++failures;
            if (loss == taylor::Loss::CrossEntropy)
              failures += head_cpu_equals_reference(model, x, target, g.S, options);
            failures += reverse_tail_equals_jets(model, loss, x, target, g.S, options, jets);
          }
        }
  return failures;
}

}  // namespace grnewt::tests
