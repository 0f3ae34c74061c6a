// The elementwise activations and their first three derivatives, shared by the CPU loop and the CUDA
// kernel (hence no ATen here).
#pragma once

#if defined(__CUDACC__)
#define GRNEWT_HOST_DEVICE __host__ __device__
#else
#define GRNEWT_HOST_DEVICE
#endif

#include <cmath>

namespace grnewt::jets {

// f(y) alone (the CUDA kernel's; the CPU loop takes it from ATen's vectorised ops instead).
template <typename T>
GRNEWT_HOST_DEVICE inline T activation_value(int kind, T y, T alpha) {
#if !defined(__CUDA_ARCH__)
  using std::exp;
  using std::tanh;
#endif
  switch (kind) {
    case 1:
      return tanh(y);
    case 2:
      return 1 / (1 + exp(-y));
    case 3:
      return y > 0 ? y : T(0);
    case 4:
      return y > 0 ? y : alpha * (exp(y) - 1);
    default:
      return y;
  }
}

// f1, f2, f3 from y and f = f(y): polynomials in f for tanh and sigmoid, f + α = αe^y for ELU's negative side.
template <typename T>
GRNEWT_HOST_DEVICE inline void activation_derivatives(int kind, T y, T f, T alpha, T& f1, T& f2, T& f3) {
  switch (kind) {
    case 1: {  // tanh
      const T d = 1 - f * f;
      f1 = d, f2 = -2 * f * d, f3 = -2 * d * d + 4 * f * f * d;
      return;
    }
    case 2: {  // sigmoid
      const T d = f * (1 - f);
      f1 = d, f2 = d * (1 - 2 * f), f3 = d * (1 - 6 * f + 6 * f * f);
      return;
    }
    case 3:  // relu
      f1 = y > 0 ? T(1) : T(0), f2 = 0, f3 = 0;
      return;
    case 4:  // elu
      if (y > 0) {
        f1 = 1, f2 = 0, f3 = 0;
      } else {
        f1 = f2 = f3 = f + alpha;
      }
      return;
    default:  // identity
      f1 = 1, f2 = 0, f3 = 0;
  }
}

}  // namespace grnewt::jets
