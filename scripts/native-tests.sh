#!/bin/sh
# Builds and runs grnewt_native_tests (no Node needed): the Taylor route's elementwise kernel against the
# ATen rules, and — when libtorch has CUDA (e.g. a Python torch with CUDA, found by CMakeLists.txt) and a
# GPU is visible — the CUDA kernel and the Taylor route on the GPU against the CPU.
set -eu
cd "$(dirname "$0")/.."
build=build/native-tests
mkdir -p build # the log is written before cmake makes the folder: a checkout without a native build had none
cmake -S . -B "$build" -DGRNEWT_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release "$@" > "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" --target grnewt_native_tests -j "$(nproc)" >> "$build.log" 2>&1 || { tail -50 "$build.log"; exit 1; }
"$build/grnewt_native_tests"
