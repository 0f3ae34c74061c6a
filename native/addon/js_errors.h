// C++ exceptions never cross into JS: every exported function runs inside `guarded`, which turns
//   grnewt::TypeError / c10::TypeError        -> TypeError
//   grnewt::RangeError / c10::IndexError      -> RangeError
//   c10::Error, std::exception, anything else -> Error (with the native message, no C++ backtrace)
// libtorch's messages are rewritten where they speak Python (retain_graph=True -> { retainGraph: true }).
#pragma once
#include <napi.h>

namespace grnewt::addon {

// Call from inside a catch block: rethrows the current exception as a pending JS exception.
void throw_current_as_js(Napi::Env env);

using Callback = Napi::Value (*)(const Napi::CallbackInfo&);

template <Callback F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (...) {
    try {
      throw_current_as_js(info.Env());
    } catch (...) {
      // Making the JS error failed: the environment is being torn down, and there is no one to tell.
    }
    return Napi::Value();
  }
}

}  // namespace grnewt::addon
