// 3×3 convolutions (stride 1, padding 1) by Winograd's minimal filtering F(2×2, 3×3) on the CPU: each 2×2
// output tile takes 16 multiplies per input channel instead of 36, as 16 matrix products over the tiles. Exact
// arithmetic up to rounding: the transforms' constants are 0, ±1 and ±½. Worth it where the products dominate
// the transforms' memory traffic (4 values written per input value): many channels over small images.
#pragma once
#include <ATen/ATen.h>

#include "core/ops.h"

namespace grnewt::ops {

// Whether winograd_conv2d computes conv2d(x, w) with these options: a CPU float32/float64 x of [N, C, H, W]
// with H and W even, a [K, C, 3, 3] w, stride 1, padding 1, dilation 1, groups 1.
bool winograd_applies(const at::Tensor& x, const at::Tensor& w, const Conv2dOptions& options);

// Whether it is also expected to be faster than ATen's convolution. Measured (1 thread, CPU time, against
// at::conv2d): float32 with at least 128 channels in and out over at most 8×8 positions, 1.07–1.5× over 8×8
// and 2× over 4×4 (0.7–1× over 16×16, where oneDNN's direct convolutions are efficient); float64, which oneDNN
// does not run, with at least 64 channels over at most 16×16, 1.5–3.7× (0.4–1× with 3 or 16 channels).
// Never with GRNEWT_WINOGRAD=0.
bool winograd_pays(const at::Tensor& x, const at::Tensor& w, const Conv2dOptions& options);

// w's transformed filter, [16, C, K] (G w Gᵀ per channel pair, position-major), for winograd_conv2d.
at::Tensor winograd_filter(const at::Tensor& w);

// The filter whose winograd_conv2d of λ ([N, K, H, W]) is the input-gradient of ⟨λ, conv2d(x, w)⟩ (stride 1,
// padding 1): w flipped in both spatial dims, its channels swapped, transformed; [16, K, C].
at::Tensor winograd_input_gradient_filter(const at::Tensor& w);

// conv2d(x, w) with stride 1 and padding 1 written into out ([N, K, H, W], contiguous), from w's
// winograd_filter; winograd_applies(x, w, …) must hold.
void winograd_conv2d_out(at::Tensor& out, const at::Tensor& x, const at::Tensor& filter);

// The transforms' buffers (16 values per 2×2 tile per channel, in and out) stay under this many bytes each:
// samples are taken a block at a time.
constexpr int64_t kWinogradBufferBytes = int64_t{32} << 20;

// conv2d(x, w) with stride 1 and padding 1, from w's winograd_filter.
at::Tensor winograd_conv2d(const at::Tensor& x, const at::Tensor& filter, int64_t buffer_bytes = kWinogradBufferBytes);

}  // namespace grnewt::ops
