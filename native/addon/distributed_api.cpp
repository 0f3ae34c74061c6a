// Exports: c10d process groups (native/distributed). One group per process, as torch.distributed's default
// group: every environment (main thread, worker threads) sees the same one. Collectives are started on the
// JS thread, in call order (which is what keeps ranks in step), and waited for on a libuv pool thread, so the
// event loop stays free; the *Sync variants wait on the JS thread, for the optimizers' synchronous step().

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "addon/convert.h"
#include "addon/exports.h"
#include "addon/js_errors.h"
#include "addon/js_options.h"
#include "addon/promise_worker.h"
#include "addon/tensor_handle.h"
#include "distributed/process_group.h"

namespace grnewt::addon {

namespace {

using distributed::Group;

// The process's group. Deliberately never freed at exit: destroying a Gloo group joins its threads, which a
// peer that stopped answering could hold until the timeout; destroy() frees it, off the JS thread.
std::mutex group_mutex;
std::shared_ptr<Group>& current_group() {
  static auto* group = new std::shared_ptr<Group>();
  return *group;
}
bool initializing = false;

std::shared_ptr<Group> group_for(const char* what) {
  std::lock_guard<std::mutex> lock(group_mutex);
  if (!current_group())
    throw distributed::Error(std::string("distributed.") + what +
                             ": no process group; call await distributed.init() first");
  return current_group();
}

// A blocking collective's Promise settles with undefined, or with the job's tensor as a handle.
Napi::Value tensor_or_undefined(Napi::Env env, at::Tensor&& result) {
  return result.defined() ? TensorHandle::Wrap(env, std::move(result)) : env.Undefined();
}

Napi::Value queue(Napi::Env env, const char* name, PromiseWorker<at::Tensor>::Job job) {
  return PromiseWorker<at::Tensor>::Queue(env, name, std::move(job), tensor_or_undefined);
}

// Read by key (js_options.h): every key required, each named in its error.
distributed::Options options_from_js(const Napi::Value& value) {
  JsOptions o(value, "distributedInit");
  distributed::Options options;
  options.backend = o.string("backend");
  options.rank = o.integer("rank", {0, kMaxInt32 - 1});
  options.world_size = o.integer("worldSize", {1, kMaxInt32});
  options.master_addr = o.string("masterAddr");
  options.master_port = o.integer("masterPort", {1, 65535});
  options.timeout = std::chrono::milliseconds(o.integer("timeoutMs", {1, kMaxInt32}));
  options.local_rank = o.integer("localRank", {-1, kMaxInt32});
  return options;
}

// ({ backend, rank, worldSize, masterAddr, masterPort, timeoutMs, localRank }) -> Promise<undefined>
Napi::Value DistributedInit(const Napi::CallbackInfo& info) {
  distributed::Options options = options_from_js(info[0]);
  {
    std::lock_guard<std::mutex> lock(group_mutex);
    if (current_group() || initializing)
      throw distributed::Error("distributed.init: a process group is already " +
                               std::string(initializing ? "being initialised" : "initialised") +
                               "; call destroy() first");
    initializing = true;
  }
  return queue(info.Env(), "grnewt:distributedInit", [options] {
    std::shared_ptr<Group> group;
    try {
      group = Group::create(options);
    } catch (...) {
      std::lock_guard<std::mutex> lock(group_mutex);
      initializing = false;
      throw;
    }
    std::lock_guard<std::mutex> lock(group_mutex);
    current_group() = std::move(group);
    initializing = false;
    return at::Tensor();
  });
}

// () -> { initialized, rank, worldSize, backend, broken, glooAvailable, ncclAvailable }
Napi::Value DistributedState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  std::shared_ptr<Group> group;
  {
    std::lock_guard<std::mutex> lock(group_mutex);
    group = current_group();
  }
  out.Set("initialized", Napi::Boolean::New(env, static_cast<bool>(group)));
  out.Set("rank", group ? Napi::Number::New(env, static_cast<double>(group->rank())) : env.Null());
  out.Set("worldSize", group ? Napi::Number::New(env, static_cast<double>(group->world_size())) : env.Null());
  out.Set("backend", group ? Napi::String::New(env, group->backend()) : env.Null());
  std::string broken = group ? group->broken_reason() : "";
  out.Set("broken", broken.empty() ? env.Null() : Napi::String::New(env, broken));
  out.Set("glooAvailable", Napi::Boolean::New(env, distributed::gloo_available()));
  out.Set("ncclAvailable", Napi::Boolean::New(env, distributed::nccl_available()));
  return out;
}

// (tensors, op) -> Promise<undefined>: in place, one flattened collective
Napi::Value DistributedAllReduce(const Napi::CallbackInfo& info) {
  auto tensors = TensorHandle::GetList(info[0], "tensors");
  auto op = distributed::reduce_op_from_name(to_string(info[1], "op"));
  auto pending = group_for("allReduce")->all_reduce(tensors, op);
  return queue(info.Env(), "grnewt:allReduce", [pending]() mutable { return pending.wait(); });
}

// (tensors, op) -> undefined, blocking the JS thread until done
Napi::Value DistributedAllReduceSync(const Napi::CallbackInfo& info) {
  auto tensors = TensorHandle::GetList(info[0], "tensors");
  auto op = distributed::reduce_op_from_name(to_string(info[1], "op"));
  group_for("allReduce")->all_reduce(tensors, op).wait();
  return info.Env().Undefined();
}

// (tensors, src) -> Promise<undefined>
Napi::Value DistributedBroadcast(const Napi::CallbackInfo& info) {
  auto tensors = TensorHandle::GetList(info[0], "tensors");
  const int64_t src = to_int(info[1], "src", {0, kMaxInt32});
  auto pending = group_for("broadcast")->broadcast(tensors, src);
  return queue(info.Env(), "grnewt:broadcast", [pending]() mutable { return pending.wait(); });
}

// (tensors, src) -> undefined, blocking
Napi::Value DistributedBroadcastSync(const Napi::CallbackInfo& info) {
  auto tensors = TensorHandle::GetList(info[0], "tensors");
  const int64_t src = to_int(info[1], "src", {0, kMaxInt32});
  group_for("broadcast")->broadcast(tensors, src).wait();
  return info.Env().Undefined();
}

// (tensor) -> Promise<tensor [worldSize, ...shape]>
Napi::Value DistributedAllGather(const Napi::CallbackInfo& info) {
  auto pending = group_for("allGather")->all_gather(TensorHandle::Get(info[0], "tensor"));
  return queue(info.Env(), "grnewt:allGather", [pending]() mutable { return pending.wait(); });
}

// () -> Promise<undefined>
Napi::Value DistributedBarrier(const Napi::CallbackInfo& info) {
  auto pending = group_for("barrier")->barrier();
  return queue(info.Env(), "grnewt:barrier", [pending]() mutable { return pending.wait(); });
}

// () -> Promise<undefined>: forgets the group now, frees it (joining its threads) off the JS thread
Napi::Value DistributedDestroy(const Napi::CallbackInfo& info) {
  std::shared_ptr<Group> group;
  {
    std::lock_guard<std::mutex> lock(group_mutex);
    group = std::move(current_group());
    current_group() = nullptr;
  }
  return queue(info.Env(), "grnewt:distributedDestroy", [group]() mutable {
    group.reset();
    return at::Tensor();
  });
}

}  // namespace

void RegisterDistributedApi(Napi::Env env, Napi::Object exports) {
  Export<DistributedInit>(env, exports, "distributedInit");
  Export<DistributedState>(env, exports, "distributedState");
  Export<DistributedAllReduce>(env, exports, "distributedAllReduce");
  Export<DistributedAllReduceSync>(env, exports, "distributedAllReduceSync");
  Export<DistributedBroadcast>(env, exports, "distributedBroadcast");
  Export<DistributedBroadcastSync>(env, exports, "distributedBroadcastSync");
  Export<DistributedAllGather>(env, exports, "distributedAllGather");
  Export<DistributedBarrier>(env, exports, "distributedBarrier");
  Export<DistributedDestroy>(env, exports, "distributedDestroy");
}

}  // namespace grnewt::addon
