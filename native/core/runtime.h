// Process-wide libtorch settings and facts: seeding, threads, CUDA, versions.
#pragma once
#include <cstdint>
#include <string>

namespace grnewt::runtime {

void manual_seed(uint64_t seed);
// More intra-op threads than this is never sane (the façade caps it further, at the machine's cores).
constexpr int kMaxThreads = 1024;
void set_num_threads(int n);
int num_threads();
// Autograd recording on the calling thread (libtorch's GradMode is thread-local): noGrad/enableGrad scopes.
void set_grad_enabled(bool enabled);
bool grad_enabled();
bool cuda_available();
std::string torch_version();

}  // namespace grnewt::runtime
