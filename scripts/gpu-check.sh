#!/usr/bin/env bash
# The GPU check, in one run on a machine with an NVIDIA GPU, CUDA and a CUDA Python torch (no Node needed for
# step 1): 1. grnewt_native_tests in a CUDA build (the CUDA kernel against the ATen rules, the whole Taylor
# route on the GPU against the CPU); 2. when `node` is on PATH, the addon built against the same libtorch and
# scripts/bench-gpu.mjs (summaries / forward+backward on the GPU); 3. when vitest is in node_modules too, the
# public API on the GPU (test/gpu.test.ts, with the tests that load CUDA-saved files). Output also goes to
# $OUT/gpu-check.log. GRNEWT_GPU_BENCH_BATCHES: the bench's batch sizes (default 256,1024,8192).
#   GRNEWT_CXX_STD=20 for a libtorch that needs C++20; GRNEWT_CUDA_ARCH (default: the visible GPU).
set -u
cd "$(dirname "$0")/.."
out=${OUT:-build}
mkdir -p "$out" build
exec > >(tee "$out/gpu-check.log") 2>&1

nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader
prefix=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
cmake --version | head -1; g++ --version | head -1; nvcc --version | tail -1
arch=${GRNEWT_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}
std=${GRNEWT_CXX_STD:-17}
jobs=$(nproc)

flags=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGRNEWT_BUILD_TESTS=ON)
if command -v node >/dev/null 2>&1; then
  # The addon without cmake-js: its only inputs are the N-API headers (node-api-headers) on Linux.
  flags+=(-DCMAKE_JS_INC="$(node -p "require('node-api-headers').include_dir")")
fi

build_with() {  # build_with STD DIR
  echo "== configure (C++$1, sm_$arch) in $2"
  cmake -S . -B "$2" "${flags[@]}" -DCMAKE_CXX_STANDARD="$1" > "$2.configure.log" 2>&1 || { tail -40 "$2.configure.log"; return 1; }
  grep -E "grnewt:" "$2.configure.log" | head -3
  echo "== build"
  # -k: every compile error of this libtorch in one run, not only the first.
  time cmake --build "$2" -j "$jobs" -- -k > "$2.build.log" 2>&1
  local status=$?
  grep -E "error" "$2.build.log" | head -40
  [ $status = 0 ] || tail -20 "$2.build.log"
  return $status
}
dir=build/gpu
if ! build_with "$std" "$dir" && [ "$std" = 17 ] && grep -qiE "c\+\+ ?20|c\+\+2a|std=c\+\+20" build/gpu.build.log; then
  echo "== this libtorch asks for C++20: building again with it"
  dir=build/gpu20
  build_with 20 "$dir"
fi

echo "== native tests"
if [ -x "$dir"/grnewt_native_tests ]; then
  time timeout 150 "$dir"/grnewt_native_tests
  echo "native tests exit $?"
fi

if [ -f "$dir"/grnewt.node ] && command -v node >/dev/null 2>&1; then
  echo "== GPU bench"
  mkdir -p build/Release && cp "$dir"/grnewt.node build/Release/grnewt.node
  rm -rf prebuilds  # node-gyp-build must pick this build, not the CPU prebuild
  node -e "const g=require('./dist/index.js'); console.log('cuda.isAvailable', g.cuda.isAvailable(), g.torchVersion())"
  if [ -f node_modules/vitest/vitest.mjs ]; then
    echo "== the public API on the GPU (vitest)"
    time timeout 120 node node_modules/vitest/vitest.mjs run test/gpu.test.ts test/io_torch.test.ts test/tensor.test.ts
    echo "vitest exit $?"
  fi
  time timeout 200 node scripts/bench-gpu.mjs --json --batches "${GRNEWT_GPU_BENCH_BATCHES:-256,1024,8192}"
  echo "== NCCL, one rank (a rendezvous, allReduce and broadcast on the GPU)"
  timeout 60 node -e "
    const g = require('./dist/index.js');
    (async () => {
      await g.distributed.init({ backend: 'nccl', rank: 0, worldSize: 1, masterPort: 29531, timeoutMs: 30000 });
      const t = g.tensor([1, 2, 3]).to({ device: 'cuda' });
      await g.distributed.allReduce(t, 'sum');
      await g.distributed.broadcast(t, 0);
      console.log('nccl', g.distributed.backend(), 'allReduce+broadcast ->', t.to({ device: 'cpu' }).toArray());
      await g.distributed.destroy();
    })().catch((e) => { console.log('nccl failed:', e.message); process.exit(1); });"
  echo "nccl exit $?"
fi
