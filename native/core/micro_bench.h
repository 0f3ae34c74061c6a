// The C++ side of `npm run bench`'s N-API overhead ratio: the same tiny-op loop the JS side runs.
#pragma once
#include <cstdint>

namespace grnewt::micro_bench {

// Seconds taken by `iterations` additions of two 4-element float32 tensors (each result kept, then dropped).
double add_loop_seconds(int64_t iterations);

}  // namespace grnewt::micro_bench
