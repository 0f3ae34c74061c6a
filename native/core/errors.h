// Errors the core raises for bad arguments. The N-API layer turns them into JS TypeError / RangeError;
// anything else (c10::Error included) becomes a plain JS Error carrying the native message.
#pragma once
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace grnewt {

// A value of the wrong kind: wrong dtype, device, type of object.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A value of the right kind outside what is allowed: a shape that does not fit, an index out of range.
struct RangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A number for a message, as JS would show it to 6 significant digits (std::to_string prints 1e-12 as
// 0.000000 and infinity as inf).
inline std::string number_text(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", x);
  return buffer;
}

}  // namespace grnewt
