// propagate_elementwise's CPU loop (jets.h): the Taylor route's hot elementwise pass, written so the compiler
// vectorises it. Per block of kBlock consecutive elements every row is streamed through once; the reads of the
// original d1 / diag values happen before the rows holding them are overwritten (the contractions and d3 first,
// then pairs, then d1). Each block's loops are plain loops over restrict pointers with the activation's kind
// fixed at compile time, and the block function is built twice (AVX2 and the baseline, chosen at load time by
// the CPU's features), since the package's binary cannot assume AVX2.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/cpu_clones.h"
#include "method/activation_derivatives.h"
#include "method/jets.h"

namespace grnewt::jets::detail {

namespace {

constexpr int64_t kBlock = 256, kBlocksPerTask = 32, kTask = kBlock * kBlocksPerTask;

// Everything a task runs is inlined into it, so the AVX2 build of the task covers its loops too.
#define GRNEWT_INLINE inline __attribute__((always_inline))

// One block's pointers and sizes: rows of M elements from `base`, n elements from e0.
template <typename T>
struct Block {
  T* base;
  int64_t M, e0, n;
  const T* value;   // f(y) for the whole tensor
  const T* lambda;  // λ for the whole tensor, or null without contractions
  T alpha;
  T* row(int64_t r) const { return base + r * M + e0; }
};

template <int Kind, typename T>
GRNEWT_INLINE void derivatives_block(const T* __restrict y, const T* __restrict f, T alpha, T* __restrict f1,
                                     T* __restrict f2, T* __restrict f3, int64_t n) {
#pragma omp simd
  for (int64_t e = 0; e < n; ++e) activation_derivatives<T>(Kind, y[e], f[e], alpha, f1[e], f2[e], f3[e]);
}

// derivatives_block for the runtime `kind` (one of Kinds), each case compiled with its kind fixed.
template <typename T, int... Kinds>
GRNEWT_INLINE void derivatives_of_kind(int kind, const T* y, const T* f, T alpha, T* f1, T* f2, T* f3, int64_t n) {
  (void)((kind == Kinds && (derivatives_block<Kinds, T>(y, f, alpha, f1, f2, f3, n), true)) || ...);
}

template <typename T>
GRNEWT_INLINE T sum_w2_ab(const T* __restrict w2, const T* __restrict ya, const T* __restrict yb, int64_t n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t e = 0; e < n; ++e) acc += w2[e] * ya[e] * yb[e];
  return acc;
}

template <typename T>
GRNEWT_INLINE T sum_order3(const T* __restrict w2, const T* __restrict w3, const T* __restrict ya,
                           const T* __restrict yaa, int64_t n) {
  T acc = 0;
  if (yaa) {
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < n; ++e) acc += ya[e] * (w3[e] * ya[e] * ya[e] + 3 * w2[e] * yaa[e]);
  } else {
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < n; ++e) acc += w3[e] * ya[e] * ya[e] * ya[e];
  }
  return acc;
}

// One block: derivatives, contractions (into `sums`: A·A Gram terms, then A order-3 terms), then the rows.
template <typename T>
GRNEWT_INLINE void run_block(const Block<T>& blk, int kind, const Rows& rows, double* sums, bool third) {
  alignas(64) T f1[kBlock], f2[kBlock], f3[kBlock], w2[kBlock], w3[kBlock];
  const int64_t n = blk.n, A = static_cast<int64_t>(rows.d1.size());
  T* __restrict y0 = blk.row(0);
  const T* __restrict f = blk.value + blk.e0;
  derivatives_of_kind<T, 0, 1, 2, 3, 4>(kind, y0, f, blk.alpha, f1, f2, f3, n);
  if (blk.lambda) {
    const T* __restrict l = blk.lambda + blk.e0;
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) w2[e] = l[e] * f2[e], w3[e] = l[e] * f3[e];
    for (int64_t a = 0; a < A; ++a) {
      const T* ya = blk.row(rows.d1[a]);
      for (int64_t b = 0; b <= a; ++b) sums[a * A + b] += sum_w2_ab<T>(w2, ya, blk.row(rows.d1[b]), n);
      if (third) sums[A * A + a] += sum_order3<T>(w2, w3, ya, rows.diag.empty() ? nullptr : blk.row(rows.diag[a]), n);
    }
  }
  for (size_t a = 0; a < rows.d3.size(); ++a) {
    T* __restrict z3 = blk.row(rows.d3[a]);
    const T* __restrict y1 = blk.row(rows.d1[a]);
    const T* __restrict y2 = blk.row(rows.diag[a]);
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) z3[e] = f1[e] * z3[e] + 3 * f2[e] * y1[e] * y2[e] + f3[e] * y1[e] * y1[e] * y1[e];
  }
  for (size_t p = 0; p < rows.pair.size(); ++p) {
    T* __restrict z2 = blk.row(rows.pair[p]);
    const T* __restrict yi = blk.row(rows.d1[rows.pair_a[p]]);
    const T* __restrict yj = blk.row(rows.d1[rows.pair_b[p]]);
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) z2[e] = f1[e] * z2[e] + f2[e] * yi[e] * yj[e];
  }
  for (size_t a = 0; a < rows.d1.size(); ++a) {
    T* __restrict z1 = blk.row(rows.d1[a]);
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) z1[e] *= f1[e];
  }
#pragma omp simd
  for (int64_t e = 0; e < n; ++e) y0[e] = f[e];
}

// One task (kBlocksPerTask blocks), block by block.
template <typename T>
GRNEWT_INLINE void run_blocks(const Block<T>& task, int kind, const Rows& rows, double* sums, bool third) {
  for (int64_t e0 = task.e0; e0 < task.e0 + task.n; e0 += kBlock) {
    Block<T> blk = task;
    blk.e0 = e0, blk.n = std::min(kBlock, task.e0 + task.n - e0);
    run_block(blk, kind, rows, sums, third);
  }
}

// One task of either dtype (`task` a Block<double> or Block<float>), built for AVX2 and the baseline: one
// non-template function, since target_clones takes no templates.
GRNEWT_AVX2_AND_BASELINE void run_task(const void* task, bool is_double, int kind, const Rows& rows, double* sums,
                                       bool third) {
  if (is_double)
    run_blocks(*static_cast<const Block<double>*>(task), kind, rows, sums, third);
  else
    run_blocks(*static_cast<const Block<float>*>(task), kind, rows, sums, third);
}

}  // namespace

// The contractions are summed per block in the dtype, then per task in float64, then over the tasks in their
// order, so they do not depend on the thread count.
void propagate_elementwise_cpu(at::Tensor& J, const Rows& rows, Activation activation, const at::Tensor& known,
                               Contractions* contractions) {
  const int64_t M = J[0].numel(), A = static_cast<int64_t>(rows.d1.size());
  const int64_t tasks = (M + kTask - 1) / kTask;
  const bool third = contractions && contractions->third;
  const int64_t sums_per_task = A * A + (third ? A : 0);
  std::vector<double> partial(contractions ? static_cast<size_t>(tasks * sums_per_task) : 0, 0.0);
  if (activation.kind != ActivationKind::Identity) {
    // f(y) by ATen's vectorised kernels (libm's scalar tanh/exp would dominate the whole loop).
    const at::Tensor value = known.defined() ? known : apply(J[0], activation);
    AT_DISPATCH_FLOATING_TYPES(J.scalar_type(), "propagate_elementwise_cpu", [&] {
      const Block<scalar_t> whole{J.data_ptr<scalar_t>(),
                                  M,
                                  0,
                                  M,
                                  value.data_ptr<scalar_t>(),
                                  contractions ? contractions->lambda.data_ptr<scalar_t>() : nullptr,
                                  static_cast<scalar_t>(activation.alpha)};
      at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          Block<scalar_t> task = whole;
          task.e0 = t * kTask, task.n = std::min(kTask, M - task.e0);
          run_task(&task, std::is_same_v<scalar_t, double>, static_cast<int>(activation.kind), rows,
                   contractions ? partial.data() + t * sums_per_task : nullptr, third);
        }
      });
    });
  }
  if (!contractions) return;
  contractions->gram.assign(static_cast<size_t>(A * A), 0.0);
  contractions->order3.assign(third ? static_cast<size_t>(A) : 0, 0.0);
  for (int64_t t = 0; t < tasks; ++t) {
    const double* sums = partial.data() + t * sums_per_task;
    for (int64_t a = 0; a < A; ++a) {
      for (int64_t b = 0; b <= a; ++b) contractions->gram[a * A + b] += sums[a * A + b];
      if (third) contractions->order3[a] += sums[A * A + a];
    }
  }
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < a; ++b) contractions->gram[b * A + a] = contractions->gram[a * A + b];
}

}  // namespace grnewt::jets::detail
