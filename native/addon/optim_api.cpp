// Exports: the optimizers' in-place update rules. State tensors travel as handles; a null state is
// created natively and returned as a new handle (else the result's entry is null).
#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/tensor_handle.h"
#include "optim/updates.h"

namespace grnewt::addon {

namespace {

constexpr IntRange kStepRange{1, kMaxSafeInteger};  // Adam's step counter (bias correction needs ≥ 1)


at::Tensor optional_state(const Napi::Value& v, const char* what) {
  return v.IsNull() || v.IsUndefined() ? at::Tensor() : TensorHandle::Get(v, what);
}

// A state tensor to hand back: a new handle when it was created here, null when the caller has it already.
Napi::Value created(Napi::Env env, const Napi::Value& given, at::Tensor t) {
  return given.IsNull() || given.IsUndefined() ? TensorHandle::Wrap(env, std::move(t)) : env.Null();
}

// (param, momentumBuffer | null, lr, momentum, dampening, weightDecay, nesterov) -> new buffer | null
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  at::Tensor buf = optional_state(info[1], "momentumBuffer");
  optim::SgdOptions o;
  o.lr = to_double(info[2], "lr");
  o.momentum = to_double(info[3], "momentum");
  o.dampening = to_double(info[4], "dampening");
  o.weight_decay = to_double(info[5], "weightDecay");
  o.nesterov = to_bool(info[6], "nesterov");
  optim::sgd_step(param, buf, o);
  return buf.defined() ? created(info.Env(), info[1], buf) : info.Env().Null();
}

optim::AdamOptions adam_options(const Napi::CallbackInfo& info, size_t first) {
  optim::AdamOptions o;
  o.lr = to_double(info[first], "lr");
  o.beta1 = to_double(info[first + 1], "beta1");
  o.beta2 = to_double(info[first + 2], "beta2");
  o.eps = to_double(info[first + 3], "eps");
  o.weight_decay = to_double(info[first + 4], "weightDecay");
  return o;
}

// (param, expAvg | null, expAvgSq | null, step, lr, beta1, beta2, eps, weightDecay) -> [expAvg?, expAvgSq?]
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  at::Tensor m = optional_state(info[1], "expAvg"), v = optional_state(info[2], "expAvgSq");
  optim::adam_step(param, m, v, to_int(info[3], "step", kStepRange), adam_options(info, 4));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, m.defined() ? created(info.Env(), info[1], m) : info.Env().Null());
  out.Set(1u, v.defined() ? created(info.Env(), info[2], v) : info.Env().Null());
  return out;
}

// (param, buffer | null, momentum, damp) -> [direction, new buffer | null]
Napi::Value MomentumDirection(const Napi::CallbackInfo& info) {
  at::Tensor buf = optional_state(info[1], "buffer");
  at::Tensor u = optim::momentum_direction(TensorHandle::Get(info[0], "param"), buf, to_double(info[2], "momentum"),
                                           to_double(info[3], "momentumDamp"));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, TensorHandle::Wrap(info.Env(), u));
  out.Set(1u, created(info.Env(), info[1], buf));
  return out;
}

// (param, expAvg | null, expAvgSq | null, step, lr(ignored), beta1, beta2, eps, weightDecay(ignored)) -> [u, m?, v?]
Napi::Value AdamDirection(const Napi::CallbackInfo& info) {
  at::Tensor m = optional_state(info[1], "expAvg"), v = optional_state(info[2], "expAvgSq");
  at::Tensor u = optim::adam_direction(TensorHandle::Get(info[0], "param"), m, v, to_int(info[3], "step", kStepRange),
                                       adam_options(info, 4));
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, TensorHandle::Wrap(info.Env(), std::move(u)));
  out.Set(1u, created(info.Env(), info[1], m));
  out.Set(2u, created(info.Env(), info[2], v));
  return out;
}

// (param, u, lr)
Napi::Value ApplyUpdate(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  optim::apply_update(param, TensorHandle::Get(info[1], "u"), to_double(info[2], "lr"));
  return info.Env().Undefined();
}

// (tensors[]) -> boolean
Napi::Value AllFinite(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), optim::all_finite(TensorHandle::GetList(info[0], "allFinite: tensors")));
}

}  // namespace

void RegisterOptimApi(Napi::Env env, Napi::Object exports) {
  Export<SgdStep>(env, exports, "sgdStep");
  Export<AdamStep>(env, exports, "adamStep");
  Export<MomentumDirection>(env, exports, "momentumDirection");
  Export<AdamDirection>(env, exports, "adamDirection");
  Export<ApplyUpdate>(env, exports, "applyUpdate");
  Export<AllFinite>(env, exports, "allFinite");
}

}  // namespace grnewt::addon
