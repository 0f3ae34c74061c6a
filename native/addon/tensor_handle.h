// The JS value that owns one reference to a native tensor: a type-tagged plain object wrapping it (cheaper
// than a class instance, and tiny ops make many). It is freed by dispose(), or, failing that, once the garbage
// collector has collected the object: V8 clears a weak reference to it during the collection itself, and the
// next sweep (run as new handles are made) frees the tensor and the handle then. No N-API finalizer: Node runs
// those only between event-loop turns, so a synchronous training loop would hold every handle it dropped (and
// the finalizer's bookkeeping) until it returns. What is left at the environment's end is freed with its
// AddonData. V8 is told the bytes held so that GC pressure follows native memory.
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

  // Frees the handles V8 has collected, and their tensors (this environment's).
  static void Sweep(Napi::Env env);
  // Frees every handle still listed, at the environment's end (no N-API call: the environment is going away).
  static void FreeAtTeardown(std::vector<TensorHandle*>& live);

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
