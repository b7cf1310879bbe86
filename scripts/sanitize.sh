#!/usr/bin/env bash
# Builds sparq with AddressSanitizer and UndefinedBehaviorSanitizer (clang 19,
# -DSPARQ_SANITIZE=address,undefined -DSPARQ_FUZZ=ON) into build-san/ and
# runs under it: the unit tests, lit, a slice of the ONNX conformance list,
# the bad-input corpus, and the fuzzer (scripts/fuzz.sh). Any sanitizer report
# fails the run. CI runs it after the release suite.
#   bash scripts/sanitize.sh [--fuzz-time SECONDS | --fuzz-runs N]
#   (default --fuzz-time 120; CI gives --fuzz-runs, so that its fuzzing is
#   the same inputs on every machine, fast or slow)
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ=(--time 120)
case "${1:-}" in
  --fuzz-time) FUZZ=(--time "$2") ;;
  --fuzz-runs) FUZZ=(--runs "$2") ;;
esac

missing=()
for p in clang-19 libclang-rt-19-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" || exit 1
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$PWD"
# -g1 makes ccache hash the working directory; clones elsewhere should hit.
export CCACHE_NOHASHDIR=1
if [ ! -f build-san/build.ninja ]; then
  CC=clang-19 CXX=clang++-19 cmake -G Ninja -B build-san \
    -DCMAKE_BUILD_TYPE=Release -DSPARQ_SANITIZE=address,undefined \
    -DSPARQ_FUZZ=ON -DSPARQ_CUDA=OFF || exit 1
fi
ninja -C build-san -j"$(nproc)" sparq-unittests sparqc sparq-opt \
  sparq-fuzz-import || exit 1

source scripts/sanitizer-env.sh
export SPARQC="$PWD/build-san/bin/sparqc"
PY=/usr/bin/python3
status=0
step() { echo; echo "== [asan+ubsan] $1"; shift; "$@" || { echo "FAILED: $*"; status=1; }; }

step "unit tests" build-san/bin/sparq-unittests --gtest_brief=1
step "lit" $PY /usr/lib/llvm-19/build/utils/lit/lit.py -sv build-san/test
# One or two tests of each kind of operator the host target has kernels for.
SLICE='node/test_(conv_with_strides_padding|convtranspose$|averagepool_2d_pads$|maxpool_2d_ceil$|gemm_default_matrix_bias|matmul_3d|lstm_defaults|gru_defaults|rnn_seq_length|resize_upsample_scales_linear$|reflect_pad|slice$|reshape_negative_dim|depthtospace_crd_mode$|qlinearconv$|qlinearmatmul_2D|quantizelinear$|dequantizelinear$|convinteger_with_padding|matmulinteger|softmax_axis_1$|layer_normalization_2d_axis0$|batchnorm_epsilon$|gather_0$|topk$|einsum_batch_matmul|cumsum_1d$|range_float_type_positive_delta$|transpose_default|concat_3d_axis_1$)'
step "ONNX conformance slice" $PY test/onnx-backend/run_backend.py \
  --jobs "$(nproc)" --timeout 300 --filter "$SLICE"
step "bad inputs" $PY -m pytest -q -rs test/bad-inputs
# Run-time dims, the KV cache written in place and the symbols read from
# scalar inputs: index arithmetic worth running under the sanitizers.
step "run-time dims and decoding" $PY -m pytest -q -rs \
  test/e2e/test_run_time_dims.py test/e2e/test_generate.py
step "fuzzer" bash scripts/fuzz.sh "${FUZZ[@]}"
exit $status
