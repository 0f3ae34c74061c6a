// Module entry point. Context-aware: every environment (main thread, each worker thread) gets its own
// exports and AddonData, while libtorch itself is loaded once per process.
#include <napi.h>

#include "addon/addon_data.h"
#include "addon/exports.h"
#include "core/caching_allocator.h"

namespace grnewt::addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  allocator::install();
  env.SetInstanceData(new AddonData());
  RegisterTensorApi(env, exports);
  RegisterOpsApi(env, exports);
  RegisterSummariesApi(env, exports);
  RegisterOptimApi(env, exports);
  RegisterAsyncApi(env, exports);
  RegisterDistributedApi(env, exports);
  return exports;
}

}  // namespace grnewt::addon

static Napi::Object InitGrnewt(Napi::Env env, Napi::Object exports) { return grnewt::addon::Init(env, exports); }

NODE_API_MODULE(grnewt, InitGrnewt)
