// JS arguments of the Taylor route -> a call of taylor::summaries (shared by the sync and async exports).
#pragma once
#include <napi.h>

#include <vector>

#include "method/taylor.h"

namespace grnewt::addon {

// The arguments of taylorHg, taylorHgProfile and taylorHgAsync: (steps, x, target, { loss: 'crossEntropy'|'mse',
// groups, noregul, diagonal }), the steps being [{ kind: 'linear'|'conv2d'|'maxPool2d'|'flatten'|'activation',
// weight?, bias?, dweight?, dbias?, weightGroup?, biasGroup?, inputScale?, stride?, padding?, dilation?, groups?,
// kernelSize?, ceilMode?, activation?, alpha? }]. Holds its tensors by value, so it can run on another thread.
struct TaylorCall {
  std::vector<taylor::Op> model;
  taylor::Loss loss;
  at::Tensor x, target;
  int64_t groups;
  summaries::Options options;
  taylor::Result run(taylor::Profile* profile = nullptr) const {
    return taylor::summaries(model, loss, x, target, groups, options, profile);
  }
};
// `call` names the export in messages about its options.
TaylorCall taylor_call_from_js(const Napi::CallbackInfo& info, const char* call);

}  // namespace grnewt::addon
