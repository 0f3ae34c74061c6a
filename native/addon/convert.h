// JS values -> C++ values for the exported functions. The TypeScript façade validates arguments with
// friendly messages first; these checks are the last line, so a bad call from plain JS still cannot crash.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grnewt::addon {

double to_double(const Napi::Value& v, const char* what);
int64_t to_int(const Napi::Value& v, const char* what);
bool to_bool(const Napi::Value& v, const char* what);
std::string to_string(const Napi::Value& v, const char* what);
// An array of integers (a shape, a list of dims, a stride...).
std::vector<int64_t> to_int_list(const Napi::Value& v, const char* what);
// A shape: an array of non-negative integers.
std::vector<int64_t> to_shape(const Napi::Value& v, const char* what);
Napi::Array from_int_list(Napi::Env env, const std::vector<int64_t>& values);

}  // namespace grnewt::addon
