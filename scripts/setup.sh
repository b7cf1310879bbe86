#!/usr/bin/env bash
# Installs sparq's dependencies on Debian 12, builds it, and runs the bundled
# example (a small CNN exported from PyTorch): outputs and per-layer report.
#   bash scripts/setup.sh            # everything
#   bash scripts/setup.sh --no-example
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  cmake ninja-build ccache g++ python3-venv python3-dev
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata zlib1g-dev
  libopenblas-dev libgtest-dev libbenchmark-dev pybind11-dev
  python3-torch python3-torchvision python3-onnx python3-numpy python3-pytest
  python3-sklearn python3-matplotlib
  make g++-aarch64-linux-gnu qemu-user
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python pieces that Debian lacks (onnxruntime, the reference and baseline),
# in a venv that also sees Debian's torch and onnx.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/pip install -q -r bench/requirements.txt
# The venv's own protobuf (PyPI's, on upb), the same version as Debian's:
# Debian's runs on the C++ libprotobuf whose one descriptor pool also holds
# the ONNX protos that torch and sparq link (onnx 1.12's), and onnx 1.16
# then fails to import in any process that loaded torch or sparq first.
if [ ! -d .venv/lib/python3*/site-packages/google/protobuf ]; then
  .venv/bin/pip install -q --ignore-installed --no-deps protobuf==4.21.12
fi

# Halide 21, the arm target's compiler (its packages' generators link it;
# sparq itself does not). --no-deps: its numpy requirement would replace
# Debian's, which Debian's torch is built against. Before the build: CMake
# finds it here.
.venv/bin/python -c "import halide" 2>/dev/null ||
  .venv/bin/pip install -q --no-deps halide==21.0.0

bash scripts/build.sh

# The `sparq` package, into the venv: scikit-build-core builds its extension
# in build/ (just built: only the extension is new) and installs it with the
# package's Python files.
echo "== pip install . (the sparq Python package)"
.venv/bin/pip install -q .
(cd / && "$OLDPWD/.venv/bin/python" -c "import sparq; print('sparq', sparq.__file__)")

if [ "${1:-}" != "--no-example" ]; then
  echo "== example: examples/small_cnn.onnx"
  build/bin/sparqc run examples/small_cnn.onnx -i input=examples/input.npy -o build/example-out
  build/bin/sparqc report examples/small_cnn.onnx
fi
