#include "core/runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/api/include/torch/version.h>

#include "core/errors.h"

namespace grnewt::runtime {

void manual_seed(uint64_t seed) {
  at::manual_seed(seed);  // seeds CUDA generators too, where they exist
}

void set_num_threads(int n) {
  if (n < 1) throw RangeError("setNumThreads: n must be a positive integer, got " + std::to_string(n));
  at::set_num_threads(n);
}

int num_threads() { return at::get_num_threads(); }

void set_grad_enabled(bool enabled) { c10::GradMode::set_enabled(enabled); }

bool grad_enabled() { return c10::GradMode::is_enabled(); }

bool cuda_available() { return at::hasCUDA(); }

std::string torch_version() { return TORCH_VERSION; }

}  // namespace grnewt::runtime
