// JS description of a model for the Taylor route -> taylor::Op list (shared by the sync and async exports).
#pragma once
#include <napi.h>

#include <vector>

#include "core/taylor.h"

namespace grnewt::addon {

// [{ kind: 'linear'|'conv2d'|'maxPool2d'|'flatten'|'activation', weight?, bias?, dweight?, dbias?, weightGroup?,
//    biasGroup?, inputScale?, stride?, padding?, dilation?, groups?, kernelSize?, ceilMode?, activation?, alpha? }]
std::vector<taylor::Op> taylor_model_from_js(const Napi::Value& value);
taylor::Loss taylor_loss_from_js(const Napi::Value& value);

}  // namespace grnewt::addon
