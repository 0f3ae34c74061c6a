// The summaries as the JS object { H, g, order3 } that every route returns.
#pragma once
#include <napi.h>

#include "addon/tensor_handle.h"
#include "core/summaries.h"

namespace grnewt::addon {

inline Napi::Object hg_to_js(Napi::Env env, summaries::Hg hg) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("H", TensorHandle::Wrap(env, std::move(hg.H)));
  out.Set("g", TensorHandle::Wrap(env, std::move(hg.g)));
  out.Set("order3", TensorHandle::Wrap(env, std::move(hg.order3)));
  return out;
}

}  // namespace grnewt::addon
