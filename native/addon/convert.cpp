#include "addon/convert.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace grnewt::addon {

namespace {
[[noreturn]] void type_error(const Napi::Value& v, const char* what, const char* expected) {
  throw Napi::TypeError::New(v.Env(), std::string(what) + " must be " + expected);
}
}  // namespace

double to_double(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) type_error(v, what, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t to_int(const Napi::Value& v, const char* what, IntRange range) {
  double d = to_double(v, what);
  // Compared as doubles first: casting an out-of-range double to int64_t is undefined behaviour.
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(range.min) ||
      d > static_cast<double>(range.max)) {
    std::ostringstream message;
    message << what << " must be an integer in " << range.min << ".." << range.max << ", got " << std::setprecision(17)
            << d;
    throw Napi::RangeError::New(v.Env(), message.str());
  }
  return static_cast<int64_t>(d);
}

bool to_bool(const Napi::Value& v, const char* what) {
  if (!v.IsBoolean()) type_error(v, what, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string to_string(const Napi::Value& v, const char* what) {
  if (!v.IsString()) type_error(v, what, "a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> to_int_list(const Napi::Value& v, const char* what, IntRange range) {
  if (!v.IsArray()) type_error(v, what, "an array of integers");
  Napi::Array array = v.As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) out[i] = to_int(array.Get(i), what, range);
  return out;
}

std::vector<int64_t> to_shape(const Napi::Value& v, const char* what) { return to_int_list(v, what, kSizeRange); }

Napi::Array from_int_list(Napi::Env env, const std::vector<int64_t>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); ++i) array.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
  return array;
}

}  // namespace grnewt::addon
