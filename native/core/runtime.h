// Process-wide libtorch settings and facts: seeding, threads, CUDA, versions.
#pragma once
#include <cstdint>
#include <string>

namespace grnewt::runtime {

void manual_seed(uint64_t seed);
void set_num_threads(int n);
int num_threads();
bool cuda_available();
std::string torch_version();

}  // namespace grnewt::runtime
