#!/usr/bin/env bash
# The GPU checks, as one script for a machine with an NVIDIA GPU (the
# device machine: run it there with build/bin/sparq-cuda-tests carried from
# this build; the binary links the CUDA runtime statically and needs only
# the driver). Writes what it saw into ${OUT:-/tmp/sparq-device}.
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
  return $status
}

checks 2>&1 | tee "$out/device_check.log"
exit "${PIPESTATUS[0]}"
