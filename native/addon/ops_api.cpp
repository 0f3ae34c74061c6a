// Exports: the differentiable tensor ops. Each unpacks its arguments, calls core/ops and wraps the result.
#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/tensor_handle.h"
#include "core/ops.h"

namespace grnewt::addon {

namespace {

const at::Tensor& arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return TensorHandle::Get(info[i], what);
}

Napi::Value result(const Napi::CallbackInfo& info, at::Tensor t) {
  return TensorHandle::Wrap(info.Env(), std::move(t));
}

// The op an exported function stands for travels in the function's data pointer.
template <typename Op>
Op op_of(const Napi::CallbackInfo& info) {
  return *static_cast<const Op*>(info.Data());
}

Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  return result(info, ops::unary(op_of<ops::Unary>(info), arg(info, 0, "input")));
}

Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  const bool a_is_tensor = TensorHandle::IsHandle(info[0]), b_is_tensor = TensorHandle::IsHandle(info[1]);
  if (!a_is_tensor && !b_is_tensor) throw Napi::TypeError::New(info.Env(), "at least one operand must be a Tensor");
  at::Tensor a = a_is_tensor ? arg(info, 0, "a") : at::Tensor();
  at::Tensor b = b_is_tensor ? arg(info, 1, "b") : at::Tensor();
  if (!a_is_tensor) a = ops::wrapped_scalar(to_double(info[0], "a"), b);
  if (!b_is_tensor) b = ops::wrapped_scalar(to_double(info[1], "b"), a);
  return result(info, ops::binary(op_of<ops::Binary>(info), a, b));
}

Napi::Value Elu(const Napi::CallbackInfo& info) {
  return result(info, ops::elu(arg(info, 0, "input"), to_double(info[1], "alpha")));
}

Napi::Value ClampMin(const Napi::CallbackInfo& info) {
  return result(info, ops::clamp_min(arg(info, 0, "input"), to_double(info[1], "min")));
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return result(info, ops::matmul(arg(info, 0, "a"), arg(info, 1, "b")));
}

template <at::Tensor (*Reduce)(const at::Tensor&, const std::vector<int64_t>&, bool)>
Napi::Value Reduction(const Napi::CallbackInfo& info) {
  std::vector<int64_t> dims =
      info[1].IsNull() || info[1].IsUndefined() ? std::vector<int64_t>{} : to_int_list(info[1], "dim", kDimRange);
  return result(info, Reduce(arg(info, 0, "input"), dims, to_bool(info[2], "keepDim")));
}

Napi::Value Reshape(const Napi::CallbackInfo& info) {
  return result(info, ops::reshape(arg(info, 0, "input"), to_int_list(info[1], "shape", kReshapeRange)));
}

Napi::Value Narrow(const Napi::CallbackInfo& info) {
  return result(info, ops::narrow(arg(info, 0, "input"), to_int(info[1], "dim", kDimRange),
                                  to_int(info[2], "start", kIndexRange), to_int(info[3], "length", kSizeRange)));
}

template <at::Tensor (*Join)(const std::vector<at::Tensor>&, int64_t)>
Napi::Value Joined(const Napi::CallbackInfo& info) {
  return result(info, Join(TensorHandle::GetList(info[0], "tensors"), to_int(info[1], "dim", kDimRange)));
}

Napi::Value Transpose(const Napi::CallbackInfo& info) {
  return result(info, ops::transpose(arg(info, 0, "input"), to_int(info[1], "dim0", kDimRange),
                                     to_int(info[2], "dim1", kDimRange)));
}

Napi::Value Permute(const Napi::CallbackInfo& info) {
  return result(info, ops::permute(arg(info, 0, "input"), to_int_list(info[1], "dims", kDimRange)));
}

Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  return result(info, ops::log_softmax(arg(info, 0, "input"), to_int(info[1], "dim", kDimRange)));
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  return result(info, ops::softmax(arg(info, 0, "input"), to_int(info[1], "dim", kDimRange)));
}

Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  return result(info,
                ops::index_select(arg(info, 0, "input"), to_int(info[1], "dim", kDimRange), arg(info, 2, "index")));
}

Napi::Value Argmax(const Napi::CallbackInfo& info) {
  return result(info, ops::argmax(arg(info, 0, "input"), to_int(info[1], "dim", kDimRange)));
}

Napi::Value Eq(const Napi::CallbackInfo& info) {
  const at::Tensor& a = arg(info, 0, "a");
  at::Tensor b = TensorHandle::IsHandle(info[1]) ? arg(info, 1, "b") : ops::wrapped_scalar(to_double(info[1], "b"), a);
  return result(info, ops::eq(a, b));
}

Napi::Value Pad(const Napi::CallbackInfo& info) {
  return result(
      info, ops::pad(arg(info, 0, "input"), to_int_list(info[1], "pads", kPaddingRange), to_double(info[2], "value")));
}

Napi::Value Gather(const Napi::CallbackInfo& info) {
  return result(info, ops::gather(arg(info, 0, "input"), to_int(info[1], "dim", kDimRange), arg(info, 2, "index")));
}

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  c10::optional<at::Tensor> bias;
  if (!info[2].IsNull() && !info[2].IsUndefined()) bias = arg(info, 2, "bias");
  ops::Conv2dOptions options;
  options.stride = to_int_list(info[3], "stride", kWindowRange);
  options.padding = to_int_list(info[4], "padding", kPaddingRange);
  options.dilation = to_int_list(info[5], "dilation", kWindowRange);
  options.groups = to_int(info[6], "groups", kWindowRange);
  return result(info, ops::conv2d(arg(info, 0, "input"), arg(info, 1, "weight"), bias, options));
}

Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  ops::MaxPool2dOptions options;
  options.kernel_size = to_int_list(info[1], "kernelSize", kWindowRange);
  options.stride = to_int_list(info[2], "stride", kWindowRange);
  options.padding = to_int_list(info[3], "padding", kPaddingRange);
  options.dilation = to_int_list(info[4], "dilation", kWindowRange);
  options.ceil_mode = to_bool(info[5], "ceilMode");
  return result(info, ops::max_pool2d(arg(info, 0, "input"), options));
}

const ops::Unary kUnary[] = {ops::Unary::Neg, ops::Unary::Exp,  ops::Unary::Log,  ops::Unary::Sqrt,
                             ops::Unary::Abs, ops::Unary::Tanh, ops::Unary::Relu, ops::Unary::Sigmoid};
const char* const kUnaryNames[] = {"neg", "exp", "log", "sqrt", "abs", "tanh", "relu", "sigmoid"};
const ops::Binary kBinary[] = {ops::Binary::Add, ops::Binary::Sub, ops::Binary::Mul, ops::Binary::Div,
                               ops::Binary::Pow};
const char* const kBinaryNames[] = {"add", "sub", "mul", "div", "pow"};

}  // namespace

void RegisterOpsApi(Napi::Env env, Napi::Object exports) {
  for (size_t i = 0; i < std::size(kUnary); ++i) {
    Export<UnaryOp>(env, exports, kUnaryNames[i], const_cast<ops::Unary*>(&kUnary[i]));
  }
  for (size_t i = 0; i < std::size(kBinary); ++i) {
    Export<BinaryOp>(env, exports, kBinaryNames[i], const_cast<ops::Binary*>(&kBinary[i]));
  }
  Export<Elu>(env, exports, "elu");
  Export<ClampMin>(env, exports, "clampMin");
  Export<Matmul>(env, exports, "matmul");
  Export<Reduction<ops::sum>>(env, exports, "sum");
  Export<Reduction<ops::mean>>(env, exports, "mean");
  Export<Reduction<ops::amax>>(env, exports, "amax");
  Export<Reduction<ops::amin>>(env, exports, "amin");
  Export<Reshape>(env, exports, "reshape");
  Export<Narrow>(env, exports, "narrow");
  Export<Joined<ops::cat>>(env, exports, "cat");
  Export<Joined<ops::stack>>(env, exports, "stack");
  Export<Transpose>(env, exports, "transpose");
  Export<Permute>(env, exports, "permute");
  Export<LogSoftmax>(env, exports, "logSoftmax");
  Export<Softmax>(env, exports, "softmax");
  Export<Gather>(env, exports, "gather");
  Export<IndexSelect>(env, exports, "indexSelect");
  Export<Argmax>(env, exports, "argmax");
  Export<Eq>(env, exports, "eq");
  Export<Pad>(env, exports, "pad");
  Export<Conv2d>(env, exports, "conv2d");
  Export<MaxPool2d>(env, exports, "maxPool2d");
}

}  // namespace grnewt::addon
