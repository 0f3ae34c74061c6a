// Exports: asynchronous variants of the long native work. The graph is built on the JS thread; the
// derivatives run on a libuv worker thread, so the event loop stays free. Tensors are reference-counted,
// so the worker keeps what it needs alive even if the JS handles are disposed meanwhile; the façade keeps
// callers from changing the same parameters while a call is pending.
#include <exception>
#include <string>

#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/hg_result.h"
#include "addon/tensor_handle.h"
#include "core/errors.h"
#include "core/summaries.h"

namespace grnewt::addon {

namespace {

// Runs a task on the worker pool and settles a Promise with its result, or with a typed JS error.
class HgWorker : public Napi::AsyncWorker {
 public:
  HgWorker(Napi::Env env, at::Tensor loss, summaries::Groups params, summaries::Groups direction, summaries::Options options)
      : Napi::AsyncWorker(env, "grnewt:computeHg"),
        deferred_(Napi::Promise::Deferred::New(env)),
        loss_(std::move(loss)),
        params_(std::move(params)),
        direction_(std::move(direction)),
        options_(options) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = summaries::compute_hg(loss_, params_, direction_, options_);
    } catch (...) {
      error_ = std::current_exception();
      SetError("failed");  // the real error is rethrown in OnError, on the JS thread
    }
  }

  void OnOK() override {
    Napi::Object out = hg_to_js(Env(), std::move(result_));
    release();
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error&) override {
    Napi::Env env = Env();
    release();
    try {
      std::rethrow_exception(error_);
    } catch (...) {
      throw_current_as_js(env);  // leaves the typed error pending
    }
    Napi::Value error = env.GetAndClearPendingException().Value();
    deferred_.Reject(error);
  }

 private:
  // Drop the graph and the tensors on the JS thread, where the handles that share them live.
  void release() {
    loss_.reset();
    params_.clear();
    direction_.clear();
  }

  Napi::Promise::Deferred deferred_;
  at::Tensor loss_;
  summaries::Groups params_, direction_;
  summaries::Options options_;
  summaries::Hg result_;
  std::exception_ptr error_;
};

// (loss, paramGroups, directionGroups, noregul, diagonal) -> Promise<{ H, g, order3 }>
Napi::Value ComputeHgAsync(const Napi::CallbackInfo& info) {
  summaries::Options options;
  options.noregul = to_bool(info[3], "noregul");
  options.diagonal = to_bool(info[4], "diagonal");
  auto* worker = new HgWorker(info.Env(), TensorHandle::Get(info[0], "loss"), TensorHandle::GetGroups(info[1], "paramGroups"),
                              TensorHandle::GetGroups(info[2], "direction"), options);
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself once settled
  return promise;
}

}  // namespace

void RegisterAsyncApi(Napi::Env env, Napi::Object exports) { Export<ComputeHgAsync>(env, exports, "computeHgAsync"); }

}  // namespace grnewt::addon
