// Exports: asynchronous variants of the long native work. The graph is built on the JS thread; the
// derivatives run on a libuv worker thread, so the event loop stays free. Tensors are reference-counted,
// so the worker keeps what it needs alive even if the JS handles are disposed meanwhile; the façade keeps
// callers from changing the same parameters while a call is pending.
#include <ATen/Parallel.h>

#include <exception>
#include <functional>
#include <string>

#include "addon/exports.h"
#include "addon/hg_result.h"
#include "addon/js_errors.h"
#include "addon/taylor_model.h"
#include "addon/tensor_handle.h"
#include "core/errors.h"
#include "method/summaries.h"
#include "method/taylor.h"

namespace grnewt::addon {

namespace {

// Runs a job on the worker pool and settles a Promise with its result, or with a typed JS error. The job
// owns (by value) every tensor it needs; it is destroyed on the JS thread, where the handles sharing them live.
class HgWorker : public Napi::AsyncWorker {
 public:
  using Job = std::function<taylor::Result()>;
  HgWorker(Napi::Env env, const char* name, Job job)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      // This pool thread's OpenMP settings start at the defaults: apply the configured intra-op thread count
      // first, or a first GEMM here would run on every core (and round differently from the JS thread's).
      at::init_num_threads();
      result_ = job_();
    } catch (...) {
      error_ = std::current_exception();  // rethrown as a typed JS error on the JS thread
    }
  }

  // On the JS thread once Execute has returned, also while the environment is being torn down (a Worker
  // terminated during the call): N-API calls fail then, node-addon-api turns that into a C++ exception, and
  // one escaping from here aborts the process. So nothing may escape; the worker is deleted on every path.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      if (status != napi_cancelled) {
        Napi::HandleScope scope(env);
        Settle(env);
      }
    } catch (...) {
      // The environment is going away (no one is left to see the promise settle).
    }
    try {
      job_ = nullptr;  // frees the job's tensors here, on the JS thread
      result_ = {};
    } catch (...) {
    }
    delete this;
  }

 private:
  void Settle(Napi::Env env) {
    if (!error_) {
      try {
        deferred_.Resolve(hg_to_js(env, std::move(result_.hg), std::move(result_.loss)));
        return;
      } catch (...) {
        error_ = std::current_exception();  // e.g. wrapping the result failed: reject with why
      }
    }
    try {
      std::rethrow_exception(error_);
    } catch (...) {
      throw_current_as_js(env);  // leaves the typed error pending
    }
    deferred_.Reject(env.GetAndClearPendingException().Value());
  }

  Napi::Promise::Deferred deferred_;
  Job job_;
  taylor::Result result_;
  std::exception_ptr error_;
};

Napi::Value queue(Napi::Env env, const char* name, HgWorker::Job job) {
  auto* worker = new HgWorker(env, name, std::move(job));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself once settled
  return promise;
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
