#include "core/caching_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/errors.h"

namespace grnewt::allocator {

namespace {

constexpr size_t kMinCached = size_t{128} << 10;

// The largest single tensor allocation: half the physical memory, or GRNEWT_MAX_TENSOR_MB. Linux grants
// larger requests lazily and the OOM killer ends the process once they are filled, so an integer setting
// that asks for a huge output (a padding of 2**31 - 1) is refused here with an error instead.
std::atomic<size_t> g_max_allocation{~size_t{0}};

void check_size(size_t n) {
  const size_t max = g_max_allocation.load();
  if (n > max) {
    throw RangeError("a tensor of " + std::to_string(n) + " bytes was asked for, more than the " + std::to_string(max) +
                     " bytes one tensor may take here (half the memory, or GRNEWT_MAX_TENSOR_MB)");
  }
}

// 8 size classes per power of two: at most 12.5 % of a block is unused.
size_t size_class(size_t n) {
  size_t power = 1;
  while (power * 2 <= n) power *= 2;
  const size_t step = power / 8;
  return (n + step - 1) / step * step;
}

// Immortal (never destroyed): tensors may be freed during process teardown, after static destructors ran.
// The data pointer is the deleter's context (mkldnn frees through raw_deleter, which requires that), so the
// size of each block in use is looked up by its address (which also gives exact in-use and peak bytes).
class Cache {
 public:
  void* allocate(size_t n) {
    check_size(n);
    if (n < kMinCached) {
      void* p = c10::alloc_cpu(n);
      std::lock_guard<std::mutex> lock(mutex_);
      in_use_[p] = n;
      grow(n);
      return p;
    }
    const size_t size = size_class(n);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        const auto entry = it->second.back();  // the most recently freed block of this size
        it->second.pop_back();
        void* p = entry->ptr;
        age_.erase(entry);
        stats_.cached_bytes -= size;
        --stats_.cached_blocks;
        ++stats_.hits;
        in_use_[p] = size;
        grow(size);
        return p;
      }
      ++stats_.misses;
    }
    void* p = c10::alloc_cpu(size);
    std::lock_guard<std::mutex> lock(mutex_);
    in_use_[p] = size;
    grow(size);
    return p;
  }

  // A freed large block is cached; the least recently freed ones make room for it when over the limit
  // (blocks of sizes a finished workload used would otherwise hold the cache forever).
  void deallocate(void* p) {
    if (!p) return;
    std::vector<void*> dropped;
    bool cached = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = in_use_.find(p);
      if (it != in_use_.end()) {
        const size_t size = it->second;
        in_use_.erase(it);
        stats_.in_use_bytes -= size;
        if (size >= kMinCached && size <= stats_.limit_bytes) {
          evict_until(stats_.limit_bytes - size, dropped);
          free_[size].push_back(age_.insert(age_.end(), Entry{p, size}));
          stats_.cached_bytes += size;
          ++stats_.cached_blocks;
          cached = true;
        }
      }
    }
    for (void* q : dropped) c10::free_cpu(q);
    if (!cached) c10::free_cpu(p);
  }

  void set_limit(size_t bytes) { trim(bytes, true); }
  void empty() { trim(0, false); }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes = stats_.in_use_bytes;
  }

 private:
  struct Entry {
    void* ptr;
    size_t size;
  };
  using Age = std::list<Entry>;  // cached blocks, least recently freed first

  // Frees the least recently freed blocks until at most `bytes` stay cached (and makes it the limit).
  void trim(size_t bytes, bool new_limit) {
    std::vector<void*> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (new_limit) stats_.limit_bytes = bytes;
      evict_until(bytes, dropped);
    }
    for (void* p : dropped) c10::free_cpu(p);
  }

  // With mutex_ held: drops the least recently freed blocks until at most `bytes` stay cached.
  void evict_until(size_t bytes, std::vector<void*>& dropped) {
    while (stats_.cached_bytes > bytes && !age_.empty()) {
      const Entry e = age_.front();
      auto& same = free_[e.size];
      same.erase(std::find(same.begin(), same.end(), age_.begin()));
      age_.pop_front();
      dropped.push_back(e.ptr);
      stats_.cached_bytes -= e.size;
      --stats_.cached_blocks;
    }
  }

  void grow(size_t size) {  // with mutex_ held
    stats_.in_use_bytes += size;
    if (stats_.in_use_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.in_use_bytes;
  }

  std::mutex mutex_;
  Age age_;
  std::unordered_map<size_t, std::vector<Age::iterator>> free_;  // cached blocks by size class
  std::unordered_map<void*, size_t> in_use_;                     // blocks handed out, and their size (class)
  Stats stats_;
};

Cache& cache() {
  static Cache* instance = new Cache();
  return *instance;
}

void deallocate(void* p) { cache().deallocate(p); }

// Written to compile against libtorch 1.13 and 2.x alike, hence no `override` on the members whose
// signatures changed: `allocate` is const in 1.13 and non-const in recent 2.x, where `copy_data` is also pure
// virtual. Whichever the base declares is overridden; the other is an unused overload.
class CachingCPUAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const {  // NOLINT(modernize-use-override)
    void* p = cache().allocate(n);
    return {p, p, &deallocate, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DataPtr allocate(size_t n) { return static_cast<const CachingCPUAllocator*>(this)->allocate(n); }   // NOLINT
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }  // NOLINT
  c10::DeleterFnPtr raw_deleter() const override { return &deallocate; }
};

bool g_installed = false;

// A quarter of the physical memory (1 GiB if it cannot be read).
size_t default_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : size_t{1} << 30;
}

// MiB from the environment as bytes, or `fallback` when unset, empty or not a whole number (the façade refuses
// a bad value before loading the addon: lib/core/environment.ts).
size_t mib_from_env(const char* name, size_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long mib = std::strtoull(text, &end, 10);
  return *end == '\0' ? static_cast<size_t>(mib) << 20 : fallback;
}

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* enabled = std::getenv("GRNEWT_CPU_CACHE");
    if (enabled && std::string(enabled) == "0") return;
    g_max_allocation = mib_from_env("GRNEWT_MAX_TENSOR_MB", default_limit() * 2);
    cache().set_limit(mib_from_env("GRNEWT_CPU_CACHE_LIMIT_MB", default_limit()));
    static CachingCPUAllocator* allocator = new CachingCPUAllocator();
    c10::SetCPUAllocator(allocator, /*priority=*/1);
    g_installed = true;
  });
}

bool installed() { return g_installed; }

Stats stats() { return cache().stats(); }

void empty_cache() { cache().empty(); }

void set_limit(size_t bytes) { cache().set_limit(bytes); }

void reset_peak() { cache().reset_peak(); }

}  // namespace grnewt::allocator
