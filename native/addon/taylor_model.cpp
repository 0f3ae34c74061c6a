#include "addon/taylor_model.h"

#include <string>

#include "addon/convert.h"
#include "addon/hg_result.h"
#include "addon/js_options.h"
#include "addon/tensor_handle.h"
#include "core/errors.h"

namespace grnewt::addon {

namespace {

constexpr IntRange kGroupIndexRange{-1, kMaxInt32};  // a subset's index, or -1 for none

at::Tensor optional_tensor(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() || v.IsNull() ? at::Tensor() : TensorHandle::Get(v, key);
}

int64_t optional_int(const Napi::Object& o, const char* key, int64_t fallback, IntRange range) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : to_int(v, key, range);
}

std::vector<taylor::Op> taylor_model_from_js(const Napi::Value& value) {
  if (!value.IsArray()) throw TypeError("model must be an array of steps");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<taylor::Op> model;
  for (uint32_t k = 0; k < array.Length(); ++k) {
    if (!array.Get(k).IsObject()) throw TypeError("each model step must be an object");
    Napi::Object o = array.Get(k).As<Napi::Object>();
    const std::string kind = to_string(o.Get("kind"), "kind");
    taylor::Op op;
    if (kind == "linear" || kind == "conv2d") {
      op.kind = kind == "linear" ? taylor::Op::Kind::Linear : taylor::Op::Kind::Conv2d;
      op.weight = TensorHandle::Get(o.Get("weight"), "weight");
      op.bias = optional_tensor(o, "bias");
      op.dweight = optional_tensor(o, "dweight");
      op.dbias = optional_tensor(o, "dbias");
      op.weight_group = optional_int(o, "weightGroup", -1, kGroupIndexRange);
      op.bias_group = optional_int(o, "biasGroup", -1, kGroupIndexRange);
      op.input_scale = o.Get("inputScale").IsUndefined() ? 1 : to_double(o.Get("inputScale"), "inputScale");
      if (op.kind == taylor::Op::Kind::Conv2d) {
        op.conv.stride = to_int_list(o.Get("stride"), "stride", kWindowRange);
        op.conv.padding = to_int_list(o.Get("padding"), "padding", kPaddingRange);
        op.conv.dilation = to_int_list(o.Get("dilation"), "dilation", kWindowRange);
        op.conv.groups = to_int(o.Get("groups"), "groups", kWindowRange);
      }
    } else if (kind == "maxPool2d") {
      op.kind = taylor::Op::Kind::MaxPool2d;
      op.pool.kernel_size = to_int_list(o.Get("kernelSize"), "kernelSize", kWindowRange);
      op.pool.stride = to_int_list(o.Get("stride"), "stride", kWindowRange);
      op.pool.padding = to_int_list(o.Get("padding"), "padding", kPaddingRange);
      op.pool.dilation = to_int_list(o.Get("dilation"), "dilation", kWindowRange);
      op.pool.ceil_mode = to_bool(o.Get("ceilMode"), "ceilMode");
    } else if (kind == "flatten") {
      op.kind = taylor::Op::Kind::Flatten;
    } else if (kind == "activation") {
      op.kind = taylor::Op::Kind::Activation;
      op.activation = jets::parse_activation(to_string(o.Get("activation"), "activation"),
                                             o.Get("alpha").IsUndefined() ? 1 : to_double(o.Get("alpha"), "alpha"));
    } else {
      throw TypeError("unknown model step kind '" + kind + "'");
    }
    model.push_back(std::move(op));
  }
  return model;
}

taylor::Loss taylor_loss_from_js(const JsOptions& options) {
  const std::string loss = options.string("loss");
  if (loss == "crossEntropy") return taylor::Loss::CrossEntropy;
  if (loss == "mse") return taylor::Loss::Mse;
  throw TypeError(options.name("loss") + " must be 'crossEntropy' or 'mse', got '" + loss + "'");
}

}  // namespace

TaylorCall taylor_call_from_js(const Napi::CallbackInfo& info, const char* call) {
  std::vector<taylor::Op> model = taylor_model_from_js(info[0]);
  at::Tensor x = TensorHandle::Get(info[1], "x"), target = TensorHandle::Get(info[2], "target");
  const JsOptions options(info[3], call);
  return {std::move(model),
          taylor_loss_from_js(options),
          std::move(x),
          std::move(target),
          options.integer("groups", kWindowRange),
          hg_options_from_js(options)};
}

}  // namespace grnewt::addon
