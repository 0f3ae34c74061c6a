// The differentiable tensor operations the public API exposes. Each dispatches to ATen, whose autograd
// kernels record the graph, so every op here is differentiable to any order.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace grnewt::ops {

enum class Unary { Neg, Exp, Log, Sqrt, Abs, Tanh, Relu, Sigmoid };
enum class Binary { Add, Sub, Mul, Div, Pow };

at::Tensor unary(Unary op, const at::Tensor& x);
at::Tensor binary(Binary op, const at::Tensor& a, const at::Tensor& b);

// A JS number as an operand: a 0-d "wrapped number" tensor, which (as a Python scalar does in torch)
// takes part in the op without promoting the other operand's dtype.
at::Tensor wrapped_scalar(double value, const at::Tensor& like);

at::Tensor elu(const at::Tensor& x, double alpha);
at::Tensor clamp_min(const at::Tensor& x, double min);
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);
// Reduce over `dims` (all dimensions when empty).
at::Tensor sum(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim);
at::Tensor mean(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim);
// The largest / smallest values over dims (all when empty), as torch.amax / amin: a tie shares the gradient.
at::Tensor amax(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim);
at::Tensor amin(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim);
at::Tensor reshape(const at::Tensor& x, const std::vector<int64_t>& shape);
// `length` entries of dim from `start` (a view), as torch.narrow.
at::Tensor narrow(const at::Tensor& x, int64_t dim, int64_t start, int64_t length);
// The tensors joined along an existing dim (cat) or a new one (stack).
at::Tensor cat(const std::vector<at::Tensor>& xs, int64_t dim);
at::Tensor stack(const std::vector<at::Tensor>& xs, int64_t dim);
at::Tensor transpose(const at::Tensor& x, int64_t dim0, int64_t dim1);
// The dimensions in the order `dims` (a permutation), as torch.permute: a view.
at::Tensor permute(const at::Tensor& x, const std::vector<int64_t>& dims);
at::Tensor log_softmax(const at::Tensor& x, int64_t dim);
at::Tensor softmax(const at::Tensor& x, int64_t dim);
at::Tensor index_select(const at::Tensor& x, int64_t dim, const at::Tensor& index);
at::Tensor argmax(const at::Tensor& x, int64_t dim);
// 1 where a == b (broadcasting), 0 elsewhere, as float32: grnewt has no bool dtype, and a float mean() is a fraction.
at::Tensor eq(const at::Tensor& a, const at::Tensor& b);
// Pads the last dimensions with `value`: pads = [last_lo, last_hi, previous_lo, previous_hi, ...] as torch.
at::Tensor pad(const at::Tensor& x, const std::vector<int64_t>& pads, double value);
at::Tensor gather(const at::Tensor& x, int64_t dim, const at::Tensor& index);

struct Conv2dOptions {
  std::vector<int64_t> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};
at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                  const Conv2dOptions& options);

struct MaxPool2dOptions {
  std::vector<int64_t> kernel_size, stride, padding{0, 0}, dilation{1, 1};  // empty stride = kernel_size
  bool ceil_mode = false;
};
at::Tensor max_pool2d(const at::Tensor& x, const MaxPool2dOptions& options);

}  // namespace grnewt::ops
