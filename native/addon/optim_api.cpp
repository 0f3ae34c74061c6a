// Exports: the optimizers' in-place update rules. State tensors travel as handles; a null state is
// created natively and returned as a new handle (else the result's entry is null).
#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/js_options.h"
#include "addon/tensor_handle.h"
#include "core/finite.h"
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

optim::SgdOptions sgd_options(const JsOptions& js) {
  optim::SgdOptions o;
  o.lr = js.number("lr");
  o.momentum = js.number("momentum");
  o.dampening = js.number("dampening");
  o.weight_decay = js.number("weightDecay");
  o.nesterov = js.boolean("nesterov");
  return o;
}

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  at::Tensor buf = optional_state(info[1], "momentumBuffer");
  optim::sgd_step(param, buf, sgd_options(JsOptions(info[2], "sgdStep")));
  return buf.defined() ? created(info.Env(), info[1], buf) : info.Env().Null();
}

Napi::Value SgdStepStaysFinite(const Napi::CallbackInfo& info) {
  const bool finite =
      optim::sgd_step_stays_finite(TensorHandle::Get(info[0], "param"), optional_state(info[1], "momentumBuffer"),
                                   sgd_options(JsOptions(info[2], "sgdStepStaysFinite")));
  return Napi::Boolean::New(info.Env(), finite);
}

// The moments' settings, shared by adamStep and adamDirection.
optim::AdamOptions adam_moments(const JsOptions& js) {
  optim::AdamOptions o;
  o.beta1 = js.number("beta1");
  o.beta2 = js.number("beta2");
  o.eps = js.number("eps");
  return o;
}

optim::AdamOptions adam_options(const JsOptions& js) {
  optim::AdamOptions o = adam_moments(js);
  o.lr = js.number("lr");
  o.weight_decay = js.number("weightDecay");
  return o;
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  at::Tensor m = optional_state(info[1], "expAvg"), v = optional_state(info[2], "expAvgSq");
  const JsOptions js(info[3], "adamStep");
  optim::adam_step(param, m, v, js.integer("step", kStepRange), adam_options(js));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, m.defined() ? created(info.Env(), info[1], m) : info.Env().Null());
  out.Set(1u, v.defined() ? created(info.Env(), info[2], v) : info.Env().Null());
  return out;
}

Napi::Value AdamStepStaysFinite(const Napi::CallbackInfo& info) {
  const JsOptions js(info[3], "adamStepStaysFinite");
  const bool finite = optim::adam_step_stays_finite(
      TensorHandle::Get(info[0], "param"), optional_state(info[1], "expAvg"), optional_state(info[2], "expAvgSq"),
      js.integer("step", kStepRange), adam_options(js));
  return Napi::Boolean::New(info.Env(), finite);
}

Napi::Value MomentumDirection(const Napi::CallbackInfo& info) {
  at::Tensor buf = optional_state(info[1], "buffer");
  at::Tensor u = optim::momentum_direction(TensorHandle::Get(info[0], "param"), buf, to_double(info[2], "momentum"),
                                           to_double(info[3], "momentumDamp"));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, TensorHandle::Wrap(info.Env(), u));
  out.Set(1u, created(info.Env(), info[1], buf));
  return out;
}

// No lr or weightDecay: the direction is Adam's step at lr = 1 without weight decay (NewtonSummary scales it by
// its own rates).
Napi::Value AdamDirection(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  at::Tensor m = optional_state(info[1], "expAvg"), v = optional_state(info[2], "expAvgSq");
  const JsOptions js(info[3], "adamDirection");
  const int64_t step = js.integer("step", kStepRange);
  at::Tensor u = optim::adam_direction(param, m, v, step, adam_moments(js));
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, TensorHandle::Wrap(info.Env(), std::move(u)));
  out.Set(1u, created(info.Env(), info[1], m));
  out.Set(2u, created(info.Env(), info[2], v));
  return out;
}

Napi::Value MomentumDirectionStaysFinite(const Napi::CallbackInfo& info) {
  const bool finite =
      optim::momentum_direction_stays_finite(TensorHandle::Get(info[0], "param"), optional_state(info[1], "buffer"),
                                             to_double(info[2], "momentum"), to_double(info[3], "momentumDamp"));
  return Napi::Boolean::New(info.Env(), finite);
}

Napi::Value AdamDirectionStaysFinite(const Napi::CallbackInfo& info) {
  const JsOptions js(info[3], "adamDirectionStaysFinite");
  const bool finite = optim::adam_direction_stays_finite(
      TensorHandle::Get(info[0], "param"), optional_state(info[1], "expAvg"), optional_state(info[2], "expAvgSq"),
      js.integer("step", kStepRange), adam_moments(js));
  return Napi::Boolean::New(info.Env(), finite);
}

Napi::Value ApplyUpdate(const Napi::CallbackInfo& info) {
  at::Tensor param = TensorHandle::Get(info[0], "param");
  optim::apply_update(param, TensorHandle::Get(info[1], "u"), to_double(info[2], "lr"));
  return info.Env().Undefined();
}

Napi::Value UpdateStaysFinite(const Napi::CallbackInfo& info) {
  const bool finite = optim::update_stays_finite(TensorHandle::Get(info[0], "param"), TensorHandle::Get(info[1], "u"),
                                                 to_double(info[2], "lr"));
  return Napi::Boolean::New(info.Env(), finite);
}

Napi::Value AllFinite(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), all_finite(TensorHandle::GetList(info[0], "allFinite: tensors")));
}

}  // namespace

void RegisterOptimApi(Napi::Env env, Napi::Object exports) {
  Export<SgdStep>(env, exports, "sgdStep");
  Export<SgdStepStaysFinite>(env, exports, "sgdStepStaysFinite");
  Export<AdamStep>(env, exports, "adamStep");
  Export<AdamStepStaysFinite>(env, exports, "adamStepStaysFinite");
  Export<MomentumDirection>(env, exports, "momentumDirection");
  Export<AdamDirection>(env, exports, "adamDirection");
  Export<MomentumDirectionStaysFinite>(env, exports, "momentumDirectionStaysFinite");
  Export<AdamDirectionStaysFinite>(env, exports, "adamDirectionStaysFinite");
  Export<ApplyUpdate>(env, exports, "applyUpdate");
  Export<UpdateStaysFinite>(env, exports, "updateStaysFinite");
  Export<AllFinite>(env, exports, "allFinite");
}

}  // namespace grnewt::addon
