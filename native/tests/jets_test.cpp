// Native checks of the Taylor route's elementwise kernel, with no Node: the CPU loop against the same rules
// written with ATen ops, the activations' third derivatives against finite differences, the contract's
// errors, the Taylor route's two implementations against each other (taylor_routes_test.cpp), and — in a
// CUDA build on a machine with a GPU — the CUDA kernel and the whole Taylor route on the GPU against the CPU. Prints
// one line per check; exits 1 if any fails.
#include "method/jets.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/errors.h"
#include "method/activation_derivatives.h"
#include "method/taylor.h"
#include "method/taylor_parts.h"
#include "taylor_routes_test.h"

using grnewt::jets::Activation;
using grnewt::jets::ActivationKind;
using grnewt::jets::Rows;

namespace {

int failures = 0;

void check(bool ok, const std::string& what, double detail = 0) {
  std::printf("%s  %s (%.3g)\n", ok ? "ok  " : "FAIL", what.c_str(), detail);
  if (!ok) ++failures;
}

// Three active subsets, every pair (or only the diagonal ones), with or without third derivatives.
Rows make_rows(bool third, bool diagonal_only) {
  Rows r;
  int64_t next = 1;
  for (int a = 0; a < 3; ++a) {
    r.d1.push_back(next++);
    if (third) r.d3.push_back(next++);
  }
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b <= a; ++b) {
      if (diagonal_only && a != b) continue;
      if (a == b) r.diag.push_back(next);
      r.pair.push_back(next++);
      r.pair_a.push_back(a);
      r.pair_b.push_back(b);
    }
  return r;
}

// First derivatives only (no third, no pairs, no diag table): the adjoint route's rows when second
// derivatives vanish.
Rows first_only_rows() {
  Rows r;
  for (int64_t a = 0; a < 3; ++a) r.d1.push_back(1 + a);
  return r;
}

int64_t row_count(const Rows& r) { return 1 + static_cast<int64_t>(r.d1.size() + r.d3.size() + r.pair.size()); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.cpu().to(at::kDouble) - b.cpu().to(at::kDouble)).abs().max().item<double>();
}

const std::vector<std::pair<std::string, Activation>> kActivations = {
    {"tanh", {ActivationKind::Tanh, 1}},      {"sigmoid", {ActivationKind::Sigmoid, 1}},
    {"relu", {ActivationKind::Relu, 1}},      {"elu", {ActivationKind::Elu, 1}},
    {"elu(0.7)", {ActivationKind::Elu, 0.7}}, {"identity", {ActivationKind::Identity, 1}}};

void kernel_equals_reference(const at::Device& device,
                             const std::function<void(at::Tensor&, const Rows&, Activation)>& kernel,
                             const std::string& name) {
  for (const auto dtype : {at::kDouble, at::kFloat})
    for (const bool third : {true, false})
      for (const bool diagonal : {false, true})
        for (const auto& [label, activation] : kActivations) {
          const Rows rows = make_rows(third, diagonal);
          at::manual_seed(7);
          const at::Tensor J0 = at::randn({row_count(rows), 5, 37}, at::TensorOptions().dtype(dtype)) * 2;
          at::Tensor expected = J0.clone(), actual = J0.clone().to(device);
          grnewt::jets::propagate_elementwise_reference(expected, rows, activation);
          kernel(actual, rows, activation);
          const double scale = expected.abs().max().item<double>(), err = max_abs_diff(actual, expected) / scale;
          const double tolerance = dtype == at::kDouble ? 1e-13 : 2e-6;
          check(err <= tolerance,
                name + " " + label + (dtype == at::kDouble ? " float64" : " float32") + (third ? "" : " noregul") +
                    (diagonal ? " diagonal" : "") + ": relative error",
                err);
        }
  for (const auto& [label, activation] : kActivations) {
    const Rows rows = first_only_rows();
    at::manual_seed(8);
    const at::Tensor J0 = at::randn({row_count(rows), 5, 37}, at::kDouble) * 2;
    at::Tensor expected = J0.clone(), actual = J0.clone().to(device);
    grnewt::jets::propagate_elementwise_reference(expected, rows, activation);
    kernel(actual, rows, activation);
    const double err = max_abs_diff(actual, expected) / expected.abs().max().item<double>();
    check(err <= 1e-13, name + " " + label + " float64, first derivatives only: relative error", err);
  }
}

// The adjoint route's contractions taken by the CPU loop (jets::Contractions) against the same sums by ATen ops,
// over more elements than one task (8192) with a partial last block; the jets themselves must be unchanged, and
// the sums must not depend on the thread count.
void contractions_equal_reference() {
  for (const auto dtype : {at::kDouble, at::kFloat})
    for (const bool second : {true, false})
      for (const bool third : {true, false})
        for (const auto& [label, activation] : kActivations) {
          Rows rows = second ? make_rows(false, true) : first_only_rows();
          at::manual_seed(9);
          const auto options = at::TensorOptions().dtype(dtype);
          const at::Tensor J0 = at::randn({row_count(rows), 41, 301}, options);
          const at::Tensor lambda = at::randn({41, 301}, options);
          grnewt::jets::Contractions expected{lambda, third, {}, {}}, actual{lambda, third, {}, {}};
          at::Tensor by_reference = J0.clone(), by_kernel = J0.clone();
          grnewt::jets::propagate_elementwise_reference(by_reference, rows, activation, &expected);
          grnewt::jets::detail::propagate_elementwise_cpu(by_kernel, rows, activation, {}, &actual);
          double err = max_abs_diff(by_kernel, by_reference) / by_reference.abs().max().item<double>(), scale = 1e-300;
          for (double v : expected.gram) scale = std::max(scale, std::abs(v));
          for (double v : expected.order3) scale = std::max(scale, std::abs(v));
          bool sizes = actual.gram.size() == expected.gram.size() && actual.order3.size() == expected.order3.size();
          for (size_t i = 0; sizes && i < expected.gram.size(); ++i)
            err = std::max(err, std::abs(actual.gram[i] - expected.gram[i]) / scale);
          for (size_t i = 0; sizes && i < expected.order3.size(); ++i)
            err = std::max(err, std::abs(actual.order3[i] - expected.order3[i]) / scale);
          const int threads = at::get_num_threads();
          at::set_num_threads(2);
          grnewt::jets::Contractions two{lambda, third, {}, {}};
          at::Tensor again = J0.clone();
          grnewt::jets::detail::propagate_elementwise_cpu(again, rows, activation, {}, &two);
          at::set_num_threads(threads);
          const bool same = two.gram == actual.gram && two.order3 == actual.order3;
          check(sizes && same && err <= (dtype == at::kDouble ? 1e-12 : 1e-5),
                "CPU contractions vs ATen " + label + (dtype == at::kDouble ? " float64" : " float32") +
                    (second ? "" : ", first derivatives only") + (third ? "" : ", no order 3") +
                    ": relative error, same on 2 threads",
                err);
        }
}

void third_derivatives_match_finite_differences() {
  const double h = 1e-5;
  for (const auto& [label, activation] : kActivations) {
    double worst = 0;
    for (double y : {-2.3, -0.7, -0.1, 0.2, 0.9, 1.7}) {
      const int kind = static_cast<int>(activation.kind);
      auto d = [&](double at) {
        double f1, f2, f3;
        grnewt::jets::activation_derivatives<double>(
            kind, at, grnewt::jets::activation_value<double>(kind, at, activation.alpha), activation.alpha, f1, f2, f3);
        return std::vector<double>{grnewt::jets::activation_value<double>(kind, at, activation.alpha), f1, f2, f3};
      };
      const auto lo = d(y - h), mid = d(y), hi = d(y + h);
      for (int k = 1; k <= 3; ++k) worst = std::max(worst, std::abs((hi[k - 1] - lo[k - 1]) / (2 * h) - mid[k]));
    }
    check(worst < 1e-8, "f1, f2, f3 of " + label + " against central differences of f, f1, f2", worst);
  }
}

void contract_errors_are_typed() {
  const Rows rows = make_rows(true, false);
  auto throws = [&](at::Tensor J, Rows r, const std::string& what) {
    try {
      grnewt::jets::propagate_elementwise(J, r, {ActivationKind::Tanh, 1});
      check(false, "refuses " + what);
    } catch (const grnewt::RangeError&) {
      check(true, "refuses " + what + " (RangeError)");
    } catch (const grnewt::TypeError&) {
      check(true, "refuses " + what + " (TypeError)");
    }
  };
  throws(at::zeros({row_count(rows) - 1, 4}, at::kDouble), rows, "a row past the end");
  throws(at::zeros({row_count(rows), 4}, at::kDouble).t().contiguous().t(), rows, "a non-contiguous J");
  throws(at::zeros({row_count(rows), 4}, at::kInt), rows, "an integer J");
  Rows broken = rows;
  broken.pair_a.pop_back();
  throws(at::zeros({row_count(rows), 4}, at::kDouble), broken, "tables of different sizes");
  Rows no_diag = rows;
  no_diag.diag.clear();
  throws(at::zeros({row_count(rows), 4}, at::kDouble), no_diag,
         "no diag table while third derivatives and pairs read it");
}

#ifdef GRNEWT_WITH_CUDA
// The whole Taylor route on the GPU against the CPU: a small MLP, canonical partition, float64.
void taylor_route_on_cuda() {
  using grnewt::taylor::Op;
  at::manual_seed(3);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  std::vector<Op> model;
  const std::vector<int64_t> sizes{12, 9, 7, 4};
  for (size_t k = 0; k + 1 < sizes.size(); ++k) {
    Op layer;
    layer.kind = Op::Kind::Linear;
    layer.weight = at::randn({sizes[k + 1], sizes[k]}, f64) / std::sqrt(static_cast<double>(sizes[k]));
    layer.bias = at::randn({sizes[k + 1]}, f64);
    layer.dweight = at::randn_like(layer.weight);
    layer.dbias = at::randn_like(layer.bias);
    layer.weight_group = static_cast<int64_t>(2 * k);
    layer.bias_group = static_cast<int64_t>(2 * k + 1);
    model.push_back(layer);
    if (k + 2 < sizes.size()) {
      Op act;
      act.kind = Op::Kind::Activation;
      act.activation = {ActivationKind::Tanh, 1};
      model.push_back(act);
    }
  }
  const at::Tensor x = at::randn({33, 12}, f64), y = at::randint(0, 4, {33}, at::TensorOptions().dtype(at::kLong));
  const auto cpu = grnewt::taylor::summaries(model, grnewt::taylor::Loss::CrossEntropy, x, y, 6, {});
  std::vector<Op> on_gpu = model;
  for (Op& op : on_gpu)
    for (at::Tensor* t : {&op.weight, &op.bias, &op.dweight, &op.dbias})
      if (t->defined()) *t = t->cuda();
  for (const auto route : {grnewt::taylor::detail::Route::Jets, grnewt::taylor::detail::Route::Adjoint}) {
    const auto gpu = grnewt::taylor::detail::summaries_by(route, on_gpu, grnewt::taylor::Loss::CrossEntropy, x.cuda(),
                                                          y.cuda(), 6, {});
    const double err = std::max({max_abs_diff(gpu.hg.H, cpu.hg.H), max_abs_diff(gpu.hg.g, cpu.hg.g),
                                 max_abs_diff(gpu.hg.order3, cpu.hg.order3)});
    check(err < 1e-10,
          std::string("Taylor route (") + (route == grnewt::taylor::detail::Route::Jets ? "jets" : "adjoint") +
              " implementation) on CUDA equals the CPU route (MLP 12-9-7-4, float64, canonical): max abs difference",
          err);
  }
}
#endif

}  // namespace

// at::parallel_for is a template that runs serially in code compiled without OpenMP: the Taylor route's chunks,
// elementwise loop and loss head then ignored setNumThreads. This file gets grnewt_core's OpenMP flags (PUBLIC in
// CMakeLists.txt), so on 2 threads both must take part here as there.
void parallel_for_uses_the_threads() {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  std::vector<int> ran_on(2, -1);
  at::parallel_for(0, 2, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) ran_on[i] = at::get_thread_num();
  });
  at::set_num_threads(threads);
  check(ran_on[0] != ran_on[1], "at::parallel_for runs on 2 threads when told to (OpenMP in the build)");
}

int main() {
  parallel_for_uses_the_threads();
  third_derivatives_match_finite_differences();
  using grnewt::jets::detail::propagate_elementwise_cpu;
  kernel_equals_reference(
      at::kCPU, [](at::Tensor& J, const Rows& rows, Activation a) { propagate_elementwise_cpu(J, rows, a); },
      "CPU kernel vs ATen rules");
  // f(y) handed in (the adjoint route's values pass has it) instead of computed by the kernel
  kernel_equals_reference(
      at::kCPU,
      [](at::Tensor& J, const Rows& rows, Activation a) {
        propagate_elementwise_cpu(J, rows, a, grnewt::jets::apply(J[0], a).clone());
      },
      "CPU kernel given f(y) vs ATen rules");
  contractions_equal_reference();
  contract_errors_are_typed();
  failures += grnewt::tests::taylor_routes_agree();
  failures += grnewt::tests::dense_convolutions_check();
  failures += grnewt::tests::winograd_convolutions_check();
#ifdef GRNEWT_WITH_CUDA
  if (at::hasCUDA()) {
    kernel_equals_reference(at::Device(at::kCUDA, 0), grnewt::jets::detail::propagate_elementwise_cuda,
                            "CUDA kernel vs ATen rules (CPU)");
    taylor_route_on_cuda();
  } else {
    std::printf("skip  CUDA checks: built with CUDA but no GPU is visible\n");
  }
#else
  std::printf("skip  CUDA checks: this build has no CUDA (libtorch without CUDA)\n");
#endif
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
