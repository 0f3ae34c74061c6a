// Per-environment state: the addon is context-aware, so each worker thread gets its own.
#pragma once
#include <napi.h>

#include <cstdint>

namespace grnewt::addon {

struct AddonData {
  // Native bytes allocated (or, negative, freed) and not yet reported to this environment's V8 heap.
  int64_t unreported_bytes = 0;

  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace grnewt::addon
