// f(y) and its first three derivatives for the elementwise activations, shared by the CPU loop and the
// CUDA kernel (hence no ATen here). For tanh and sigmoid the derivatives are polynomials in f itself.
#pragma once

#if defined(__CUDACC__)
#define GRNEWT_HOST_DEVICE __host__ __device__
#else
#define GRNEWT_HOST_DEVICE
#endif

#include <cmath>

namespace grnewt::jets {

template <typename T>
GRNEWT_HOST_DEVICE inline void activation_derivatives(int kind, T y, T alpha, T& f, T& f1, T& f2, T& f3) {
#if !defined(__CUDA_ARCH__)
  using std::exp;
  using std::tanh;
#endif
  switch (kind) {
    case 1: {  // tanh
      const T z = tanh(y), d = 1 - z * z;
      f = z, f1 = d, f2 = -2 * z * d, f3 = -2 * d * d + 4 * z * z * d;
      return;
    }
    case 2: {  // sigmoid
      const T s = 1 / (1 + exp(-y)), d = s * (1 - s);
      f = s, f1 = d, f2 = d * (1 - 2 * s), f3 = d * (1 - 6 * s + 6 * s * s);
      return;
    }
    case 3:  // relu
      f = y > 0 ? y : T(0), f1 = y > 0 ? T(1) : T(0), f2 = 0, f3 = 0;
      return;
    case 4: {  // elu: α(e^y − 1) for y ≤ 0
      if (y > 0) {
        f = y, f1 = 1, f2 = 0, f3 = 0;
      } else {
        const T e = alpha * exp(y);
        f = e - alpha, f1 = e, f2 = e, f3 = e;
      }
      return;
    }
    default:  // identity
      f = y, f1 = 1, f2 = 0, f3 = 0;
  }
}

}  // namespace grnewt::jets
