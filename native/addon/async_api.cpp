// Exports: asynchronous variants of the long native work. The graph is built on the JS thread; the
// derivatives run on a libuv worker thread, so the event loop stays free. Tensors are reference-counted,
// so the worker keeps what it needs alive even if the JS handles are disposed meanwhile; the façade keeps
// callers from changing the same parameters while a call is pending.

#include <functional>
#include <string>

#include "addon/exports.h"
#include "addon/hg_result.h"
#include "addon/js_errors.h"
#include "addon/promise_worker.h"
#include "addon/taylor_model.h"
#include "addon/tensor_handle.h"
#include "core/errors.h"
#include "method/summaries.h"
#include "method/taylor.h"

namespace grnewt::addon {

namespace {

Napi::Value hg_result_to_js(Napi::Env env, taylor::Result&& result) {
  return hg_to_js(env, std::move(result.hg), std::move(result.loss));
}

Napi::Value queue(Napi::Env env, const char* name, PromiseWorker<taylor::Result>::Job job) {
  return PromiseWorker<taylor::Result>::Queue(env, name, std::move(job), hg_result_to_js);
}

Napi::Value ComputeHgAsync(const Napi::CallbackInfo& info) {
  const summaries::Options options = hg_options_from_js(info[3], info[4]);
  at::Tensor loss = TensorHandle::Get(info[0], "loss");
  summaries::Groups params = TensorHandle::GetGroups(info[1], "paramGroups"),
                    direction = TensorHandle::GetGroups(info[2], "direction");
  return queue(info.Env(), "grnewt:computeHg", [=] {
    return taylor::Result{summaries::compute_hg(loss, params, direction, options), {}};
  });
}

Napi::Value TaylorHgAsync(const Napi::CallbackInfo& info) {
  return queue(info.Env(), "grnewt:taylorHg",
               [call = taylor_call_from_js(info, "taylorHgAsync")] { return call.run(); });
}

}  // namespace

void RegisterAsyncApi(Napi::Env env, Napi::Object exports) {
  Export<ComputeHgAsync>(env, exports, "computeHgAsync");
  Export<TaylorHgAsync>(env, exports, "taylorHgAsync");
}

}  // namespace grnewt::addon
