#!/usr/bin/env bash
# Builds greenbatch (no tests, no benchmarks) against a torch wheel's LibTorch, CUDA included:
#   PYTHON=python3 scripts/build-cuda.sh [BUILD_DIR, default build-gpu]
# DEPS_PREFIX: a folder of headers and libraries unpacked from Debian packages (`dpkg -x` of
# libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9 libtomlplusplus-dev libtomlplusplus3
# libjpeg62-turbo-dev libjpeg62-turbo), for a GPU machine that has LibTorch but not these.
# Another compiler and LibTorch than the ones CI uses: warnings are shown, not fatal, unless WERROR=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-gpu}"
python="${PYTHON:-python3}"
prefix=$("$python" -c 'import torch;print(torch.utils.cmake_prefix_path)')
args=(-DGREENBATCH_BUILD_TESTS=OFF -DGREENBATCH_BUILD_BENCH=OFF -DGREENBATCH_WERROR="${WERROR:-OFF}")
if [ -n "${DEPS_PREFIX:-}" ]; then
  d=$(cd "$DEPS_PREFIX" && pwd)
  args+=(-DCMAKE_PREFIX_PATH="$prefix;$d" -DJPEG_INCLUDE_DIR="$d/include"
    -DJPEG_LIBRARY="$d/lib/x86_64-linux-gnu/libjpeg.so" -DCMAKE_CXX_FLAGS="-isystem $d/include/x86_64-linux-gnu")
else
  args+=(-DCMAKE_PREFIX_PATH="$prefix")
fi
bash scripts/build.sh "$build" "${args[@]}"
