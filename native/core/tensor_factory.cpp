#include "core/tensor_factory.h"

#include <algorithm>
#include <cstring>

#include "core/errors.h"

namespace grnewt {

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "int64") return at::kLong;
  throw TypeError("dtype must be 'float32', 'float64' or 'int64', got '" + name + "'");
}

std::string dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kLong:
      return "int64";
    case at::kInt:
      return "int32";
    case at::kBool:
      return "bool";
    default:
      return c10::toString(type);
  }
}

at::Device parse_device(const std::string& name) {
  if (name != "cpu" && name.rfind("cuda", 0) != 0) {
    throw TypeError("device must be 'cpu' or 'cuda', got '" + name + "'");
  }
  at::Device device(name);  // validates 'cuda:N'
  if (device.is_cuda() && !at::hasCUDA()) {
    throw TypeError("device '" + name + "' asked for, but this build of grnewt/libtorch has no CUDA");
  }
  return device;
}

std::string device_name(const at::Device& device) {
  return device.is_cuda() && device.index() > 0 ? device.str() : c10::DeviceTypeName(device.type(), true);
}

at::Tensor from_host(const void* data, at::ScalarType source, at::IntArrayRef shape, at::ScalarType dtype,
                     const at::Device& device, bool requires_grad) {
  at::Tensor staged = at::empty(shape, at::TensorOptions().dtype(source));
  std::memcpy(staged.data_ptr(), data, staged.nbytes());
  at::Tensor t = staged.to(device, dtype);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

at::Tensor filled(Fill fill, at::IntArrayRef shape, at::ScalarType dtype, const at::Device& device,
                  bool requires_grad) {
  auto options = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor t;
  switch (fill) {
    case Fill::Zeros:
      t = at::zeros(shape, options);
      break;
    case Fill::Ones:
      t = at::ones(shape, options);
      break;
    case Fill::Randn:
    case Fill::Rand:
      if (!at::isFloatingType(dtype)) throw TypeError("random tensors need a floating dtype, got " + dtype_name(dtype));
      t = fill == Fill::Randn ? at::randn(shape, options) : at::rand(shape, options);
      break;
  }
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

std::vector<at::Tensor> index_tensors(const std::vector<const std::vector<int64_t>*>& lists, const at::Device& device) {
  int64_t total = 0;
  for (const auto* list : lists) total += static_cast<int64_t>(list->size());
  at::TensorOptions host_options = at::TensorOptions(at::kLong);
  if (!device.is_cpu()) host_options = host_options.pinned_memory(true);
  at::Tensor host = at::empty({total}, host_options);
  int64_t* out = host.data_ptr<int64_t>();
  for (const auto* list : lists) out = std::copy(list->begin(), list->end(), out);
  const at::Tensor all = device.is_cpu() ? host : host.to(device, /*non_blocking=*/true);
  std::vector<at::Tensor> views;
  int64_t offset = 0;
  for (const auto* list : lists) {
    const int64_t n = static_cast<int64_t>(list->size());
    views.push_back(all.narrow(0, offset, n));
    offset += n;
  }
  return views;
}

at::Tensor host_copy(const at::Tensor& t) { return t.detach().to(at::kCPU).contiguous(); }

}  // namespace grnewt
