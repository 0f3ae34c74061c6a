// Long native work off the JS thread: a job runs on libuv's worker pool and settles a Promise with its
// result (converted to JS on the JS thread) or with a typed JS error. The job owns (by value) every tensor it
// needs, so the JS handles may be disposed meanwhile; it is destroyed on the JS thread, where the handles
// sharing those tensors live.
#pragma once
#include <ATen/Parallel.h>
#include <napi.h>

#include <exception>
#include <functional>
#include <utility>

#include "addon/js_errors.h"

namespace grnewt::addon {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Job = std::function<Result()>;
  using ToJs = Napi::Value (*)(Napi::Env, Result&&);

  // Queues `job`; the returned Promise settles with to_js(result). The worker deletes itself once settled.
  static Napi::Promise Queue(Napi::Env env, const char* name, Job job, ToJs to_js) {
    auto* worker = new PromiseWorker(env, name, std::move(job), to_js);
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Napi::AsyncWorker::Queue();
    return promise;
  }

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
      result_ = Result();
    } catch (...) {
    }
    delete this;
  }

 private:
  PromiseWorker(Napi::Env env, const char* name, Job job, ToJs to_js)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        job_(std::move(job)),
        to_js_(to_js) {}

  void Settle(Napi::Env env) {
    if (!error_) {
      try {
        deferred_.Resolve(to_js_(env, std::move(result_)));
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
  ToJs to_js_;
  Result result_;
  std::exception_ptr error_;
};

}  // namespace grnewt::addon
