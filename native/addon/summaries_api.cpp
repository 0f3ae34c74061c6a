// Exports: the summaries (computeHg, diffN), per-parameter gradients, and the Nesterov solver.
#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/hg_result.h"
#include "addon/taylor_model.h"
#include "addon/tensor_handle.h"
#include "core/autograd.h"
#include "core/errors.h"
#include "method/lr_solver.h"
#include "method/summaries.h"
#include "method/taylor.h"

namespace grnewt::addon {

namespace {

Napi::Array from_tensor_list(Napi::Env env, std::vector<at::Tensor> tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) out.Set(i, TensorHandle::Wrap(env, std::move(tensors[i])));
  return out;
}

Napi::Value ComputeHg(const Napi::CallbackInfo& info) {
  summaries::Hg hg =
      summaries::compute_hg(TensorHandle::Get(info[0], "loss"), TensorHandle::GetGroups(info[1], "paramGroups"),
                            TensorHandle::GetGroups(info[2], "direction"), hg_options_from_js(info[3], info[4]));
  return hg_to_js(info.Env(), std::move(hg));
}

Napi::Value DiffN(const Napi::CallbackInfo& info) {
  const int64_t order = to_int(info[3], "diffN: order", IntRange{1, 8});
  return TensorHandle::Wrap(
      info.Env(), summaries::diff_n(TensorHandle::Get(info[0], "loss"), TensorHandle::GetGroups(info[1], "paramGroups"),
                                    TensorHandle::GetGroups(info[2], "direction"), static_cast<int>(order)));
}

Napi::Value Gradients(const Napi::CallbackInfo& info) {
  return from_tensor_list(
      info.Env(), autograd::gradients(TensorHandle::Get(info[0], "loss"), TensorHandle::GetList(info[1], "params")));
}

Napi::Object result_object(Napi::Env env, const lr_solver::Result& result, const at::Tensor& H) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("found", result.found);
  if (result.found) {
    at::Tensor lrs = at::tensor(result.lrs, at::kDouble).to(H.device(), H.scalar_type());
    out.Set("lrs", TensorHandle::Wrap(env, std::move(lrs)));
    out.Set("r", result.r);
    out.Set("residual", result.residual);
  } else {
    out.Set("lrs", env.Null());
    out.Set("r", env.Null());
    out.Set("reason", result.reason);
  }
  out.Set("r0", result.r0);
  Napi::Array bracket = Napi::Array::New(env, 2);
  bracket.Set(0u, result.bracket_lo);
  bracket.Set(1u, result.bracket_hi);
  out.Set("bracket", bracket);
  out.Set("branch", result.branch.empty() ? env.Null() : Napi::Value(Napi::String::New(env, result.branch)));
  out.Set("dSingular", result.d_singular);
  out.Set("iterations", result.iterations);
  if (result.branch != "ridge") out.Set("gap", result.gap);
  if (!result.found && (result.residual > 0 || result.gap > 0)) out.Set("residual", result.residual);
  return out;
}

Napi::Value RidgeLrs(const Napi::CallbackInfo& info) {
  const at::Tensor H = TensorHandle::Get(info[0], "H");  // a copy (a refcount): g++ 13 flagged the reference
  return result_object(info.Env(), lr_solver::ridge(H, TensorHandle::Get(info[1], "g"), to_double(info[2], "ridge")),
                       H);
}

Napi::Value NesterovLrs(const Napi::CallbackInfo& info) {
  const at::Tensor H = TensorHandle::Get(info[0], "H");  // a copy (a refcount): g++ 13 flagged the reference
  lr_solver::Result result = lr_solver::solve(H, TensorHandle::Get(info[1], "g"), TensorHandle::Get(info[2], "order3_"),
                                              to_double(info[3], "dampingInt"));
  return result_object(info.Env(), result, H);
}

Napi::Value TaylorHg(const Napi::CallbackInfo& info) {
  taylor::Result r = taylor_call_from_js(info, "taylorHg").run();
  return hg_to_js(info.Env(), std::move(r.hg), std::move(r.loss));
}

Napi::Value TaylorHgProfile(const Napi::CallbackInfo& info) {
  taylor::Profile p;
  taylor::Result r = taylor_call_from_js(info, "taylorHgProfile").run(&p);
  Napi::Env env = info.Env();
  Napi::Object out = hg_to_js(env, std::move(r.hg), std::move(r.loss));
  Napi::Object profile = Napi::Object::New(env);
  const std::pair<const char*, double> stages[] = {{"layers", p.layers_s}, {"allocation", p.allocation_s},
                                                   {"bias", p.bias_s},     {"elementwise", p.elementwise_s},
                                                   {"pool", p.pool_s},     {"loss", p.loss_s},
                                                   {"values", p.values_s}, {"sources", p.sources_s},
                                                   {"total", p.total_s}};
  for (const auto& [name, seconds] : stages) profile.Set(name, seconds);
  profile.Set("peakRows", static_cast<double>(p.peak_rows));
  out.Set("profile", profile);
  return out;
}

}  // namespace

void RegisterSummariesApi(Napi::Env env, Napi::Object exports) {
  Export<ComputeHg>(env, exports, "computeHg");
  Export<DiffN>(env, exports, "diffN");
  Export<TaylorHg>(env, exports, "taylorHg");
  Export<TaylorHgProfile>(env, exports, "taylorHgProfile");
  Export<Gradients>(env, exports, "gradients");
  Export<NesterovLrs>(env, exports, "nesterovLrs");
  Export<RidgeLrs>(env, exports, "ridgeLrs");
}

}  // namespace grnewt::addon
