// An options object from JS, read by key: the exports whose settings are more than three scalars take them
// this way (adamStep(param, m, v, { step, lr, beta1, beta2, eps, weightDecay })), so a call says what each
// number is. Every key is required: an absent or mistyped key is a TypeError naming it, so a misspelt key
// cannot fall back to a default unnoticed; integer keys keep convert.h's range checks (RangeError).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "addon/convert.h"

namespace grnewt::addon {

class JsOptions {
 public:
  // `call` names the export in messages ("adamStep: options.step is missing (an integer)").
  JsOptions(const Napi::Value& value, const char* call);

  double number(const char* key) const;
  int64_t integer(const char* key, IntRange range) const;
  bool boolean(const char* key) const;
  std::string string(const char* key) const;
  // The key as messages name it: "adamStep: options.step".
  std::string name(const char* key) const;

 private:
  // The key's value; TypeError if it is absent (undefined).
  Napi::Value required(const char* key, const char* expected) const;
  [[noreturn]] void wrong_type(const char* key, const Napi::Value& value, const char* expected) const;

  Napi::Object object_;
  const char* call_;
};

}  // namespace grnewt::addon
