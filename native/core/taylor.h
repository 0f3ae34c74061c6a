// The fast route for the summaries of a multilayer perceptron: derivatives pushed forward through the
// network alongside the values (Taylor mode, see ../shared/reference/taylor-mode.md), for all subsets at
// once, batched along a leading axis. One forward pass yields ḡ, H̄ (every pair) and order3, exactly as
// the autograd route defines them.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/summaries.h"

namespace grnewt::taylor {

struct Layer {
  at::Tensor weight, bias;     // [out, in], [out]
  at::Tensor dweight, dbias;   // the direction on them
  int weight_group, bias_group;  // the subset of each (-1: not in the partition: no direction)
  double input_scale = 1;      // the input is multiplied by this first (the reference's `scaling`)
};

enum class Activation { Tanh, Relu, Sigmoid, Elu, Identity };
enum class Loss { LogSoftmaxNll, Mse };

Activation parse_activation(const std::string& name);

// layers[0..L): activation after every layer but the last; then log-softmax + NLL (target: int64 labels)
// or MSE (target: same shape as the output).
summaries::Hg mlp_hg(const std::vector<Layer>& layers, Activation activation, Loss loss, const at::Tensor& x,
                     const at::Tensor& target, int64_t groups, const summaries::Options& options);

}  // namespace grnewt::taylor
