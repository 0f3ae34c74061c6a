#include "addon/js_options.h"

namespace grnewt::addon {

namespace {

// What a JS value is, for "must be a number, got a string".
const char* kind_of(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "a boolean";
    case napi_number:
      return "a number";
    case napi_string:
      return "a string";
    case napi_symbol:
      return "a symbol";
    case napi_function:
      return "a function";
    case napi_bigint:
      return "a bigint";
    default:
      return v.IsArray() ? "an array" : "an object";
  }
}

}  // namespace

JsOptions::JsOptions(const Napi::Value& value, const char* call) : call_(call) {
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) {
    throw Napi::TypeError::New(value.Env(), std::string(call) + ": options must be an object, got " + kind_of(value));
  }
  object_ = value.As<Napi::Object>();
}

std::string JsOptions::name(const char* key) const { return std::string(call_) + ": options." + key; }

Napi::Value JsOptions::required(const char* key, const char* expected) const {
  Napi::Value v = object_.Get(key);
  if (v.IsUndefined()) throw Napi::TypeError::New(v.Env(), name(key) + " is missing (" + expected + ")");
  return v;
}

void JsOptions::wrong_type(const char* key, const Napi::Value& value, const char* expected) const {
  throw Napi::TypeError::New(value.Env(), name(key) + " must be " + expected + ", got " + kind_of(value));
}

double JsOptions::number(const char* key) const {
  Napi::Value v = required(key, "a number");
  if (!v.IsNumber()) wrong_type(key, v, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t JsOptions::integer(const char* key, IntRange range) const {
  Napi::Value v = required(key, "an integer");
  if (!v.IsNumber()) wrong_type(key, v, "an integer");
  return to_int(v, name(key).c_str(), range);
}

bool JsOptions::boolean(const char* key) const {
  Napi::Value v = required(key, "a boolean");
  if (!v.IsBoolean()) wrong_type(key, v, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string JsOptions::string(const char* key) const {
  Napi::Value v = required(key, "a string");
  if (!v.IsString()) wrong_type(key, v, "a string");
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace grnewt::addon
