// Per-environment state: the addon is context-aware, so each worker thread gets its own.
#pragma once
#include <napi.h>

#include <cstdint>
#include <vector>

namespace grnewt::addon {

class TensorHandle;

struct AddonData {
  // Native bytes allocated (or, negative, freed) and not yet reported to this environment's V8 heap.
  int64_t unreported_bytes = 0;
  // Every handle of this environment whose tensor is still held (see TensorHandle::Sweep).
  std::vector<TensorHandle*> live;
  // Handles made since the last sweep, and the live count after it: the next sweep comes when as many new
  // handles as survived the last one have been made, so sweeping costs O(1) per handle, amortised.
  int64_t made_since_sweep = 0;
  int64_t live_after_sweep = 0;

  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
  ~AddonData();  // frees the handles still listed (tensor_handle.cpp)
};

}  // namespace grnewt::addon
