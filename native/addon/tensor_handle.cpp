#include "addon/tensor_handle.h"

#include <atomic>
#include <string>

#include "addon/addon_data.h"

namespace grnewt::addon {

namespace {
// Distinguishes our handles from objects other addons wrap (napi_type_tag, N-API 8).
const napi_type_tag kTensorTag = {0x6772'6e65'7774'5f74ULL, 0x656e'736f'725f'6831ULL};
std::atomic<int64_t> g_live_tensors{0};
std::atomic<int64_t> g_live_bytes{0};
}  // namespace

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeTensor", {});
  AddonData::Of(env).tensor_constructor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  info.This().As<Napi::Object>().TypeTag(&kTensorTag);
}

TensorHandle::~TensorHandle() { Release(); }

Napi::Object TensorHandle::Wrap(Napi::Env env, at::Tensor tensor) {
  Napi::Object object = AddonData::Of(env).tensor_constructor.New({});
  TensorHandle* handle = Napi::ObjectWrap<TensorHandle>::Unwrap(object);
  handle->accounted_bytes_ = static_cast<int64_t>(tensor.nbytes());
  handle->tensor_ = std::move(tensor);
  g_live_tensors.fetch_add(1);
  g_live_bytes.fetch_add(handle->accounted_bytes_);
  Napi::MemoryManagement::AdjustExternalMemory(env, handle->accounted_bytes_);
  return object;
}

bool TensorHandle::IsHandle(const Napi::Value& value) {
  return value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&kTensorTag);
}

const at::Tensor& TensorHandle::Get(const Napi::Value& value, const char* what) {
  if (!IsHandle(value)) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a Tensor");
  TensorHandle* handle = Napi::ObjectWrap<TensorHandle>::Unwrap(value.As<Napi::Object>());
  if (handle->disposed()) {
    throw Napi::Error::New(value.Env(), std::string(what) + ": the tensor has been disposed");
  }
  return handle->tensor_;
}

void TensorHandle::Dispose() { Release(); }

void TensorHandle::Release() {
  if (!tensor_.defined()) return;
  tensor_.reset();
  g_live_tensors.fetch_sub(1);
  g_live_bytes.fetch_sub(accounted_bytes_);
  // Status ignored: during environment teardown there is nothing left to tell.
  napi_adjust_external_memory(Env(), -accounted_bytes_, nullptr);
  accounted_bytes_ = 0;
}

TensorHandle::Totals TensorHandle::totals() { return {g_live_tensors.load(), g_live_bytes.load()}; }

}  // namespace grnewt::addon
