#include "core/autograd.h"

#include <torch/csrc/autograd/autograd.h>

#include "core/errors.h"

namespace grnewt::autograd {

void backward(const at::Tensor& loss, bool retain_graph) {
  if (loss.numel() != 1) {
    throw RangeError("backward: the tensor must hold a single value (a scalar loss), got " +
                     std::to_string(loss.numel()) + " elements");
  }
  if (!loss.requires_grad()) {
    throw TypeError("backward: the tensor has no graph (no input requires grad)");
  }
  torch::autograd::backward({loss}, {}, retain_graph);
}

}  // namespace grnewt::autograd
