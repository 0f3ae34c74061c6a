#include "core/ops.h"

#include <ATen/ScalarOps.h>

#include <cmath>

namespace grnewt::ops {

at::Tensor unary(Unary op, const at::Tensor& x) {
  switch (op) {
    case Unary::Neg:
      return at::neg(x);
    case Unary::Exp:
      return at::exp(x);
    case Unary::Log:
      return at::log(x);
    case Unary::Sqrt:
      return at::sqrt(x);
    case Unary::Abs:
      return at::abs(x);
    case Unary::Tanh:
      return at::tanh(x);
    case Unary::Relu:
      return at::relu(x);
    case Unary::Sigmoid:
      return at::sigmoid(x);
  }
  TORCH_INTERNAL_ASSERT(false, "unknown unary op");
}

at::Tensor binary(Binary op, const at::Tensor& a, const at::Tensor& b) {
  switch (op) {
    case Binary::Add:
      return at::add(a, b);
    case Binary::Sub:
      return at::sub(a, b);
    case Binary::Mul:
      return at::mul(a, b);
    case Binary::Div:
      return at::div(a, b);
    case Binary::Pow:
      return at::pow(a, b);
  }
  TORCH_INTERNAL_ASSERT(false, "unknown binary op");
}

at::Tensor wrapped_scalar(double value, const at::Tensor& like) {
  // A whole number is an integer Scalar, as a Python int is to torch: an int64 tensor stays int64 (t + 1 lost
  // precision as float32), and a float tensor is unaffected (a wrapped number does not promote it).
  const bool whole = std::nearbyint(value) == value && std::fabs(value) < 9223372036854775808.0;
  at::Tensor t =
      c10::scalar_to_tensor(whole ? at::Scalar(static_cast<int64_t>(value)) : at::Scalar(value), like.device());
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

at::Tensor elu(const at::Tensor& x, double alpha) { return at::elu(x, alpha); }

at::Tensor clamp_min(const at::Tensor& x, double min) { return at::clamp_min(x, min); }

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) { return at::matmul(a, b); }

at::Tensor sum(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim) {
  return dims.empty() && !keep_dim ? at::sum(x) : at::sum(x, dims, keep_dim);
}

at::Tensor mean(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim) {
  return dims.empty() && !keep_dim ? at::mean(x) : at::mean(x, dims, keep_dim);
}

at::Tensor amax(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim) {
  return at::amax(x, dims, keep_dim);
}

at::Tensor amin(const at::Tensor& x, const std::vector<int64_t>& dims, bool keep_dim) {
  return at::amin(x, dims, keep_dim);
}

at::Tensor reshape(const at::Tensor& x, const std::vector<int64_t>& shape) { return at::reshape(x, shape); }

at::Tensor narrow(const at::Tensor& x, int64_t dim, int64_t start, int64_t length) {
  return at::narrow(x, dim, start, length);
}

at::Tensor cat(const std::vector<at::Tensor>& xs, int64_t dim) { return at::cat(xs, dim); }

at::Tensor stack(const std::vector<at::Tensor>& xs, int64_t dim) { return at::stack(xs, dim); }

at::Tensor transpose(const at::Tensor& x, int64_t dim0, int64_t dim1) { return at::transpose(x, dim0, dim1); }

at::Tensor permute(const at::Tensor& x, const std::vector<int64_t>& dims) { return x.permute(dims); }

at::Tensor log_softmax(const at::Tensor& x, int64_t dim) { return at::log_softmax(x, dim); }

at::Tensor softmax(const at::Tensor& x, int64_t dim) { return at::softmax(x, dim); }

at::Tensor index_select(const at::Tensor& x, int64_t dim, const at::Tensor& index) {
  return at::index_select(x, dim, index);
}

at::Tensor argmax(const at::Tensor& x, int64_t dim) { return at::argmax(x, dim); }

at::Tensor eq(const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b).to(at::kFloat); }

at::Tensor pad(const at::Tensor& x, const std::vector<int64_t>& pads, double value) {
  return at::constant_pad_nd(x, pads, value);
}

at::Tensor gather(const at::Tensor& x, int64_t dim, const at::Tensor& index) { return at::gather(x, dim, index); }

at::Tensor conv2d(const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                  const Conv2dOptions& o) {
  return at::conv2d(x, weight, bias, o.stride, o.padding, o.dilation, o.groups);
}

at::Tensor max_pool2d(const at::Tensor& x, const MaxPool2dOptions& o) {
  return at::max_pool2d(x, o.kernel_size, o.stride, o.padding, o.dilation, o.ceil_mode);
}

}  // namespace grnewt::ops
