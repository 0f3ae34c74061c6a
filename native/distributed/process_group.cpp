#include "distributed/process_group.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <regex>
#include <thread>
#include <type_traits>
#include <utility>

#include "core/errors.h"

// libtorch's CMake target defines USE_C10D_GLOO when it was built with Gloo; CMakeLists.txt adds
// GRNEWT_WITH_GLOO once it has also found Gloo's headers (Debian: libgloo-dev), which ProcessGroupGloo.hpp needs.
#if defined(USE_C10D_GLOO) && defined(GRNEWT_WITH_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define GRNEWT_HAS_GLOO 1
#endif
// NCCL: in CUDA builds of libtorch built with it, once CMakeLists.txt has found nccl.h (pip wheels keep it in
// the nvidia-nccl package, not in torch's include folder).
#if defined(USE_C10D_NCCL) && defined(GRNEWT_WITH_CUDA) && defined(GRNEWT_WITH_NCCL)
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define GRNEWT_HAS_NCCL 1
#endif
#if defined(GRNEWT_HAS_GLOO) || defined(GRNEWT_HAS_NCCL)
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace grnewt::distributed {

bool gloo_available() {
#ifdef GRNEWT_HAS_GLOO
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef GRNEWT_HAS_NCCL
  return true;
#else
  return false;
#endif
}

ReduceOp reduce_op_from_name(const std::string& name) {
  if (name == "sum") return ReduceOp::Sum;
  if (name == "mean") return ReduceOp::Mean;
  if (name == "max") return ReduceOp::Max;
  if (name == "min") return ReduceOp::Min;
  throw RangeError("op must be one of sum, mean, max, min, got \"" + name + "\"");
}

namespace {

// "[/build/.../gloo/transport/tcp/pair.cc:598] Connection closed by peer [127.0.0.1]:40417" -> the sentence.
std::string cause_of(std::exception_ptr error) {
  std::string message;
  try {
    std::rethrow_exception(std::move(error));
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown error";
  }
  static const std::regex source_location(R"(\[[^\]\s]*\.(?:cc|cpp|h|hpp):\d+\]\s*)");
  message = std::regex_replace(message, source_location, "");
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace

#if defined(GRNEWT_HAS_GLOO) || defined(GRNEWT_HAS_NCCL)
// The c10d group, whichever class it is (libtorch 1.13: a ProcessGroup; 2.x: a Backend, same calls).
struct Group::Backend {
  virtual ~Backend() = default;
  virtual c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& out,
                                                   std::vector<at::Tensor>& in) = 0;
  virtual c10::intrusive_ptr<c10d::Work> barrier() = 0;
};

namespace {

// libtorch 2.x's ProcessGroupNCCL asks to be shut down before it is freed (else it warns that
// destroy_process_group() was not called); 1.13's groups have no shutdown().
template <class PG, class = void>
struct HasShutdown : std::false_type {};
template <class PG>
struct HasShutdown<PG, std::void_t<decltype(std::declval<PG&>().shutdown())>> : std::true_type {};

template <class PG>
struct BackendOf : Group::Backend {
  explicit BackendOf(c10::intrusive_ptr<PG> pg) : pg(std::move(pg)) {}
  ~BackendOf() override {
    if constexpr (HasShutdown<PG>::value) {
      try {
        pg->shutdown();
      } catch (...) {  // a backend without its own shutdown() throws: freeing it is all there is to do
      }
    }
  }
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) override {
    return pg->allreduce(t, o);
  }
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) override {
    return pg->broadcast(t, o);
  }
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& out,
                                           std::vector<at::Tensor>& in) override {
    return pg->allgather(out, in);
  }
  c10::intrusive_ptr<c10d::Work> barrier() override { return pg->barrier(); }
  c10::intrusive_ptr<PG> pg;
};

bool is_loopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1"; }

}  // namespace
#else
struct Group::Backend {};
#endif

namespace {

// The façade checks these first, with the same words; this keeps a direct call from plain JS safe too.
void check_options(const Options& o) {
  if (o.world_size < 1) throw RangeError("worldSize must be an integer ≥ 1, got " + std::to_string(o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw RangeError("rank must be an integer in [0, " + std::to_string(o.world_size - 1) + "] (worldSize " +
                     std::to_string(o.world_size) + "), got " + std::to_string(o.rank));
  if (o.master_port < 1 || o.master_port > 65535)
    throw RangeError("masterPort must be an integer in [1, 65535], got " + std::to_string(o.master_port));
  if (o.timeout.count() < 1) throw RangeError("timeoutMs must be ≥ 1, got " + std::to_string(o.timeout.count()));
  if (o.master_addr.empty()) throw RangeError("masterAddr must be a host name or address, got \"\"");
  if (o.backend != "gloo" && o.backend != "nccl")
    throw RangeError("backend must be 'gloo' or 'nccl', got \"" + o.backend + "\"");
}

}  // namespace

std::shared_ptr<Group> Group::create(const Options& o) {
  check_options(o);
  std::shared_ptr<Group> group(new Group());
  group->rank_ = o.rank;
  group->world_size_ = o.world_size;
  group->backend_ = o.backend;
  group->timeout_ = o.timeout;
  const std::string where =
      "distributed.init (rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) + ")";
  if (o.backend == "gloo" && !gloo_available())
    throw Error(where +
                ": this grnewt was built without Gloo (libtorch without USE_C10D_GLOO, or Gloo's headers "
                "missing: Debian/Ubuntu `apt-get install libgloo-dev`, then rebuild)");
  if (o.backend == "nccl" && !nccl_available())
    throw Error(where + ": backend 'nccl' needs a CUDA build of libtorch with NCCL; this build has none (use 'gloo')");
#if defined(GRNEWT_HAS_GLOO) || defined(GRNEWT_HAS_NCCL)
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.world_size);
    so.waitWorkers = false;
    so.timeout = o.timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    // A client's socket waits for answers without a time limit until an operation with a timeout sets one: on a
    // port held by a program that accepts and never answers, joining (waitWorkers) hung for ever. So every rank
    // first waits, within the timeout, for a key that rank 0 sets once its store is up (its value: the world
    // size, which every rank must agree on); then all join.
    const std::string store_up = "grnewt/store-up";
    const std::string size_text = std::to_string(o.world_size);
    if (o.rank == 0) tcp->set(store_up, std::vector<uint8_t>(size_text.begin(), size_text.end()));
    try {
      tcp->wait({store_up}, o.timeout);
    } catch (...) {
      throw Error("no store answered there within the timeout (is another program listening on that port?): " +
                  cause_of(std::current_exception()));
    }
    const std::vector<uint8_t> hosted = tcp->get(store_up);
    if (std::string(hosted.begin(), hosted.end()) != size_text)
      throw Error("rank 0 hosts a group of " + std::string(hosted.begin(), hosted.end()) +
                  " ranks, this rank expects " + size_text + " (every rank must be given the same worldSize)");
    if (tcp->add("grnewt/rank/" + std::to_string(o.rank), 1) != 1)
      throw Error("another process has already joined as rank " + std::to_string(o.rank) +
                  " (each rank must be given once)");
    // Joining ends at the deadline: TCPStore's waitForWorkers gives up silently at the timeout, and the Gloo
    // connection below then waited as long again, and more (a rank that never came: 2.5 × timeoutMs).
    const std::string joined = "grnewt/joined";
    int64_t count = tcp->add(joined, 1);
    while (count < o.world_size) {
      if (std::chrono::steady_clock::now() >= deadline)
        throw Error("only " + std::to_string(count) + " of " + size_text + " ranks joined within the timeout");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      count = tcp->add(joined, 0);
    }
    store = tcp;
  } catch (...) {
    throw Error(where + ": the rendezvous at " + o.master_addr + ":" + std::to_string(o.master_port) + " failed (" +
                (o.rank == 0 ? "hosting the store" : "reaching rank 0's store") + ", " + std::to_string(o.world_size) +
                " ranks expected, timeout " + std::to_string(o.timeout.count()) +
                " ms): " + cause_of(std::current_exception()));
  }
  try {
#ifdef GRNEWT_HAS_NCCL
    if (o.backend == "nccl") {
      const int64_t devices = c10::cuda::device_count();
      if (devices < 1) throw Error("no CUDA device is visible");
      c10::cuda::set_device(
          static_cast<c10::DeviceIndex>(o.local_rank >= 0 ? o.local_rank % devices : o.rank % devices));
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = o.timeout;
      group->backend_impl_ =
          std::make_unique<BackendOf<c10d::ProcessGroupNCCL>>(c10::make_intrusive<c10d::ProcessGroupNCCL>(
              store, static_cast<int>(o.rank), static_cast<int>(o.world_size), options));
    }
#endif
#ifdef GRNEWT_HAS_GLOO
    if (o.backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
      // As torch.distributed: GLOO_SOCKET_IFNAME picks the interface; on one machine, the loopback address;
      // else the address this machine's host name resolves to.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (is_loopback(o.master_addr)) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      group->backend_impl_ =
          std::make_unique<BackendOf<c10d::ProcessGroupGloo>>(c10::make_intrusive<c10d::ProcessGroupGloo>(
              store, static_cast<int>(o.rank), static_cast<int>(o.world_size), options));
    }
#endif
  } catch (...) {
    throw Error(where + ": connecting the " + o.backend + " process group failed (" + std::to_string(o.world_size) +
                " ranks expected, timeout " + std::to_string(o.timeout.count()) +
                " ms; a rank that never joined times out): " + cause_of(std::current_exception()));
  }
  return group;
#else
  throw Error(where + ": no distributed backend in this build");
#endif
}

Group::~Group() = default;

std::string Group::broken_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return broken_;
}

void Group::check_usable(const std::string& what) const {
  std::string reason = broken_reason();
  if (!reason.empty())
    throw Error("distributed." + what + " (rank " + std::to_string(rank_) + " of " + std::to_string(world_size_) +
                "): the process group is broken since an earlier failure (" + reason + "); call destroy()");
}

void Group::fail(const std::string& what, const std::string& cause) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (broken_.empty()) broken_ = what + ": " + cause;
}

Pending Group::start(std::string what, std::function<void()> wait_work, std::function<at::Tensor()> finish) {
  Pending p;
  p.group_ = shared_from_this();
  p.what_ = std::move(what);
  p.wait_work_ = std::move(wait_work);
  p.finish_ = std::move(finish);
  return p;
}

at::Tensor Pending::wait() {
  Group& g = *group_;
  const std::string where =
      "distributed." + what_ + " (rank " + std::to_string(g.rank_) + " of " + std::to_string(g.world_size_) + ")";
  try {
    wait_work_();
  } catch (...) {
    const std::string cause = cause_of(std::current_exception());
    g.fail(what_, cause);
    throw Error(where + " failed: " + cause + ". A peer process died, left or did not take part within the timeout (" +
                std::to_string(g.timeout_.count()) + " ms); the process group cannot be used any more");
  }
  at::NoGradGuard no_grad;
  return finish_ ? finish_() : at::Tensor();
}

#if defined(GRNEWT_HAS_GLOO) || defined(GRNEWT_HAS_NCCL)
namespace {

// One buffer holding every tensor (flattened, concatenated), and how to write it back into them.
struct Flat {
  at::Tensor buffer;
  bool in_place = false;  // buffer *is* the caller's tensor (one contiguous tensor)
};

Flat flatten(const std::vector<at::Tensor>& tensors, const std::string& what) {
  if (tensors.empty()) throw RangeError(what + ": expected at least one tensor");
  for (const auto& t : tensors) {
    if (!t.defined()) throw TypeError(what + ": a tensor is undefined");
    if (t.scalar_type() != tensors[0].scalar_type() || t.device() != tensors[0].device())
      throw TypeError(what + ": all tensors must have the same dtype and device");
  }
  at::NoGradGuard no_grad;
  if (tensors.size() == 1 && tensors[0].is_contiguous()) return {tensors[0].detach(), true};
  std::vector<at::Tensor> pieces;
  pieces.reserve(tensors.size());
  for (const auto& t : tensors) pieces.push_back(t.detach().reshape({-1}));
  return {at::cat(pieces), false};
}

void unflatten(const Flat& flat, const std::vector<at::Tensor>& tensors) {
  if (flat.in_place) return;
  int64_t offset = 0;
  for (const auto& t : tensors) {
    const int64_t n = t.numel();
    t.detach().copy_(flat.buffer.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

}  // namespace

Pending Group::all_reduce(const std::vector<at::Tensor>& tensors, ReduceOp op) {
  check_usable("allReduce");
  Flat flat = flatten(tensors, "allReduce");
  if (op == ReduceOp::Mean && !at::isFloatingType(flat.buffer.scalar_type()))
    throw TypeError("allReduce: op 'mean' needs a floating-point tensor, got " +
                    std::string(c10::toString(flat.buffer.scalar_type())));
  c10d::AllreduceOptions options;
  // Gloo has no AVG: a mean is a sum divided by the number of ranks (the same division on every rank).
  options.reduceOp = op == ReduceOp::Max   ? c10d::ReduceOp::MAX
                     : op == ReduceOp::Min ? c10d::ReduceOp::MIN
                                           : c10d::ReduceOp::SUM;
  options.timeout = timeout_;
  std::vector<at::Tensor> io{flat.buffer};
  auto work = backend_impl_->allreduce(io, options);
  const int64_t world = world_size_;
  const auto limit = timeout_ * 2;  // the backend's own timeout fires first, with the better message
  return start(
      "allReduce", [work, limit] { work->wait(limit); },
      [flat, tensors, op, world] {
        if (op == ReduceOp::Mean) flat.buffer.div_(static_cast<double>(world));
        unflatten(flat, tensors);
        return at::Tensor();
      });
}

Pending Group::broadcast(const std::vector<at::Tensor>& tensors, int64_t src) {
  check_usable("broadcast");
  if (src < 0 || src >= world_size_)
    throw RangeError("broadcast: src must be a rank in [0, " + std::to_string(world_size_ - 1) + "], got " +
                     std::to_string(src));
  Flat flat = flatten(tensors, "broadcast");
  c10d::BroadcastOptions options;
  options.rootRank = src;
  options.timeout = timeout_;
  std::vector<at::Tensor> io{flat.buffer};
  auto work = backend_impl_->broadcast(io, options);
  const auto limit = timeout_ * 2;
  return start(
      "broadcast", [work, limit] { work->wait(limit); },
      [flat, tensors] {
        unflatten(flat, tensors);
        return at::Tensor();
      });
}

Pending Group::all_gather(const at::Tensor& tensor) {
  check_usable("allGather");
  if (!tensor.defined()) throw TypeError("allGather: the tensor is undefined");
  at::NoGradGuard no_grad;
  if (tensor.numel() == 0) {
    // Nothing to exchange, and Gloo's allgather of 0 bytes divides by zero (SIGFPE on every rank).
    std::vector<int64_t> shape{world_size_};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    const auto options = tensor.options();
    return start(
        "allGather", [] {}, [shape, options] { return at::empty(shape, options); });
  }
  std::vector<at::Tensor> in{tensor.detach().contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int64_t r = 0; r < world_size_; ++r) out[0].push_back(at::empty_like(in[0]));
  auto work = backend_impl_->allgather(out, in);
  const auto limit = timeout_ * 2;
  auto gathered = std::make_shared<std::vector<at::Tensor>>(out[0]);
  return start(
      "allGather", [work, limit] { work->wait(limit); }, [gathered] { return at::stack(*gathered); });
}

Pending Group::barrier() {
  check_usable("barrier");
  auto work = backend_impl_->barrier();
  const auto limit = timeout_ * 2;
  return start(
      "barrier", [work, limit] { work->wait(limit); }, nullptr);
}
#else
Pending Group::all_reduce(const std::vector<at::Tensor>&, ReduceOp) {
  throw Error("distributed: no backend in this build");
}
Pending Group::broadcast(const std::vector<at::Tensor>&, int64_t) {
  throw Error("distributed: no backend in this build");
}
Pending Group::all_gather(const at::Tensor&) { throw Error("distributed: no backend in this build"); }
Pending Group::barrier() { throw Error("distributed: no backend in this build"); }
#endif

}  // namespace grnewt::distributed
