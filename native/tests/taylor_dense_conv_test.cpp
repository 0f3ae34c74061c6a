// Small convolutions as dense matrices (method/taylor_dense_conv.cpp): the matrix against at::conv2d over
// strides, paddings, dilations and rectangular kernels and inputs, float64; and which steps the route replaces.
#include <ATen/ATen.h>

#include <cstdio>
#include <string>
#include <vector>

#include "method/taylor_parts.h"
#include "taylor_routes_test.h"

namespace grnewt::tests {

namespace {

using taylor::Op;

struct Geometry {
  std::string name;
  int64_t Ci, H, W, Co, kh, kw;
  ops::Conv2dOptions o;
};

int matrix_equals_conv2d() {
  const std::vector<Geometry> cases = {
      {"2×2 input, 3×3 kernel, padding 1 (VGG-11's last convolutions)", 5, 2, 2, 4, 3, 3, {{1, 1}, {1, 1}, {1, 1}, 1}},
      {"1×1 input, 3×3 kernel, padding 1", 3, 1, 1, 2, 3, 3, {{1, 1}, {1, 1}, {1, 1}, 1}},
      {"2×3 input, 2×3 kernel, stride (1, 2), padding (0, 1)", 2, 2, 3, 3, 2, 3, {{1, 2}, {0, 1}, {1, 1}, 1}},
      {"3×3 input, 3×3 kernel, stride 2, padding 2, dilation 2", 2, 3, 3, 3, 3, 3, {{2, 2}, {2, 2}, {2, 2}, 1}},
      {"5×4 input, 3×2 kernel, no padding (larger than the taps)", 3, 5, 4, 2, 3, 2, {{1, 1}, {0, 0}, {1, 1}, 1}},
  };
  int failures = 0;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  for (const Geometry& g : cases) {
    const at::Tensor w = at::randn({g.Co, g.Ci, g.kh, g.kw}, f64), x = at::randn({6, g.Ci, g.H, g.W}, f64);
    const at::Tensor y = at::conv2d(x, w, {}, g.o.stride, g.o.padding, g.o.dilation, 1);
    const at::Tensor M = taylor::detail::dense_convolution_matrix(w, g.o, {g.Ci, g.H, g.W}, y.sizes().slice(1));
    const double err =
        (at::mm(x.flatten(1), M.t()) - y.flatten(1)).abs().max().item<double>() / y.abs().max().item<double>();
    const bool ok = err <= 1e-14;
    std::printf("%s  dense convolution matrix = at::conv2d: %s (%.3g)\n", ok ? "ok  " : "FAIL", g.name.c_str(), err);
    failures += !ok;
  }
  return failures;
}

// VGG-11's tail on 32×32 inputs: convolutions over 4×4 (left as they are), 2×2 (replaced) and a grouped one
// over 2×2 (left: its output channels are per group).
int replaced_where_cheaper() {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const auto conv = [&](int64_t in, int64_t out, int64_t groups) {
    Op op;
    op.kind = Op::Kind::Conv2d;
    op.weight = at::randn({out, in / groups, 3, 3}, f32), op.bias = at::randn({out}, f32);
    op.dweight = at::randn_like(op.weight), op.dbias = at::randn_like(op.bias);
    op.weight_group = 0, op.bias_group = 1;
    op.conv.padding = {1, 1}, op.conv.groups = groups;
    return op;
  };
  Op pool;
  pool.kind = Op::Kind::MaxPool2d;
  pool.pool.kernel_size = {2, 2};
  const std::vector<Op> model = {conv(8, 16, 1), pool, conv(16, 16, 1), conv(16, 16, 4)};
  std::vector<const Op*> steps;
  for (const Op& op : model) steps.push_back(&op);
  const at::Tensor x = at::randn({3, 8, 4, 4}, f32);
  std::vector<Op> owned;
  const std::vector<const Op*> out =
      taylor::detail::with_dense_convolutions(steps, taylor::detail::sample_shapes(steps, x), x, owned);
  const bool ok = out[0] == steps[0] && out[1] == steps[1] && out[3] == steps[3] && out[2] != steps[2] &&
                  out[2]->kind == Op::Kind::Linear && out[2]->conv_output_shape == std::vector<int64_t>{16, 2, 2} &&
                  out[2]->weight.sizes().equals({64, 64}) && out[2]->bias.sizes().equals({64}) &&
                  at::equal(out[2]->dbias.view({16, 4}), model[2].dbias.view({16, 1}).expand({16, 4}));
  std::printf("%s  dense convolutions: only the ungrouped one over 2×2 inputs is replaced, its bias per position\n",
              ok ? "ok  " : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace

int dense_convolutions_check() { return matrix_equals_conv2d() + replaced_where_cheaper(); }

}  // namespace grnewt::tests
