#include "core/autograd.h"

#include <ATen/core/grad_mode.h>
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

std::vector<at::Tensor> gradients(const at::Tensor& loss, const std::vector<at::Tensor>& inputs) {
  if (loss.numel() != 1) throw RangeError("the loss must be a scalar, got " + std::to_string(loss.numel()) + " values");
  if (!loss.requires_grad())
    throw TypeError("the loss has no graph: it does not depend on any parameter that requires grad");
  for (const at::Tensor& x : inputs)
    if (!x.requires_grad()) throw TypeError("every input must require grad");
  std::vector<at::Tensor> grads = torch::autograd::grad({loss}, inputs, {}, false, false, /*allow_unused=*/true);
  for (size_t i = 0; i < grads.size(); ++i)
    grads[i] = grads[i].defined() ? grads[i].detach() : at::zeros_like(inputs[i]);
  return grads;
}

void clear_grad(at::Tensor& leaf) { leaf.mutable_grad().reset(); }

void assign(at::Tensor& dst, const at::Tensor& src, bool same_shape) {
  at::NoGradGuard no_grad;
  if (same_shape) {
    if (!dst.sizes().equals(src.sizes())) {
      throw RangeError("shape " + c10::str(src.sizes()) + " does not match " + c10::str(dst.sizes()));
    }
    dst.copy_(src);
  } else {
    dst.set_data(src.detach().clone());
  }
}

}  // namespace grnewt::autograd
