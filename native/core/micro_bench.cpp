#include "core/micro_bench.h"

#include <ATen/ATen.h>

#include <chrono>

namespace grnewt::micro_bench {

double add_loop_seconds(int64_t iterations) {
  at::Tensor a = at::ones({4}), b = at::ones({4});
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iterations; ++i) {
    at::Tensor c = at::add(a, b);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace grnewt::micro_bench
