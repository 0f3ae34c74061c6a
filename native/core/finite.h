// Whether tensors hold only finite values: the check behind every "holds NaN or Inf" error and the optimizers'
// overflow trials. No Node here.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace grnewt {

// True when every element of every tensor is finite (integer tensors always are). Contiguous float/double CPU
// tensors in one pass without allocation; the others by ATen, their flags read back once per device.
bool all_finite(const std::vector<at::Tensor>& tensors);

}  // namespace grnewt
