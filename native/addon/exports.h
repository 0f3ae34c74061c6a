// How each part of the addon adds its functions to the module's exports. Each export is declared and
// documented once, in lib/core/native.ts (NativeAddon: arguments, result, sync/async, errors);
// test/native_declaration.test.ts checks that the two list the same names.
#pragma once
#include <napi.h>

#include "addon/js_errors.h"

namespace grnewt::addon {

template <Callback F>
void Export(Napi::Env env, Napi::Object exports, const char* name, void* data = nullptr) {
  exports.Set(name, Napi::Function::New(env, guarded<F>, name, data));
}

void RegisterTensorApi(Napi::Env env, Napi::Object exports);
void RegisterOpsApi(Napi::Env env, Napi::Object exports);
void RegisterSummariesApi(Napi::Env env, Napi::Object exports);
void RegisterOptimApi(Napi::Env env, Napi::Object exports);
void RegisterAsyncApi(Napi::Env env, Napi::Object exports);
void RegisterDistributedApi(Napi::Env env, Napi::Object exports);

}  // namespace grnewt::addon
