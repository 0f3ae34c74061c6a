// JS values -> C++ values for the exported functions. The TypeScript façade validates arguments with
// friendly messages first; these checks are the last line, so a bad call from plain JS still cannot crash.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grnewt::addon {

// The inclusive range an integer argument must lie in. Every integer read from JS names one: libtorch keeps
// many op arguments (groups, strides, kernel sizes...) in 32-bit ints internally, and a value it truncates
// (2**32 groups become 0) can crash it, so no integer reaches it unchecked.
struct IntRange {
  int64_t min, max;
};
constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2**53 - 1: the largest integer a JS number holds exactly
constexpr int64_t kMaxInt32 = 2147483647;
constexpr IntRange kDimRange{-kMaxInt32, kMaxInt32};    // a dimension index (libtorch wraps and checks it)
constexpr IntRange kWindowRange{1, kMaxInt32};          // kernel sizes, strides, dilations, groups
constexpr IntRange kPaddingRange{0, kMaxInt32};         // paddings
constexpr IntRange kSizeRange{0, kMaxSafeInteger};      // a tensor size (its product is checked by libtorch)
constexpr IntRange kReshapeRange{-1, kMaxSafeInteger};  // a size, or -1 (inferred)
constexpr IntRange kCountRange{0, kMaxSafeInteger};     // seeds, step counters
constexpr IntRange kIndexRange{-kMaxSafeInteger, kMaxSafeInteger};  // a position along a dim (negative: from its end)

double to_double(const Napi::Value& v, const char* what);
int64_t to_int(const Napi::Value& v, const char* what, IntRange range);
bool to_bool(const Napi::Value& v, const char* what);
std::string to_string(const Napi::Value& v, const char* what);
// An array of integers (a list of dims, a stride...), each in `range`.
std::vector<int64_t> to_int_list(const Napi::Value& v, const char* what, IntRange range);
// A shape: an array of sizes in kSizeRange.
std::vector<int64_t> to_shape(const Napi::Value& v, const char* what);
Napi::Array from_int_list(Napi::Env env, const std::vector<int64_t>& values);

}  // namespace grnewt::addon
