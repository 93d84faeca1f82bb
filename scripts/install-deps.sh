#!/usr/bin/env bash
# Installs the Debian packages greenbatch needs to build and test, only those missing.
set -euo pipefail
# LibTorch (CPU) and libjpeg-turbo for real networks; Python's torch and torchvision (Debian's
# /usr/bin/python3) to export models and torchvision's reference tensors for the tests.
# clang and libFuzzer for the fuzz targets (scripts/fuzz.sh); rapidcheck for the property tests.
# prometheus_client's text parser reads /metrics back in serve_tests (tests/serve/parse_metrics.py).
# curl and a real Prometheus server talk to `greenbatch serve` in serve_cli (tests/serve/serve_cli_test.py);
# wrk, the HTTP load generator, measures the server's throughput by hand (docs/architecture.md).
# slurm-wlm and munge: tests/slurm/slurm_test.py brings up a single-node Slurm to run a sweep's array.
# OpenBLAS, OpenMP variant: Debian's LibTorch calls whatever libblas.so.3 the alternatives point
# to, the reference BLAS without it (AlexNet's batch of 8: 656 ms there, 64 ms with OpenBLAS on
# 2 threads); its OpenMP build shares LibTorch's libgomp threads where the pthread build adds
# its own (measured faster at batch 1 and 8 on AlexNet, ShuffleNetV2 and DenseNet-121:
# docs/measurements/knobs.md). Installing it makes it the system's libblas.so.3.
packages=(cmake g++ ninja-build git pkg-config
  libcli11-dev nlohmann-json3-dev libfmt-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libfuzzer-14-dev librapidcheck-dev
  libtorch-dev libopenblas0-openmp libjpeg-dev python3-torch python3-torchvision python3-pil
  python3-prometheus-client libboost-dev
  prometheus curl wrk slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "greenbatch: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
