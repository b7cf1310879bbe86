#!/usr/bin/env bash
# Runs sparq's whole test suite: GoogleTest units, lit/FileCheck, the ONNX
# backend conformance list, end-to-end PyTorch comparisons and bad inputs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh || exit 1
export SPARQC="$PWD/build/bin/sparqc"
PY=/usr/bin/python3
status=0
step() { echo; echo "== $1"; shift; "$@" || { echo "FAILED: $*"; status=1; }; }

step "unit tests" build/bin/sparq-unittests --gtest_brief=1
if [ -x build/bin/sparq-cuda-tests ]; then
  # Built with nvcc; each test skips with the reason where no GPU is.
  step "CUDA unit tests" build/bin/sparq-cuda-tests
else
  echo; echo "== CUDA unit tests: not built (nvcc not found)"
fi
step "lit" $PY /usr/lib/llvm-19/build/utils/lit/lit.py -sv build/test
step "ONNX backend conformance" $PY test/onnx-backend/run_backend.py --jobs "$(nproc)"
# The package as just built (build/python), not the copy pip installed.
step "python package" env PYTHONPATH="$PWD/build/python" .venv/bin/python -m pytest -q -rs test/python
step "end-to-end and bad inputs" $PY -m pytest -q -rs test/e2e test/bad-inputs
exit $status
