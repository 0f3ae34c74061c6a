// Creating tensors from host memory and names, and copying them back. No Node here.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

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

// Small host lists of indices as int64 tensors on `device`, one per list, in a single transfer. On a GPU the
// copy is queued from pinned memory without waiting for the device (ATen's pinned-memory cache keeps the
// staging buffer until the copy has run), so the caller's host code and the queued kernels go on overlapping.
std::vector<at::Tensor> index_tensors(const std::vector<const std::vector<int64_t>*>& lists, const at::Device& device);

// A contiguous CPU copy of `t` (detached), ready to be copied into host memory.
at::Tensor host_copy(const at::Tensor& t);

}  // namespace grnewt
