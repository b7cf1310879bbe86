#!/usr/bin/env bash
# The GPU checks, as one script for a machine with an NVIDIA GPU (the
# device machine). Carry from this build: build/bin/sparq-cuda-tests,
# build/bin/sparq-bench-bev-cuda, build/bin/sparq-bench-gemv-baselines
# (CUDA runtime linked statically: they need only the driver, and cuBLAS /
# cuSPARSE for the last), build/cuda-packages
# (scripts/make_cuda_packages.py) and build/gpu-bench
# (scripts/make_gpu_bench.py; 64 MiB in all, --only splits it): the
# packages need nvcc, cuBLAS and cuDNN there. Writes what it saw into
# ${OUT:-/tmp/sparq-device}.
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
  echo "== GEMV peers on the GPU (sparq-bench-gemv-baselines: 8192x8192, 2048x2048)"
  if [ -x build/bin/sparq-bench-gemv-baselines ]; then
    build/bin/sparq-bench-gemv-baselines 8192 8192 || status=1
    build/bin/sparq-bench-gemv-baselines 2048 2048 || status=1
  else
    echo "build/bin/sparq-bench-gemv-baselines missing: build with nvcc first"
  fi
  echo "== packed GEMVs of the cuda target (build/gpu-bench)"
  if [ -d build/gpu-bench ]; then
    for dir in build/gpu-bench/*/; do
      name=$(basename "$dir"); pkg="$dir/package"
      if cmake -S "$pkg" -B "$pkg/build" -G Ninja > "$out/$name.cmake.log" 2>&1 &&
         cmake --build "$pkg/build" >> "$out/$name.cmake.log" 2>&1; then
        line=$("$pkg/build/sparq_run" "$pkg" "$dir/x.npy" -o "$dir" --repeat 50) || status=1
        bytes=$(grep -o '"bytes": [0-9]*' "$pkg/model.json" | tail -1 | grep -o '[0-9]*$')
        ms=$(echo "$line" | sed -n 's/.*on the device \([0-9.]*\) ms.*/\1/p')
        echo "$name: $line; weights $bytes bytes; $(awk -v b="$bytes" -v t="$ms" \
          'BEGIN { if (t > 0) printf "%.0f GB/s on the packed bytes", b / t / 1e6 }')"
      else
        echo "$name: build failed: see $out/$name.cmake.log"; status=1
      fi
    done
  else
    echo "build/gpu-bench missing: make it with scripts/make_gpu_bench.py"
  fi
  return $status
}

checks 2>&1 | tee "$out/device_check.log"
exit "${PIPESTATUS[0]}"
