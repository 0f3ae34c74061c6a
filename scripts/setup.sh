#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for grnewt and builds it; safe to run again (it installs only what
# is missing). Elsewhere it prints what to install and stops.
#   system: libtorch (C++ API), cmake, a C++17 compiler, Fashion-MNIST (Debian's dataset package)
#   npm:    npm ci, then the native addon (prebuilds/) and the TypeScript (dist/)
set -euo pipefail
cd "$(dirname "$0")/.."

# libopenblas0-openmp: without it libtorch runs its matrix products on the reference BLAS, ~9× slower here.
# chromium: only for the test that renders report.html and takes a screenshot.
# libgloo-dev: Gloo's headers, which libtorch's ProcessGroupGloo.hpp includes (several processes, grnewt.distributed).
packages=(libtorch-dev libgloo-dev libopenblas0-openmp dataset-fashion-mnist cmake g++ make ninja-build chromium python3-torch)
# clang-format: npm test checks that the C++ is formatted as .clang-format says.
packages+=(clang-format)

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: system packages already installed (${packages[*]})"
  fi
else
  cat >&2 <<'MSG'
setup: this is not a Debian/Ubuntu machine; install by hand, then run `npm ci && npm run build`:
  - Node.js >= 18.18 with npm
  - cmake >= 3.18 and a C++17 compiler (g++ >= 9 or clang >= 10)
  - libtorch (C++), e.g. unpacked from pytorch.org, then: export LIBTORCH_DIR=/path/to/libtorch
    (or a Python torch: grnewt's build uses torch.utils.cmake_prefix_path)
  - optional: Fashion-MNIST IDX files (train/t10k-*-ubyte.gz) for the examples
MSG
  exit 1
fi

command -v node >/dev/null 2>&1 || { echo "setup: Node.js >= 18.18 is needed (e.g. apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund
npm run build
