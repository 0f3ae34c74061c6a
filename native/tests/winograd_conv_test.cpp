// Winograd's F(2×2, 3×3) convolutions (core/winograd_conv.cpp) against ATen's: the output, also with the
// samples taken one block at a time and from a strided x, and the input-gradient filter against
// at::convolution_backward, float64 (1e-14) and float32 (1e-5); which convolutions it takes and where it pays.
#include "core/winograd_conv.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "taylor_routes_test.h"

namespace grnewt::tests {

namespace {

double relative(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

int report(bool ok, const std::string& what, double err) {
  std::printf("%s  winograd: %s (%.3g)\n", ok ? "ok  " : "FAIL", what.c_str(), err);
  return ok ? 0 : 1;
}

struct Shape {
  int64_t N, C, K, H, W;
};

int equals_aten() {
  int failures = 0;
  const std::vector<Shape> shapes = {
      {3, 5, 4, 4, 4}, {2, 3, 6, 2, 6}, {2, 2, 3, 8, 2}, {1, 1, 1, 2, 2}, {4, 7, 9, 6, 10}};
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    const auto options = at::TensorOptions().dtype(dtype);
    const double tolerance = dtype == at::kDouble ? 1e-14 : 1e-5;
    const std::string type = dtype == at::kDouble ? "float64" : "float32";
    for (const Shape& s : shapes) {
      const at::Tensor x = at::randn({s.N, s.C, s.H, s.W}, options), w = at::randn({s.K, s.C, 3, 3}, options);
      const at::Tensor lambda = at::randn({s.N, s.K, s.H, s.W}, options);
      const std::string name = std::to_string(s.N) + "×" + std::to_string(s.C) + "×" + std::to_string(s.H) + "×" +
                               std::to_string(s.W) + " → " + std::to_string(s.K) + " channels, " + type;
      const at::Tensor filter = ops::winograd_filter(w), want = at::conv2d(x, w, {}, 1, 1);
      double err = relative(ops::winograd_conv2d(x, filter), want);
      failures += report(err <= tolerance, "= at::conv2d, " + name, err);
      // One sample per block: every block's buffers and its place in the output.
      err = relative(ops::winograd_conv2d(x, filter, 1), want);
      failures += report(err <= tolerance, "= at::conv2d a sample at a time, " + name, err);
      const at::Tensor gradient = std::get<0>(at::convolution_backward(lambda, x, w, c10::nullopt, {1, 1}, {1, 1},
                                                                       {1, 1}, false, {0, 0}, 1, {true, false, false}));
      err = relative(ops::winograd_conv2d(lambda, ops::winograd_input_gradient_filter(w)), gradient);
      failures += report(err <= tolerance, "input-gradient = at::convolution_backward, " + name, err);
      at::Tensor out = at::full({s.N, s.K, s.H, s.W}, std::nan(""), options);
      ops::winograd_conv2d_out(out, x.transpose(2, 3).contiguous().transpose(2, 3), filter);  // a strided x
      err = relative(out, want);
      failures += report(err <= tolerance, "written into out from a strided x, " + name, err);
    }
  }
  return failures;
}

int takes_and_pays() {
  const auto f32 = at::TensorOptions().dtype(at::kFloat), f64 = at::TensorOptions().dtype(at::kDouble);
  const ops::Conv2dOptions same{{1, 1}, {1, 1}, {1, 1}, 1};
  const auto with = [&](auto change) {
    ops::Conv2dOptions o = same;
    change(o);
    return o;
  };
  const at::Tensor x = at::empty({2, 128, 4, 4}, f32), w = at::empty({128, 128, 3, 3}, f32);
  int failures = 0;
  const auto expect = [&](bool got, bool want, const std::string& what) { failures += report(got == want, what, 0); };
  expect(ops::winograd_applies(x, w, same), true, "takes a 3×3 convolution with stride 1 and padding 1");
  expect(ops::winograd_applies(x, w, with([](auto& o) { o.stride = {2, 2}; })), false, "not stride 2");
  expect(ops::winograd_applies(x, w, with([](auto& o) { o.padding = {0, 0}; })), false, "not padding 0");
  expect(ops::winograd_applies(x, w, with([](auto& o) { o.padding = {1, 0}; })), false, "not padding (1, 0)");
  expect(ops::winograd_applies(x, w, with([](auto& o) { o.dilation = {2, 2}; })), false, "not dilation 2");
  expect(ops::winograd_applies(x, at::empty({128, 64, 3, 3}, f32), with([](auto& o) { o.groups = 2; })), false,
         "not groups 2");
  expect(ops::winograd_applies(x, at::empty({128, 128, 5, 5}, f32), same), false, "not a 5×5 kernel");
  expect(ops::winograd_applies(at::empty({2, 128, 5, 4}, f32), w, same), false, "not an odd height");
  expect(ops::winograd_applies(x.to(at::kDouble), w, same), false, "not mixed dtypes");
  expect(ops::winograd_pays(x, w, same), true, "pays: 128 → 128 channels over 4×4, float32");
  expect(ops::winograd_pays(at::empty({2, 128, 8, 8}, f32), w, same), true, "pays over 8×8 in float32");
  expect(ops::winograd_pays(at::empty({2, 128, 16, 8}, f32), w, same), false, "not over 16×8 in float32");
  expect(ops::winograd_pays(at::empty({2, 64, 4, 4}, f32), at::empty({128, 64, 3, 3}, f32), same), false,
         "not from 64 channels in float32");
  expect(ops::winograd_pays(x, at::empty({64, 128, 3, 3}, f32), same), false, "not to 64 channels in float32");
  const at::Tensor x64 = at::empty({2, 64, 16, 16}, f64), w64 = at::empty({64, 64, 3, 3}, f64);
  expect(ops::winograd_pays(x64, w64, same), true, "pays: 64 → 64 channels over 16×16, float64");
  expect(ops::winograd_pays(at::empty({2, 64, 32, 16}, f64), w64, same), false, "not over 32×16 in float64");
  expect(ops::winograd_pays(at::empty({2, 32, 16, 16}, f64), at::empty({64, 32, 3, 3}, f64), same), false,
         "not from 32 channels in float64");
  return failures;
}

}  // namespace

int winograd_convolutions_check() { return equals_aten() + takes_and_pays(); }

}  // namespace grnewt::tests
