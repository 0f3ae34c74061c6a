// Reverse-mode entry points used by the tensor API.
#pragma once
#include <ATen/ATen.h>

namespace grnewt::autograd {

// Accumulates d(loss)/d(leaf) into every leaf's .grad(). `loss` must be a scalar with a graph.
void backward(const at::Tensor& loss, bool retain_graph);

}  // namespace grnewt::autograd
