// Exports: tensor creation, properties, host copies, autograd entry points and runtime settings.
#include <cstring>

#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/js_errors.h"
#include "addon/tensor_handle.h"
#include "core/autograd.h"
#include "core/caching_allocator.h"
#include "core/errors.h"
#include "core/micro_bench.h"
#include "core/runtime.h"
#include "core/tensor_factory.h"

namespace grnewt::addon {

namespace {

const at::Tensor& arg_tensor(const Napi::CallbackInfo& info, size_t i = 0) {
  return TensorHandle::Get(info[i], "tensor");
}

// Optional string argument: undefined/null mean "keep as is".
bool has(const Napi::Value& v) { return !v.IsUndefined() && !v.IsNull(); }

// The narrow integer types let IDX data (bytes, mostly) become a tensor without a widened JS copy first.
Napi::Value FromData(const Napi::CallbackInfo& info) {
  constexpr const char* kExpected =
      "data must be a Float32Array, Float64Array, Int32Array, BigInt64Array, Int16Array, Int8Array or Uint8Array";
  if (!info[0].IsTypedArray()) throw TypeError(kExpected);
  // The data pointer straight from N-API: it is valid for SharedArrayBuffer-backed arrays too, where asking
  // for the (non-shared) ArrayBuffer fails.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), info[0], &type, &length, &data, nullptr, nullptr) != napi_ok) {
    throw TypeError(kExpected);
  }
  at::ScalarType source;
  switch (type) {
    case napi_float32_array:
      source = at::kFloat;
      break;
    case napi_float64_array:
      source = at::kDouble;
      break;
    case napi_int32_array:
      source = at::kInt;
      break;
    case napi_bigint64_array:
      source = at::kLong;
      break;
    case napi_int16_array:
      source = at::kShort;
      break;
    case napi_int8_array:
      source = at::kChar;
      break;
    case napi_uint8_array:
      source = at::kByte;
      break;
    default:
      throw TypeError(kExpected);
  }
  std::vector<int64_t> shape = to_shape(info[1], "shape");
  int64_t numel = 1;
  bool overflow = false;
  for (int64_t d : shape) overflow |= __builtin_mul_overflow(numel, d, &numel);
  if (overflow || numel != static_cast<int64_t>(length)) {
    throw RangeError("shape does not hold the " + std::to_string(length) + " elements of data");
  }
  if (data == nullptr && length > 0) throw TypeError("data's buffer is detached");
  at::Tensor t = from_host(data, source, shape, parse_dtype(to_string(info[2], "dtype")),
                           parse_device(to_string(info[3], "device")), to_bool(info[4], "requiresGrad"));
  return TensorHandle::Wrap(info.Env(), std::move(t));
}

template <Fill kind>
Napi::Value Filled(const Napi::CallbackInfo& info) {
  at::Tensor t = filled(kind, to_shape(info[0], "shape"), parse_dtype(to_string(info[1], "dtype")),
                        parse_device(to_string(info[2], "device")), to_bool(info[3], "requiresGrad"));
  return TensorHandle::Wrap(info.Env(), std::move(t));
}

Napi::Value Shape(const Napi::CallbackInfo& info) { return from_int_list(info.Env(), arg_tensor(info).sizes().vec()); }

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(arg_tensor(info).scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), device_name(arg_tensor(info).device()));
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), arg_tensor(info).requires_grad());
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), arg_tensor(info).is_leaf());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = arg_tensor(info);
  t.set_requires_grad(to_bool(info[1], "requiresGrad"));
  return info.Env().Undefined();
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info);
  // A non-leaf has none (unless it retains it), and asking libtorch logs a warning that suggests Python's
  // retain_grad().
  if (!t.is_leaf() && !t.retains_grad()) return info.Env().Null();
  const at::Tensor& grad = t.grad();
  return grad.defined() ? TensorHandle::Wrap(info.Env(), grad) : info.Env().Null();
}

Napi::Value ClearGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = arg_tensor(info);
  autograd::clear_grad(t);
  return info.Env().Undefined();
}

Napi::Value Assign(const Napi::CallbackInfo& info) {
  at::Tensor dst = arg_tensor(info, 0);
  autograd::assign(dst, TensorHandle::Get(info[1], "src"), to_bool(info[2], "sameShape"));
  return info.Env().Undefined();
}

Napi::Value ToArray(const Napi::CallbackInfo& info) {
  at::Tensor host = host_copy(arg_tensor(info));
  Napi::Env env = info.Env();
  const size_t n = static_cast<size_t>(host.numel());
  switch (host.scalar_type()) {
    case at::kFloat: {
      auto out = Napi::Float32Array::New(env, n);
      std::memcpy(out.Data(), host.data_ptr(), host.nbytes());
      return out;
    }
    case at::kDouble: {
      auto out = Napi::Float64Array::New(env, n);
      std::memcpy(out.Data(), host.data_ptr(), host.nbytes());
      return out;
    }
    default: {  // int64 and any other integral/bool result
      at::Tensor longs = host.to(at::kLong).contiguous();
      auto out = Napi::BigInt64Array::New(env, n);
      std::memcpy(out.Data(), longs.data_ptr(), longs.nbytes());
      return out;
    }
  }
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info);
  if (t.numel() != 1) {
    throw RangeError("item: the tensor must hold exactly one value, it has " + std::to_string(t.numel()));
  }
  if (t.scalar_type() == at::kLong) {  // a number holds integers exactly up to 2^53 only
    const int64_t v = t.item<int64_t>();
    constexpr int64_t kExact = int64_t{1} << 53;
    if (v > kExact || v < -kExact)
      throw RangeError("item: " + std::to_string(v) +
                       " is beyond 2^53, where a number is no longer exact: read it with toArray() (a BigInt64Array)");
    return Napi::Number::New(info.Env(), static_cast<double>(v));
  }
  return Napi::Number::New(info.Env(), t.item<double>());
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  autograd::backward(arg_tensor(info), to_bool(info[1], "retainGraph"));
  return info.Env().Undefined();
}

Napi::Value Detach(const Napi::CallbackInfo& info) { return TensorHandle::Wrap(info.Env(), arg_tensor(info).detach()); }

Napi::Value Clone(const Napi::CallbackInfo& info) {
  return TensorHandle::Wrap(info.Env(), arg_tensor(info).detach().clone());
}

// Used to rebuild tensors that share one storage in a PyTorch file. Every element the view reaches must lie
// inside base.
Napi::Value AsStrided(const Napi::CallbackInfo& info) {
  const at::Tensor& base = arg_tensor(info);
  std::vector<int64_t> sizes = to_shape(info[1], "sizes");
  std::vector<int64_t> strides = to_int_list(info[2], "strides", kSizeRange);  // negative strides refused below too
  int64_t offset = to_int(info[3], "offset", kCountRange);
  if (!base.is_contiguous() || base.dim() != 1) throw RangeError("asStrided: base must be a contiguous 1-D tensor");
  if (strides.size() != sizes.size()) throw RangeError("asStrided: strides and sizes differ in length");
  if (offset < 0) throw RangeError("asStrided: offset must be >= 0");
  int64_t last = offset;  // the furthest element reached (when no size is 0)
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (strides[i] < 0) throw RangeError("asStrided: strides must be >= 0");
    if (sizes[i] == 0)
      empty = true;
    else if (strides[i] > 0 && sizes[i] - 1 > (base.numel() - last) / strides[i])
      last = base.numel();  // no overflow
    else
      last += (sizes[i] - 1) * strides[i];
  }
  if (!empty && last >= base.numel()) throw RangeError("asStrided: the view reaches past the end of its storage");
  return TensorHandle::Wrap(info.Env(), base.as_strided(sizes, strides, offset));
}

Napi::Value To(const Napi::CallbackInfo& info) {
  const at::Tensor& t = arg_tensor(info);
  at::ScalarType dtype = has(info[1]) ? parse_dtype(to_string(info[1], "dtype")) : t.scalar_type();
  at::Device device = has(info[2]) ? parse_device(to_string(info[2], "device")) : t.device();
  return TensorHandle::Wrap(info.Env(), t.to(device, dtype));
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  TensorHandle::Dispose(info[0]);
  return info.Env().Undefined();
}

Napi::Value Sweep(const Napi::CallbackInfo& info) {
  TensorHandle::Sweep(info.Env());
  return info.Env().Undefined();
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  TensorHandle::Sweep(info.Env());  // handles V8 already collected are not live
  TensorHandle::Totals totals = TensorHandle::totals();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("liveTensors", static_cast<double>(totals.live_tensors));
  out.Set("bytes", static_cast<double>(totals.bytes));
  const allocator::Stats stats = allocator::stats();
  Napi::Object a = Napi::Object::New(info.Env());
  a.Set("enabled", allocator::installed());
  a.Set("inUseBytes", static_cast<double>(stats.in_use_bytes));
  a.Set("peakBytes", static_cast<double>(stats.peak_bytes));
  a.Set("cachedBytes", static_cast<double>(stats.cached_bytes));
  a.Set("cachedBlocks", static_cast<double>(stats.cached_blocks));
  a.Set("limitBytes", static_cast<double>(stats.limit_bytes));
  a.Set("hits", static_cast<double>(stats.hits));
  a.Set("misses", static_cast<double>(stats.misses));
  out.Set("allocator", a);
  return out;
}

Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info) {
  allocator::reset_peak();
  return info.Env().Undefined();
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  allocator::empty_cache();
  return info.Env().Undefined();
}

Napi::Value SetCacheLimit(const Napi::CallbackInfo& info) {
  const double bytes = to_double(info[0], "bytes");
  if (!(bytes >= 0) || bytes > 9.0e15)
    throw RangeError("setCacheLimit: bytes must be a number ≥ 0, got " + std::to_string(bytes));
  allocator::set_limit(static_cast<size_t>(bytes));
  return info.Env().Undefined();
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  const int64_t seed = to_int(info[0], "manualSeed: seed", kCountRange);
  runtime::manual_seed(static_cast<uint64_t>(seed));
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  runtime::set_num_threads(static_cast<int>(to_int(info[0], "setNumThreads: n", IntRange{1, runtime::kMaxThreads})));
  return info.Env().Undefined();
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), runtime::num_threads()); }

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  runtime::set_grad_enabled(to_bool(info[0], "enabled"));
  return info.Env().Undefined();
}

Napi::Value GradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), runtime::grad_enabled());
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), runtime::cuda_available());
}

Napi::Value TorchVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), runtime::torch_version());
}

Napi::Value BenchAddLoop(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           micro_bench::add_loop_seconds(to_int(info[0], "iterations", IntRange{0, 1000000000})));
}

}  // namespace

void RegisterTensorApi(Napi::Env env, Napi::Object exports) {
  Export<FromData>(env, exports, "fromData");
  Export<Filled<Fill::Zeros>>(env, exports, "zeros");
  Export<Filled<Fill::Ones>>(env, exports, "ones");
  Export<Filled<Fill::Randn>>(env, exports, "randn");
  Export<Filled<Fill::Rand>>(env, exports, "rand");
  Export<Shape>(env, exports, "shape");
  Export<Dtype>(env, exports, "dtype");
  Export<Device>(env, exports, "device");
  Export<RequiresGrad>(env, exports, "requiresGrad");
  Export<IsLeaf>(env, exports, "isLeaf");
  Export<SetRequiresGrad>(env, exports, "setRequiresGrad");
  Export<Grad>(env, exports, "grad");
  Export<ClearGrad>(env, exports, "clearGrad");
  Export<Assign>(env, exports, "assign");
  Export<ToArray>(env, exports, "toArray");
  Export<Item>(env, exports, "item");
  Export<Backward>(env, exports, "backward");
  Export<Detach>(env, exports, "detach");
  Export<To>(env, exports, "to");
  Export<Clone>(env, exports, "clone");
  Export<AsStrided>(env, exports, "asStrided");
  Export<Dispose>(env, exports, "dispose");
  Export<Memory>(env, exports, "memory");
  Export<Sweep>(env, exports, "sweep");
  Export<EmptyCache>(env, exports, "emptyCache");
  Export<ResetPeakMemory>(env, exports, "resetPeakMemory");
  Export<SetCacheLimit>(env, exports, "setCacheLimit");
  Export<ManualSeed>(env, exports, "manualSeed");
  Export<SetNumThreads>(env, exports, "setNumThreads");
  Export<NumThreads>(env, exports, "numThreads");
  Export<SetGradEnabled>(env, exports, "setGradEnabled");
  Export<GradEnabled>(env, exports, "gradEnabled");
  Export<CudaAvailable>(env, exports, "cudaAvailable");
  Export<TorchVersion>(env, exports, "torchVersion");
  Export<BenchAddLoop>(env, exports, "benchAddLoop");
}

}  // namespace grnewt::addon
