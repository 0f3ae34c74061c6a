#include "addon/js_errors.h"

#include <c10/util/Exception.h>

#include "core/errors.h"

namespace grnewt::addon {

void throw_current_as_js(Napi::Env env) {
  try {
    throw;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();  // already a JS error (e.g. from a failed N-API call)
  } catch (const grnewt::TypeError& e) {
    Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
  } catch (const grnewt::RangeError& e) {
    Napi::RangeError::New(env, e.what()).ThrowAsJavaScriptException();
  } catch (const c10::TypeError& e) {
    Napi::TypeError::New(env, e.what_without_backtrace()).ThrowAsJavaScriptException();
  } catch (const c10::IndexError& e) {
    Napi::RangeError::New(env, e.what_without_backtrace()).ThrowAsJavaScriptException();
  } catch (const c10::Error& e) {
    Napi::Error::New(env, e.what_without_backtrace()).ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    Napi::RangeError::New(env, "out of memory").ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  } catch (...) {
    Napi::Error::New(env, "unknown native error").ThrowAsJavaScriptException();
  }
}

}  // namespace grnewt::addon
