#include "addon/tensor_handle.h"

#include <algorithm>
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

// Plain N-API calls only (no node-addon-api wrapper that throws): this also runs from finalizers, during
// the environment's teardown, where nothing may throw.
void account(napi_env env, int64_t delta) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return;
  int64_t& pending = static_cast<AddonData*>(data)->unreported_bytes;
  pending += delta;
  if (pending >= kReportStep || pending <= -kReportStep) {
    int64_t total;                                      // N-API rejects a null result pointer
    napi_adjust_external_memory(env, pending, &total);  // status ignored: nothing to do if it fails
    pending = 0;
  }
}
}  // namespace

TensorHandle::TensorHandle(at::Tensor tensor)
    : tensor_(std::move(tensor)), bytes_(static_cast<int64_t>(tensor_.nbytes())) {}

Napi::Value TensorHandle::Wrap(Napi::Env env, at::Tensor tensor) {
  AddonData& data = AddonData::Of(env);
  if (++data.made_since_sweep > std::max<int64_t>(1024, data.live_after_sweep)) Sweep(env);
  auto* handle = new TensorHandle(std::move(tensor));
  g_live_tensors.fetch_add(1);
  g_live_bytes.fetch_add(handle->bytes_);
  account(env, handle->bytes_);
  // A plain object wrapping the handle (not an external), with no finalizer: dispose() removes the wrap, and
  // the sweep frees what V8 collected. Node runs finalizers only between event-loop turns, so in a synchronous
  // training loop each dropped handle's pending finalizer (and the handle, kept for it) would pile up: ~5 KB a
  // step of an MLP's, for as long as the loop runs.
  Napi::Object object = Napi::Object::New(env);
  napi_status status = napi_wrap(env, object, handle, nullptr, nullptr, nullptr);
  if (status == napi_ok) status = napi_create_reference(env, object, 0, &handle->weak_);
  if (status != napi_ok) {
    napi_remove_wrap(env, object, nullptr);
    handle->Release(env);
    delete handle;
    throw Napi::Error::New(env, "could not wrap a tensor handle");
  }
  handle->index_ = data.live.size();
  handle->listed_ = true;
  data.live.push_back(handle);
  object.TypeTag(&kTensorTag);
  return object;
}

void TensorHandle::Sweep(Napi::Env env) {
  AddonData& data = AddonData::Of(env);
  for (size_t i = 0; i < data.live.size();) {
    TensorHandle* h = data.live[i];
    napi_value object = nullptr;
    if (napi_get_reference_value(env, h->weak_, &object) == napi_ok && object == nullptr) {
      h->Forget(env);  // moves the last handle into slot i: look at it next
      h->Release(env);
      delete h;
    } else {
      ++i;
    }
  }
  data.made_since_sweep = 0;
  data.live_after_sweep = static_cast<int64_t>(data.live.size());
}

void TensorHandle::Forget(Napi::Env env) {
  if (weak_ != nullptr) {
    napi_delete_reference(env, weak_);
    weak_ = nullptr;
  }
  if (!listed_) return;
  void* data = nullptr;  // plain N-API (no throwing wrapper): this also runs from finalizers, during teardown
  if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return;
  std::vector<TensorHandle*>& live = static_cast<AddonData*>(data)->live;
  live[index_] = live.back();
  live[index_]->index_ = index_;
  live.pop_back();
  listed_ = false;
}

bool TensorHandle::IsHandle(const Napi::Value& value) {
  return value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&kTensorTag);
}

TensorHandle* TensorHandle::Of(const Napi::Value& value, const char* what) {
  if (!IsHandle(value)) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a Tensor");
  void* data = nullptr;
  if (napi_unwrap(value.Env(), value, &data) != napi_ok || data == nullptr) return nullptr;  // disposed
  return static_cast<TensorHandle*>(data);
}

const at::Tensor& TensorHandle::Get(const Napi::Value& value, const char* what) {
  TensorHandle* handle = Of(value, what);
  if (handle == nullptr || !handle->tensor_.defined()) {
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
  if (!value.IsArray())
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array of arrays of Tensors");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::vector<at::Tensor>> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(GetList(array.Get(i), what));
  return out;
}

void TensorHandle::Dispose(const Napi::Value& value) {
  if (Of(value, "dispose: argument") == nullptr) return;  // already disposed
  void* data = nullptr;
  napi_remove_wrap(value.Env(), value, &data);
  auto* handle = static_cast<TensorHandle*>(data);
  handle->Forget(value.Env());
  handle->Release(value.Env());
  delete handle;
}

void TensorHandle::Release(Napi::Env env) {
  if (!tensor_.defined()) return;
  tensor_.reset();
  g_live_tensors.fetch_sub(1);
  g_live_bytes.fetch_sub(bytes_);
  account(env, -bytes_);
  bytes_ = 0;
}

void TensorHandle::FreeAtTeardown(std::vector<TensorHandle*>& live) {
  for (TensorHandle* h : live) {
    if (h->tensor_.defined()) g_live_tensors.fetch_sub(1), g_live_bytes.fetch_sub(h->bytes_);
    delete h;  // its weak reference is the environment's to delete, as it ends
  }
  live.clear();
}

AddonData::~AddonData() { TensorHandle::FreeAtTeardown(live); }

TensorHandle::Totals TensorHandle::totals() { return {g_live_tensors.load(), g_live_bytes.load()}; }

}  // namespace grnewt::addon
