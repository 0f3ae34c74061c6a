// GRNEWT_AVX2_AND_BASELINE: a function built twice, for AVX2 and for the baseline x86-64, the one matching the
// CPU picked at load time (the package's prebuilt binary cannot assume AVX2); elsewhere (arm64), or with
// another compiler, the one build the compiler makes. target_clones takes no templates: put it on plain
// functions.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GRNEWT_AVX2_AND_BASELINE __attribute__((target_clones("avx2", "default")))
#else
#define GRNEWT_AVX2_AND_BASELINE
#endif
