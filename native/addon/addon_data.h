// Per-environment state: the addon is context-aware, so each worker thread gets its own.
#pragma once
#include <napi.h>

namespace grnewt::addon {

struct AddonData {
  Napi::FunctionReference tensor_constructor;

  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace grnewt::addon
