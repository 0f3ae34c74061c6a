// Errors the core raises for bad arguments. The N-API layer turns them into JS TypeError / RangeError;
// anything else (c10::Error included) becomes a plain JS Error carrying the native message.
#pragma once
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

}  // namespace grnewt
