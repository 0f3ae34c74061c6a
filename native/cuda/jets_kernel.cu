// The CUDA twin of propagate_elementwise_cpu (method/jets.cpp): one thread per element, every row of the jets
// updated in place in one pass, coalesced along the elements of each row. Same contract, same rules.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <vector>

#include "method/activation_derivatives.h"
#include "method/jets.h"

namespace grnewt::jets::detail {

namespace {

// table: d1[A], d3[A] (when `third`), diag[A], pair[P], pair_a[P], pair_b[P]
template <typename T>
__global__ void propagate_kernel(T* __restrict__ J, int64_t M, int kind, T alpha, const int64_t* __restrict__ table,
                                 int A, int P, bool third) {
  const int64_t* d1 = table;
  const int64_t* d3 = d1 + A;
  const int64_t* diag = d3 + (third ? A : 0);
  const int64_t* pair = diag + A;
  const int64_t* pair_a = pair + P;
  const int64_t* pair_b = pair_a + P;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < M;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T y = J[e];
    const T f = activation_value<T>(kind, y, alpha);
    T f1, f2, f3;
    activation_derivatives<T>(kind, y, f, alpha, f1, f2, f3);
    // Reads of the original first derivatives and diagonal pairs come before the rows holding them change.
    if (third)
      for (int a = 0; a < A; ++a) {
        const T y1 = J[d1[a] * M + e], y2 = J[diag[a] * M + e];
        T& z3 = J[d3[a] * M + e];
        z3 = f1 * z3 + 3 * f2 * y1 * y2 + f3 * y1 * y1 * y1;
      }
    for (int p = 0; p < P; ++p) {
      T& z2 = J[pair[p] * M + e];
      z2 = f1 * z2 + f2 * J[d1[pair_a[p]] * M + e] * J[d1[pair_b[p]] * M + e];
    }
    for (int a = 0; a < A; ++a) J[d1[a] * M + e] *= f1;
    J[e] = f;
  }
}

}  // namespace

void propagate_elementwise_cuda(at::Tensor& J, const Rows& rows, Activation activation) {
  const c10::cuda::CUDAGuard guard(J.device());
  std::vector<int64_t> table;
  for (const auto* part : {&rows.d1, &rows.d3, &rows.diag, &rows.pair, &rows.pair_a, &rows.pair_b})
    table.insert(table.end(), part->begin(), part->end());
  // Pinned, so the copy is queued on the stream without waiting for the host.
  const at::Tensor host = at::tensor(table, at::kLong).pin_memory();
  const at::Tensor device_table = host.to(J.device(), /*non_blocking=*/true);
  const int64_t M = J[0].numel();
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((M + threads - 1) / threads, 65535));
  const int A = static_cast<int>(rows.d1.size()), P = static_cast<int>(rows.pair.size());
  const bool third = !rows.d3.empty();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(J.scalar_type(), "propagate_elementwise_cuda", [&] {
    propagate_kernel<scalar_t><<<std::max(blocks, 1), threads, 0, stream>>>(
        J.data_ptr<scalar_t>(), M, static_cast<int>(activation.kind), static_cast<scalar_t>(activation.alpha),
        device_table.data_ptr<int64_t>(), A, P, third);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace grnewt::jets::detail
