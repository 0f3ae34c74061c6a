// Creating tensors from host memory and names, and copying them back. No Node here.
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace grnewt {

// The dtypes the public API speaks of: 'float32' | 'float64' | 'int64'.
at::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(at::ScalarType type);

// 'cpu', 'cuda' or 'cuda:N'.
at::Device parse_device(const std::string& name);
std::string device_name(const at::Device& device);

// Copies `numel(shape)` elements of type `source` from `data` into a new tensor of `dtype` on `device`.
at::Tensor from_host(const void* data, at::ScalarType source, at::IntArrayRef shape, at::ScalarType dtype,
                     const at::Device& device, bool requires_grad);

enum class Fill { Zeros, Ones, Randn, Rand };  // Rand: uniform on [0, 1)
at::Tensor filled(Fill fill, at::IntArrayRef shape, at::ScalarType dtype, const at::Device& device, bool requires_grad);

// A contiguous CPU copy of `t` (detached), ready to be copied into host memory.
at::Tensor host_copy(const at::Tensor& t);

}  // namespace grnewt
