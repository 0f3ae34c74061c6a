#include "addon/js_errors.h"

#include <c10/util/Exception.h>

#include <regex>
#include <string>
#include <utility>

#include "core/errors.h"

namespace grnewt::addon {

namespace {

// libtorch's messages are written for Python users (retain_graph=True, torch.autograd.*, scalar type
// Float). These rewrites say the same in the terms of grnewt's JS API; the rest passes unchanged.
std::string in_js_terms(std::string message) {
  static const std::pair<std::regex, const char*> rewrites[] = {
      {std::regex(
           R"(Trying to backward through the graph a second time \(or directly access saved tensors after they have already been freed\)\. Saved intermediate values of the graph are freed when you call \.backward\(\) or autograd\.grad\(\)\. Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward\.)"),
       "backward: this graph was already backpropagated through, and backward() freed the values it saved. "
       "Pass { retainGraph: true } to the earlier backward() to go through the same graph again, or compute the "
       "loss again."},
      {std::regex(
           R"( Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch\.autograd\.set_detect_anomaly\(True\)\.)"),
       " A tensor the graph saved was changed in place after the forward pass (an optimizer step, loadStateDict or "
       "load into a parameter): compute the loss again after changing parameters."},
  };
  for (const auto& [pattern, replacement] : rewrites) message = std::regex_replace(message, pattern, replacement);
  // "expected scalar type Float but found Double" -> "expected dtype float32 but found float64"
  static const std::pair<std::regex, const char*> dtypes[] = {
      {std::regex(R"(scalar type Float\b)"), "dtype float32"}, {std::regex(R"(scalar type Double\b)"), "dtype float64"},
      {std::regex(R"(scalar type Long\b)"), "dtype int64"},    {std::regex(R"(found Float\b)"), "found float32"},
      {std::regex(R"(found Double\b)"), "found float64"},      {std::regex(R"(found Long\b)"), "found int64"},
  };
  for (const auto& [pattern, replacement] : dtypes) message = std::regex_replace(message, pattern, replacement);
  // "[CPUFloatType [2]] is at version 1" -> "a float32 tensor of shape [2] is at version 1"
  static const std::pair<std::regex, const char*> tensor_types[] = {
      {std::regex(R"(\[(?:CPU|CUDA)FloatType \[([^\]]*)\]\])"), "a float32 tensor of shape [$1]"},
      {std::regex(R"(\[(?:CPU|CUDA)DoubleType \[([^\]]*)\]\])"), "a float64 tensor of shape [$1]"},
      {std::regex(R"(\[(?:CPU|CUDA)LongType \[([^\]]*)\]\])"), "an int64 tensor of shape [$1]"},
  };
  for (const auto& [pattern, replacement] : tensor_types) message = std::regex_replace(message, pattern, replacement);
  return message;
}

}  // namespace

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
    Napi::TypeError::New(env, in_js_terms(e.what_without_backtrace())).ThrowAsJavaScriptException();
  } catch (const c10::IndexError& e) {
    Napi::RangeError::New(env, in_js_terms(e.what_without_backtrace())).ThrowAsJavaScriptException();
  } catch (const c10::Error& e) {
    Napi::Error::New(env, in_js_terms(e.what_without_backtrace())).ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    Napi::RangeError::New(env, "out of memory").ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  } catch (...) {
    Napi::Error::New(env, "unknown native error").ThrowAsJavaScriptException();
  }
}

}  // namespace grnewt::addon
