// Small convolutions as dense matrices, for the Taylor route on the CPU. A Conv2d over an input of H·W ≤ kh·kw
// positions per channel computes, per output position, products with at most H·W inputs per channel where
// the convolution counts kh·kw (with its padding's zeros): as one matrix M [C_out·H_out·W_out, C_in·H·W] applied
// to the flattened sample it has fewer multiply-adds, and it runs as a plain GEMM. VGG-11 on 32×32 inputs
// has two such layers (512 → 512 channels over 2×2 inputs): there oneDNN's convolution ran at ~20·10⁹
// multiply-adds/s on one thread against ~37·10⁹ for other shapes, and M (4.2M entries against the conv's 9.4M
// multiply-adds per sample) takes 84 ms instead of 302 for its 12 rows of 64 samples (float32, libtorch 1.13).
// The layer's every use in the route — its value, the jets' rows, λ's backward pass, Uᵀλ — then reads M.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <vector>

#include "method/taylor_parts.h"

namespace grnewt::taylor::detail {

namespace {

// A dense matrix may take at most this many times the weight's memory (2×2 inputs under a 3×3 kernel: 16/9).
constexpr int64_t kDenseOverWeight = 2;

bool worth_dense(const Op& op, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  if (op.kind != Op::Kind::Conv2d || op.conv.groups != 1 || in.size() != 4 || out.size() != 4) return false;
  const int64_t taps = op.weight.size(2) * op.weight.size(3), in_positions = in[2] * in[3];
  const int64_t dense = op.weight.size(0) * out[2] * out[3] * op.weight.size(1) * in_positions;
  return in_positions <= taps && dense <= kDenseOverWeight * op.weight.numel();
}

// Per-channel bias [C_out] as the dense layer's bias over [C_out, H_out, W_out] (each channel's value repeated).
at::Tensor repeated(const at::Tensor& bias, int64_t positions) {
  return bias.defined() ? bias.unsqueeze(1).expand({bias.size(0), positions}).reshape({-1}) : bias;
}

}  // namespace

at::Tensor dense_output(const Op& op, const at::Tensor& y) {
  if (op.conv_output_shape.empty()) return y;
  std::vector<int64_t> shape(y.sizes().begin(), y.sizes().end() - 1);
  shape.insert(shape.end(), op.conv_output_shape.begin(), op.conv_output_shape.end());
  return y.view(shape);
}

at::Tensor dense_convolution_matrix(const at::Tensor& weight, const ops::Conv2dOptions& o, at::IntArrayRef in,
                                    at::IntArrayRef out) {
  const int64_t Co = weight.size(0), Ci = weight.size(1), kh = weight.size(2), kw = weight.size(3);
  const int64_t H = in[1], W = in[2], Ho = out[1], Wo = out[2], In = H * W, Out = Ho * Wo;
  // tap[o·In + i]: which kernel tap links output position o to input position i, −1 for none (each input is
  // at most one tap of an output: the taps' positions differ by the dilation ≥ 1).
  std::vector<int64_t> tap(static_cast<size_t>(Out * In), -1);
  for (int64_t oy = 0; oy < Ho; ++oy)
    for (int64_t ox = 0; ox < Wo; ++ox)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t iy = oy * o.stride[0] - o.padding[0] + ky * o.dilation[0];
          const int64_t ix = ox * o.stride[1] - o.padding[1] + kx * o.dilation[1];
          if (iy >= 0 && iy < H && ix >= 0 && ix < W) tap[(oy * Wo + ox) * In + iy * W + ix] = ky * kw + kx;
        }
  const at::Tensor w = weight.contiguous();
  at::Tensor M = at::empty({Co * Out, Ci * In}, w.options());
  // Copied entry by entry (exact, whatever the weights hold), rows of M written in order.
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "dense_convolution_matrix", [&] {
    const scalar_t* src = w.data_ptr<scalar_t>();
    scalar_t* dst = M.data_ptr<scalar_t>();
    const int64_t taps = kh * kw;
    for (int64_t co = 0; co < Co; ++co)
      for (int64_t p = 0; p < Out; ++p, dst += Ci * In) {
        const int64_t* t = tap.data() + p * In;
        for (int64_t ci = 0; ci < Ci; ++ci) {
          const scalar_t* kernel = src + (co * Ci + ci) * taps;
          for (int64_t i = 0; i < In; ++i) dst[ci * In + i] = t[i] < 0 ? scalar_t(0) : kernel[t[i]];
        }
      }
  });
  return M;
}

std::vector<const Op*> with_dense_convolutions(const std::vector<const Op*>& steps,
                                               const std::vector<std::vector<int64_t>>& shapes, const at::Tensor& x,
                                               std::vector<Op>& owned) {
  std::vector<const Op*> out = steps;
  owned.clear();
  owned.reserve(steps.size());  // the pointers into it stay valid
  for (size_t k = 0; k < steps.size(); ++k) {
    const std::vector<int64_t> in = k == 0 ? x.sizes().vec() : shapes[k - 1];  // the batch size is not read
    const Op& conv = *steps[k];
    if (!worth_dense(conv, in, shapes[k])) continue;
    const at::IntArrayRef in_sample = at::IntArrayRef(in).slice(1), out_sample = at::IntArrayRef(shapes[k]).slice(1);
    Op dense = conv;
    dense.kind = Op::Kind::Linear;
    dense.conv = {};
    dense.conv_output_shape = out_sample.vec();
    dense.weight = dense_convolution_matrix(conv.weight, conv.conv, in_sample, out_sample);
    if (conv.dweight.defined())
      dense.dweight = dense_convolution_matrix(conv.dweight, conv.conv, in_sample, out_sample);
    const int64_t positions = out_sample[1] * out_sample[2];
    dense.bias = repeated(conv.bias, positions), dense.dbias = repeated(conv.dbias, positions);
    owned.push_back(std::move(dense));
    out[k] = &owned.back();
  }
  return out;
}

}  // namespace grnewt::taylor::detail
