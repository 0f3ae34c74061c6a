// Data-parallel collectives over libtorch's own distributed engine (c10d): a TCPStore rendezvous, then a
// Gloo process group (CPU tensors) or, in CUDA builds of libtorch, an NCCL one. No Node here: the N-API layer
// (native/addon/distributed_api.cpp) starts collectives on the JS thread and waits for them on a pool thread.
//
// Ordering: every rank must issue the same collectives in the same order. Starting one (all_reduce,
// broadcast...) only enqueues it on the backend's own ordered queue and returns at once, so the order is the
// order of the calls on the starting thread, whatever thread later waits.
//
// Failures: a peer that died ("Connection closed by peer") or stopped answering (the group's timeout) makes
// the waiting collective throw a grnewt::distributed::Error naming this rank, the operation and the cause.
// After that the group is broken (c10d cannot recover one): every later call throws at once, saying why.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace grnewt::distributed {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string backend = "gloo";  // 'gloo' | 'nccl' (CUDA builds only)
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::chrono::milliseconds timeout{60000};  // rendezvous and every collective
  int64_t local_rank = -1;                   // NCCL: the GPU this process uses (-1: rank % device count)
};

enum class ReduceOp { Sum, Mean, Max, Min };
ReduceOp reduce_op_from_name(const std::string& name);  // grnewt::RangeError for an unknown name

// True when this libtorch was built with c10d and grnewt found what it needs (Gloo's headers), so `create`
// can work; false builds say why in `create`'s error.
bool gloo_available();
bool nccl_available();

class Group;

// A started collective. wait() blocks until it completes (on any thread), then writes the results back
// into the caller's tensors (a flattened reduction, a mean's division) and returns the gathered tensor, if
// any. It throws Error on failure, and breaks the group.
class Pending {
 public:
  Pending() = default;
  at::Tensor wait();

 private:
  friend class Group;
  std::shared_ptr<Group> group_;
  std::string what_;
  std::function<void()> wait_work_;  // blocks on the backend's work object
  std::function<at::Tensor()> finish_;
};

class Group : public std::enable_shared_from_this<Group> {
 public:
  // Rendezvous at master_addr:master_port (rank 0 hosts the store) and connect every pair of ranks.
  // Blocks until all world_size ranks joined, or throws Error after the timeout.
  static std::shared_ptr<Group> create(const Options& options);
  ~Group();

  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_size_; }
  const std::string& backend() const { return backend_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // The first failure's message, or "" while the group works.
  std::string broken_reason() const;

  // In place on every tensor (one flattened collective when there are several, as DDP's buckets).
  Pending all_reduce(const std::vector<at::Tensor>& tensors, ReduceOp op);
  // Rank src's values into every rank's tensors (one flattened collective when there are several).
  Pending broadcast(const std::vector<at::Tensor>& tensors, int64_t src);
  // Every rank's tensor, stacked: [world_size, ...t.shape].
  Pending all_gather(const at::Tensor& tensor);
  Pending barrier();

  struct Backend;  // the c10d process group behind it (Gloo or NCCL)

 private:
  friend class Pending;
  Group() = default;
  Pending start(std::string what, std::function<void()> wait_work, std::function<at::Tensor()> finish);
  void check_usable(const std::string& what) const;
  void fail(const std::string& what, const std::string& cause);

  std::unique_ptr<Backend> backend_impl_;
  int64_t rank_ = 0, world_size_ = 1;
  std::string backend_;
  std::chrono::milliseconds timeout_{60000};
  mutable std::mutex mutex_;
  std::string broken_;
};

}  // namespace grnewt::distributed
