// Reverse-mode entry points used by the tensor API.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace grnewt::autograd {

// Accumulates d(loss)/d(leaf) into every leaf's .grad(). `loss` must be a scalar with a graph.
void backward(const at::Tensor& loss, bool retain_graph);

// d(loss)/d(input) for each input, without touching any .grad(); zeros where loss does not depend on one.
std::vector<at::Tensor> gradients(const at::Tensor& loss, const std::vector<at::Tensor>& inputs);

// Leaves' .grad() reset to undefined (as torch's zero_grad(set_to_none=True)).
void clear_grad(at::Tensor& leaf);

// Replaces the values of a leaf in place, outside autograd: dst keeps its identity (optimizers and
// partitions holding it see the change). `same_shape` demands an exact shape match (state dicts);
// otherwise dtype/device may change too (Module.to).
void assign(at::Tensor& dst, const at::Tensor& src, bool same_shape);

}  // namespace grnewt::autograd
