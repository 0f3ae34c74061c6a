#include "addon/tensor_handle.h"

#include <atomic>
#include <string>

#include "addon/addon_data.h"

namespace grnewt::addon {

namespace {
// Distinguishes our handles from any other object or external (napi_type_tag, N-API 8).
const napi_type_tag kTensorTag = {0x6772'6e65'7774'5f74ULL, 0x656e'736f'725f'6831ULL};
std::atomic<int64_t> g_live_tensors{0};
std::atomic<int64_t> g_live_bytes{0};

// Telling V8 about every tiny tensor costs more than the op: report in steps of this many bytes.
constexpr int64_t kReportStep = 1 << 20;

void account(Napi::Env env, int64_t delta) {
  int64_t& pending = AddonData::Of(env).unreported_bytes;
  pending += delta;
  if (pending >= kReportStep || pending <= -kReportStep) {
    int64_t total;  // N-API rejects a null result pointer
    napi_adjust_external_memory(env, pending, &total);  // status ignored: nothing to do if it fails
    pending = 0;
  }
}
}  // namespace

TensorHandle::TensorHandle(at::Tensor tensor)
    : tensor_(std::move(tensor)), bytes_(static_cast<int64_t>(tensor_.nbytes())) {}

Napi::Value TensorHandle::Wrap(Napi::Env env, at::Tensor tensor) {
  auto* handle = new TensorHandle(std::move(tensor));
  g_live_tensors.fetch_add(1);
  g_live_bytes.fetch_add(handle->bytes_);
  account(env, handle->bytes_);
  auto external = Napi::External<TensorHandle>::New(env, handle, [](Napi::Env env, TensorHandle* h) {
    h->Release(env);
    delete h;
  });
  external.TypeTag(&kTensorTag);
  return external;
}

bool TensorHandle::IsHandle(const Napi::Value& value) {
  return value.IsExternal() && value.As<Napi::Object>().CheckTypeTag(&kTensorTag);
}

TensorHandle* TensorHandle::Of(const Napi::Value& value, const char* what) {
  if (!IsHandle(value)) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a Tensor");
  return value.As<Napi::External<TensorHandle>>().Data();
}

const at::Tensor& TensorHandle::Get(const Napi::Value& value, const char* what) {
  TensorHandle* handle = Of(value, what);
  if (!handle->tensor_.defined()) {
    throw Napi::Error::New(value.Env(), std::string(what) + ": the tensor has been disposed");
  }
  return handle->tensor_;
}

std::vector<at::Tensor> TensorHandle::GetList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array of Tensors");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(Get(array.Get(i), what));
  return out;
}

std::vector<std::vector<at::Tensor>> TensorHandle::GetGroups(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array of arrays of Tensors");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::vector<at::Tensor>> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(GetList(array.Get(i), what));
  return out;
}

void TensorHandle::Dispose(const Napi::Value& value) { Of(value, "dispose: argument")->Release(value.Env()); }

bool TensorHandle::IsDisposed(const Napi::Value& value) {
  return !Of(value, "isDisposed: argument")->tensor_.defined();
}

void TensorHandle::Release(Napi::Env env) {
  if (!tensor_.defined()) return;
  tensor_.reset();
  g_live_tensors.fetch_sub(1);
  g_live_bytes.fetch_sub(bytes_);
  account(env, -bytes_);
  bytes_ = 0;
}

TensorHandle::Totals TensorHandle::totals() { return {g_live_tensors.load(), g_live_bytes.load()}; }

}  // namespace grnewt::addon
