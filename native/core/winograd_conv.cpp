#include "core/winograd_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "core/cpu_clones.h"

namespace grnewt::ops {

namespace {

// xp[n][h][w][c] = x[n][c][h − 1][w − 1], zero outside x: the samples padded by one and channels-last, so
// that the input transform reads and writes every channel of a position contiguously.
template <typename T>
void pad_channels_last(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, T* xp) {
  const int64_t Hp = H + 2, Wp = W + 2;
  at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* sample = xp + n * Hp * Wp * C;
      std::fill(sample, sample + Wp * C, T(0));
      std::fill(sample + (Hp - 1) * Wp * C, sample + Hp * Wp * C, T(0));
      for (int64_t h = 1; h <= H; ++h) {
        std::fill(sample + h * Wp * C, sample + (h * Wp + 1) * C, T(0));
        std::fill(sample + (h * Wp + W + 1) * C, sample + (h + 1) * Wp * C, T(0));
      }
      const T* planes = x + n * C * H * W;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) sample[((h + 1) * Wp + w + 1) * C + c] = planes[(c * H + h) * W + w];
    }
  });
}

// V[a·4+b][p][c] = (Bᵀ d B)[a][b] for the 4×4 patch d of channel c around tile p, from pad_channels_last's
// xp; Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
template <typename T>
void input_transform(const T* xp, int64_t N, int64_t C, int64_t H, int64_t W, T* V) {
  const int64_t tw = W / 2, tiles = (H / 2) * tw, P = N * tiles, Wp = W + 2, row = Wp * C, plane = P * C;
  at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / tiles, i = (p % tiles) / tw, j = p % tw;
      const T* d = xp + (n * (H + 2) + 2 * i) * row + 2 * j * C;  // d[a·row + b·C + c]
      T* out = V + p * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        T t[4][4];
        for (int b = 0; b < 4; ++b) {
          const T d0 = d[b * C + c], d1 = d[row + b * C + c], d2 = d[2 * row + b * C + c], d3 = d[3 * row + b * C + c];
          t[0][b] = d0 - d2, t[1][b] = d1 + d2, t[2][b] = d2 - d1, t[3][b] = d1 - d3;
        }
        for (int a = 0; a < 4; ++a) {
          out[(a * 4 + 0) * plane + c] = t[a][0] - t[a][2];
          out[(a * 4 + 1) * plane + c] = t[a][1] + t[a][2];
          out[(a * 4 + 2) * plane + c] = t[a][2] - t[a][1];
          out[(a * 4 + 3) * plane + c] = t[a][1] - t[a][3];
        }
      }
    }
  });
}

// y's 2×2 tile p of channel k = Aᵀ m A for m[a][b] = M[a·4+b][p][k]; Aᵀ = [1 1 1 0; 0 1 −1 −1].
template <typename T>
void output_transform(const T* M, int64_t N, int64_t K, int64_t H, int64_t W, T* y) {
  const int64_t tw = W / 2, tiles = (H / 2) * tw, P = N * tiles, plane = P * K, HW = H * W;
  at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / tiles, i = (p % tiles) / tw, j = p % tw;
      const T* m = M + p * K;
      T* tile = y + n * K * HW + 2 * i * W + 2 * j;
      for (int64_t k = 0; k < K; ++k) {
        T s0[4], s1[4];
        for (int b = 0; b < 4; ++b) {
          const T m0 = m[b * plane + k], m1 = m[(4 + b) * plane + k], m2 = m[(8 + b) * plane + k],
                  m3 = m[(12 + b) * plane + k];
          s0[b] = m0 + m1 + m2, s1[b] = m1 - m2 - m3;
        }
        T* o = tile + k * HW;
        o[0] = s0[0] + s0[1] + s0[2], o[1] = s0[1] - s0[2] - s0[3];
        o[W] = s1[0] + s1[1] + s1[2], o[W + 1] = s1[1] - s1[2] - s1[3];
      }
    }
  });
}

// Both transforms for either dtype, built for AVX2 and the baseline (target_clones takes no templates).
// x [N, C, H, W] to V, through xp (a buffer of N·(H+2)·(W+2)·C).
GRNEWT_AVX2_AND_BASELINE void transform_in(const void* x, bool is_double, int64_t N, int64_t C, int64_t H, int64_t W,
                                           void* xp, void* V) {
  if (is_double) {
    pad_channels_last(static_cast<const double*>(x), N, C, H, W, static_cast<double*>(xp));
    input_transform(static_cast<const double*>(xp), N, C, H, W, static_cast<double*>(V));
  } else {
    pad_channels_last(static_cast<const float*>(x), N, C, H, W, static_cast<float*>(xp));
    input_transform(static_cast<const float*>(xp), N, C, H, W, static_cast<float*>(V));
  }
}

GRNEWT_AVX2_AND_BASELINE void transform_out(const void* M, bool is_double, int64_t N, int64_t K, int64_t H, int64_t W,
                                            void* y) {
  if (is_double)
    output_transform(static_cast<const double*>(M), N, K, H, W, static_cast<double*>(y));
  else
    output_transform(static_cast<const float*>(M), N, K, H, W, static_cast<float*>(y));
}

void convolve(at::Tensor& out, const at::Tensor& x, const at::Tensor& filter, int64_t buffer_bytes) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = filter.size(2);
  if (filter.size(1) != C) throw std::logic_error("winograd: the filter's input channels are not x's");
  const int64_t tiles = (H / 2) * (W / 2), bytes = 16 * tiles * std::max(C, K) * x.element_size();
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(N, buffer_bytes / bytes));
  const bool is_double = x.scalar_type() == at::kDouble;
  at::Tensor V = at::empty({16, block * tiles, C}, x.options()), M = at::empty({16, block * tiles, K}, x.options());
  const at::Tensor padded = at::empty({block, H + 2, W + 2, C}, x.options());
  for (int64_t n0 = 0; n0 < N; n0 += block) {
    const int64_t n = std::min(block, N - n0), P = n * tiles;
    at::Tensor v = V.narrow(1, 0, P), m = M.narrow(1, 0, P);
    if (P < block * tiles) v = at::empty({16, P, C}, x.options()), m = at::empty({16, P, K}, x.options());
    transform_in(x.narrow(0, n0, n).data_ptr(), is_double, n, C, H, W, padded.data_ptr(), v.data_ptr());
    at::bmm_out(m, v, filter);
    transform_out(m.data_ptr(), is_double, n, K, H, W, out.narrow(0, n0, n).data_ptr());
  }
}

}  // namespace

bool winograd_applies(const at::Tensor& x, const at::Tensor& w, const Conv2dOptions& o) {
  const auto is = [](const std::vector<int64_t>& v, int64_t a) { return v.size() == 2 && v[0] == a && v[1] == a; };
  return x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) &&
         w.scalar_type() == x.scalar_type() && x.dim() == 4 && w.dim() == 4 && w.size(2) == 3 && w.size(3) == 3 &&
         w.size(1) == x.size(1) && x.size(2) % 2 == 0 && x.size(3) % 2 == 0 && x.size(2) > 0 && x.size(3) > 0 &&
         is(o.stride, 1) && is(o.padding, 1) && is(o.dilation, 1) && o.groups == 1;
}

bool winograd_pays(const at::Tensor& x, const at::Tensor& w, const Conv2dOptions& o) {
  if (const char* off = std::getenv("GRNEWT_WINOGRAD"); off && std::string(off) == "0") return false;
  if (!winograd_applies(x, w, o)) return false;
  const bool f64 = x.scalar_type() == at::kDouble;
  const int64_t channels = f64 ? 64 : 128, positions = f64 ? 256 : 64;
  return w.size(0) >= channels && w.size(1) >= channels && x.size(2) * x.size(3) <= positions;
}

namespace {

// [16, K, C]: Σ_ij G[a][i] G[b][j] w[k][c][i][j] at a·4+b, one product with G ⊗ G (no copy of w).
at::Tensor transformed(const at::Tensor& w, const at::Tensor& G) {
  const int64_t K = w.size(0), C = w.size(1);
  return at::mm(at::kron(G, G), w.reshape({K * C, 9}).t()).view({16, K, C});
}

}  // namespace

at::Tensor winograd_filter(const at::Tensor& w) {
  const at::Tensor G =
      at::tensor({1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0}, w.options()).view({4, 3});
  return transformed(w, G).transpose(1, 2);  // a view: bmm reads it transposed
}

at::Tensor winograd_input_gradient_filter(const at::Tensor& w) {
  // The input-gradient convolves λ with w flipped in both spatial dims and its channels swapped: G's columns
  // reversed flip w, and [16, K, C] is already [16, in, out] for a convolution of λ's K channels.
  const at::Tensor G_flipped =
      at::tensor({0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 1.0, 0.0, 0.0}, w.options()).view({4, 3});
  return transformed(w, G_flipped);
}

void winograd_conv2d_out(at::Tensor& out, const at::Tensor& x, const at::Tensor& filter) {
  if (!out.is_contiguous() || !out.sizes().equals({x.size(0), filter.size(2), x.size(2), x.size(3)}))
    throw std::logic_error("winograd: out is not a contiguous [N, K, H, W]");
  convolve(out, x.contiguous(), filter, kWinogradBufferBytes);
}

at::Tensor winograd_conv2d(const at::Tensor& x, const at::Tensor& filter, int64_t buffer_bytes) {
  at::Tensor out = at::empty({x.size(0), filter.size(2), x.size(2), x.size(3)}, x.options());
  convolve(out, x.contiguous(), filter, buffer_bytes);
  return out;
}

}  // namespace grnewt::ops
