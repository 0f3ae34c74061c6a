// The summaries across the JS boundary: their options (noregul, diagonal) in, and the JS object
// { H, g, order3 } that every route returns (plus `loss`, the loss's value, from the Taylor route) out.
#pragma once
#include <napi.h>

#include "addon/convert.h"
#include "addon/js_options.h"
#include "addon/tensor_handle.h"
#include "method/summaries.h"

namespace grnewt::addon {

// computeHg's positional (noregul, diagonal).
inline summaries::Options hg_options_from_js(const Napi::Value& noregul, const Napi::Value& diagonal) {
  summaries::Options options;
  options.noregul = to_bool(noregul, "noregul");
  options.diagonal = to_bool(diagonal, "diagonal");
  return options;
}

// The Taylor route's options object { noregul, diagonal, ... }.
inline summaries::Options hg_options_from_js(const JsOptions& js) {
  summaries::Options options;
  options.noregul = js.boolean("noregul");
  options.diagonal = js.boolean("diagonal");
  return options;
}

inline Napi::Object hg_to_js(Napi::Env env, summaries::Hg hg, at::Tensor loss = {}) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("H", TensorHandle::Wrap(env, std::move(hg.H)));
  out.Set("g", TensorHandle::Wrap(env, std::move(hg.g)));
  out.Set("order3", TensorHandle::Wrap(env, std::move(hg.order3)));
  if (loss.defined()) out.Set("loss", TensorHandle::Wrap(env, std::move(loss)));
  return out;
}

}  // namespace grnewt::addon
