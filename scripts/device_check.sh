#!/usr/bin/env bash
# The GPU checks, as one script for a machine with an NVIDIA GPU (the
# device machine: run it there with build/bin/sparq-cuda-tests,
# build/bin/sparq-bench-bev-cuda and build/cuda-packages carried from this
# build; the binaries link the CUDA runtime statically and need only the
# driver, the packages need nvcc, cuBLAS and cuDNN there). Writes what it
# saw into ${OUT:-/tmp/sparq-device}.
#   bash scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/sparq-device}"
mkdir -p "$out"

checks() {
  local status=0
  echo "== GPU"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || status=1
  echo "== DGC on the GPU against the CPU (sparq-cuda-tests)"
  if [ -x build/bin/sparq-cuda-tests ]; then
    build/bin/sparq-cuda-tests || status=1
  else
    echo "build/bin/sparq-cuda-tests missing: build with nvcc first"
    status=1
  fi
  echo "== BEV pooling on the GPU: bandwidth (sparq-bench-bev-cuda)"
  if [ -x build/bin/sparq-bench-bev-cuda ]; then
    build/bin/sparq-bench-bev-cuda || status=1
  else
    echo "build/bin/sparq-bench-bev-cuda missing: build with nvcc first"
    status=1
  fi
  echo "== cuda-target packages on the GPU against the host target"
  if [ -d build/cuda-packages ]; then
    for dir in build/cuda-packages/*/; do
      name=$(basename "$dir")
      echo "-- $name"
      if cmake -S "$dir/package" -B "$dir/package/build" -G Ninja > "$out/$name.cmake.log" 2>&1 &&
         cmake --build "$dir/package/build" >> "$out/$name.cmake.log" 2>&1; then
        "$dir/package/build/sparq_run" "$dir/package" "$dir"/input_*.npy -o "$dir" \
          --compare "$dir/ref" || status=1
      else
        echo "build failed: see $out/$name.cmake.log"; tail -20 "$out/$name.cmake.log"
        status=1
      fi
    done
  else
    echo "build/cuda-packages missing: make them with scripts/make_cuda_packages.py"
    status=1
  fi
  return $status
}

checks 2>&1 | tee "$out/device_check.log"
exit "${PIPESTATUS[0]}"
