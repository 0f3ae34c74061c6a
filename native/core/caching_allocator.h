// A caching CPU allocator for libtorch's tensors. Large blocks are fresh pages from the kernel each time
// with the default allocator, and faulting them in dominates a step on machines where page faults are slow
// (measured on this project's VMs: LeNet forward+backward 480 ms → 71 ms when blocks are reused). Freed
// blocks of 128 KiB and more are kept, by size class (8 per power of two), up to a limit (the least recently
// freed go first), and handed out again; smaller blocks go to malloc as before. Only tensor memory is
// affected, not the rest of the process.
#pragma once
#include <cstddef>

namespace grnewt::allocator {

// Makes it libtorch's CPU allocator, once per process. GRNEWT_CPU_CACHE=0 in the environment leaves libtorch's
// own allocator in place; GRNEWT_CPU_CACHE_LIMIT_MB sets the initial limit (default: a quarter of the RAM).
void install();
bool installed();

struct Stats {
  size_t in_use_bytes = 0, peak_bytes = 0;  // tensor memory handed out (large blocks by size class), now and at most
  size_t cached_bytes = 0, cached_blocks = 0, limit_bytes = 0;
  size_t hits = 0, misses = 0;  // large allocations served from the cache / by the system
};
Stats stats();
// Starts a new peak from the memory in use now.
void reset_peak();

// Frees every cached block (tensors in use are not affected).
void empty_cache();
// The most bytes kept cached; lowering it frees blocks at once. 0 disables caching.
void set_limit(size_t bytes);

}  // namespace grnewt::allocator
