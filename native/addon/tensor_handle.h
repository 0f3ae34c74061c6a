// The JS value that owns one reference to a native tensor: a type-tagged plain object wrapping it (cheaper
// than a class instance, and tiny ops make many). It is freed by dispose(), which also drops the pending
// finalizer, or, failing that, once the garbage collector has collected the object: V8 clears a weak
// reference to it during the collection itself, and the next sweep (run as new handles are made) frees the
// tensor then, without waiting for the finalizer, which Node runs only between event-loop turns — a
// synchronous training loop would otherwise hold every tensor it dropped until it returns. V8 is told the
// bytes held so that GC pressure follows native memory.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <cstdint>
#include <vector>

namespace grnewt::addon {

class TensorHandle {
 public:
  // A new JS handle owning `tensor`.
  static Napi::Value Wrap(Napi::Env env, at::Tensor tensor);
  // The live tensor behind `value`; TypeError if `value` is no tensor handle, Error if disposed.
  // (Of: the handle, or null once disposed.)
  static const at::Tensor& Get(const Napi::Value& value, const char* what);
  static bool IsHandle(const Napi::Value& value);
  // The live tensors behind a JS array of handles.
  static std::vector<at::Tensor> GetList(const Napi::Value& value, const char* what);
  // The live tensors behind a JS array of arrays of handles (a partition, a direction).
  static std::vector<std::vector<at::Tensor>> GetGroups(const Napi::Value& value, const char* what);
  // Frees the tensor behind a handle now (idempotent); false if `value` is no handle.
  static void Dispose(const Napi::Value& value);

  // Frees the tensors of handles V8 has collected whose finalizers have not run yet (this environment's).
  static void Sweep(Napi::Env env);

  struct Totals {
    int64_t live_tensors;
    int64_t bytes;
  };
  // Process-wide counts of handles not yet freed (all environments, worker threads included).
  static Totals totals();

 private:
  TensorHandle(at::Tensor tensor);
  static TensorHandle* Of(const Napi::Value& value, const char* what);
  void Release(Napi::Env env);

  void Forget(Napi::Env env);  // leaves the environment's list of live handles

  at::Tensor tensor_;
  int64_t bytes_ = 0;
  napi_ref weak_ = nullptr;  // cleared by V8 when the JS object is collected
  size_t index_ = 0;         // position in AddonData::live while listed
  bool listed_ = false;
};

}  // namespace grnewt::addon
