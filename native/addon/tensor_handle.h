// The JS object that owns one reference to a native tensor. It is freed by dispose() or, failing that,
// by the garbage collector; V8 is told the bytes it holds so that GC pressure follows native memory.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <cstdint>

namespace grnewt::addon {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  // Registers the class in `exports` and in the addon's per-environment data.
  static void Init(Napi::Env env, Napi::Object exports);
  // A new JS handle owning `tensor`.
  static Napi::Object Wrap(Napi::Env env, at::Tensor tensor);
  // The live tensor behind `value`; TypeError if `value` is no tensor handle, Error if disposed.
  static const at::Tensor& Get(const Napi::Value& value, const char* what);
  static bool IsHandle(const Napi::Value& value);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  void Dispose();
  bool disposed() const { return !tensor_.defined(); }

  struct Totals {
    int64_t live_tensors;
    int64_t bytes;
  };
  // Process-wide counts of handles not yet freed (all environments, worker threads included).
  static Totals totals();

 private:
  void Release();
  at::Tensor tensor_;
  int64_t accounted_bytes_ = 0;
};

}  // namespace grnewt::addon
