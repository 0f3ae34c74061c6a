// The fast route for the summaries: derivatives pushed forward through the network alongside the values
// (Taylor mode, ../shared/reference/taylor-mode.md), for all subsets and pairs at once. One forward pass
// over a model written as a sequence of built-in layers yields ḡ, H̄ (every pair) and order3, exactly as
// the autograd route defines them, plus the loss itself (so callers can check that the model is the one
// their loss function evaluates).
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "core/ops.h"
#include "method/jets.h"
#include "method/summaries.h"

namespace grnewt::taylor {

// One step of the model. For Linear/Conv2d: the parameters, the direction on them (undefined tensors
// when there is none), the subset owning each (-1: not in the partition) and a factor applied to the
// input first (the reference's `scaling`).
struct Op {
  enum class Kind { Linear, Conv2d, MaxPool2d, Flatten, Activation } kind;
  at::Tensor weight, bias, dweight, dbias;
  int64_t weight_group = -1, bias_group = -1;
  double input_scale = 1;
  ops::Conv2dOptions conv;
  ops::MaxPool2dOptions pool;
  jets::Activation activation;
  // A Linear step standing for a small convolution (taylor_dense_conv.cpp): it reads the flattened sample and
  // its output is viewed as this [C, H, W]. Empty for a model's own Linear ([N, features] in and out).
  std::vector<int64_t> conv_output_shape;
};

// CrossEntropy: log-softmax over the classes (dim 1 of [N, C] outputs), then NLL with int64 labels [N];
// Mse: mean of (output − target)², target of the output's shape.
enum class Loss { CrossEntropy, Mse };

struct Result {
  summaries::Hg hg;
  at::Tensor loss;  // 0-d, the loss's value at the current parameters
};

// Where one call's time goes (seconds, wall clock, by stage), for the bench: the GEMMs/convolutions over the
// rows (W applied to every row, and the direction's terms U x), making room for the new rows (allocation and
// zeroing), the bias adds, the elementwise jet kernel, max-pool routing, the loss head (log-softmax/MSE
// jets and the assembly of H̄, ḡ, order3), the adjoint implementation's plain forward pass with the backward pass
// of λ (values) and its contractions with λ (sources), and the whole call. `peak_rows` is the most rows a jet
// tensor had.
struct Profile {
  double layers_s = 0, allocation_s = 0, bias_s = 0, elementwise_s = 0, pool_s = 0, loss_s = 0, values_s = 0,
         sources_s = 0, total_s = 0;
  int64_t peak_rows = 0;
  int cuda_device = -1;  // set by summaries() for an x on a GPU: the stage timers then wait for its kernels
};

// `profile`, when given, receives the call's stage timings (the bench's; costs a clock read per stage).
Result summaries(const std::vector<Op>& model, Loss loss, const at::Tensor& x, const at::Tensor& target, int64_t groups,
                 const summaries::Options& options, Profile* profile = nullptr);

}  // namespace grnewt::taylor
