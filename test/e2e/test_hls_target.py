"""The hls target end to end: ONNX models compiled with `sparqc compile
--target hls`, the emitted engine built with g++ and C-simulated on its
testbench, which compares it bit for bit with sparq's fixed-point
reference (runtime/hls, run by sparqc when it writes the package). The
engine's dequantized outputs are also checked against a float64 numpy
reference of the model, within the documented tolerance (docs/hls.md).

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_hls_target.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs Debian's /usr/bin/python3")

import ese_model  # noqa: E402

# 16-bit activations at 2^-10, 12-bit weights, 1/128-step tables: the
# error bound documented in docs/hls.md for outputs of magnitude <= 4.
FLOAT_ATOL = 0.03
CXX = shutil.which("g++")


def compile_hls(sparqc: Path, model: Path, out: Path, *flags: str) -> Path:
    proc = subprocess.run([str(sparqc), "compile", str(model), "--target", "hls", "-o",
                           str(out), *flags], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def csim(pkg: Path) -> str:
    """Builds the testbench and runs it; returns what it printed."""
    if CXX is None:
        pytest.skip("g++ is not installed: the C-simulation needs a C++ compiler")
    cc = subprocess.run([CXX, "-O2", "-std=c++11", "-I.", "csim.cpp", "model.cpp", "-o",
                         "csim"], cwd=pkg, capture_output=True, text=True, timeout=600)
    assert cc.returncode == 0, cc.stderr
    run = subprocess.run([str(pkg / "csim"), str(pkg)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "bit-exact with the reference" in run.stdout, run.stdout
    return run.stdout


def engine_output(pkg: Path, shape: tuple[int, ...], frac: int = 10) -> np.ndarray:
    y = np.fromfile(pkg / "testbench" / "output.bin", dtype=np.int16)
    return (y.astype(np.float64) / 2.0 ** frac).reshape(shape)


def cycles(pkg: Path) -> dict:
    return json.loads((pkg / "cycles.json").read_text())


def test_fc_stack_bit_exact_and_close_to_float(sparqc: Path, tmp_path: Path) -> None:
    model = tmp_path / "fc.onnx"
    w = ese_model.fc_stack(model, [64, 128, 64, 10], batch=3, density=0.3)
    pkg = compile_hls(sparqc, model, tmp_path / "pkg")
    assert "30 outputs" in csim(pkg)
    x = np.load(pkg / "testbench" / "input.npy")
    assert x.shape == (3, 64)
    want = ese_model.fc_reference(w, x)
    got = engine_output(pkg, want.shape)
    err = np.abs(got - want).max()
    print(f"FC stack: max |engine - float| = {err:.5f} (outputs up to "
          f"{np.abs(want).max():.2f})")
    assert err <= FLOAT_ATOL
    source = (pkg / "model.cpp").read_text()
    # Relu fused into the first two layers, not the last; the biases kept.
    assert source.count("SPARQ_RELU") == 2 and source.count("SPARQ_NONE, kSigmoid") == 1
    assert "kBias2" in source
    assert (pkg / "weights_data.h").is_file()


def test_full_size_fc_stack(sparqc: Path, tmp_path: Path) -> None:
    """1024 -> 2048 -> 1024 -> 10 (4.2 M weights), pruned to 11% with load
    balance over 32 PEs: weights read from model.weights, bit-exact."""
    model = tmp_path / "fc.onnx"
    w = ese_model.fc_stack(model, [1024, 2048, 1024, 10], batch=2, density=0.11,
                           balance_pes=32)
    pkg = compile_hls(sparqc, model, tmp_path / "pkg", "--pe-balance", "32:0")
    assert "20 outputs" in csim(pkg)
    assert not (pkg / "weights_data.h").exists()
    x = np.load(pkg / "testbench" / "input.npy")
    want = ese_model.fc_reference(w, x)
    err = np.abs(engine_output(pkg, want.shape) - want).max()
    print(f"full-size FC stack: max |engine - float| = {err:.5f} (outputs up to "
          f"{np.abs(want).max():.2f})")
    assert err <= FLOAT_ATOL
    assert cycles(pkg)["load_balance"] >= 0.95


def test_small_ese_lstm_with_peepholes_and_projection(sparqc: Path, tmp_path: Path) -> None:
    model = tmp_path / "ese.onnx"
    w = ese_model.ese_lstm(model, steps=6, inputs=20, hidden=32, projection=16,
                           density=0.3, balance_pes=8)
    # Pruned with load balance already: --pe-balance 8:0 only interleaves.
    pkg = compile_hls(sparqc, model, tmp_path / "pkg", "--pe-balance", "8:0")
    csim(pkg)
    x = np.load(pkg / "testbench" / "input.npy")
    want = ese_model.ese_reference(w, x)
    got = engine_output(pkg, want.shape)
    err = np.abs(got - want).max()
    print(f"small ESE LSTM: max |engine - float| = {err:.5f}")
    assert err <= FLOAT_ATOL
    header = (pkg / "model.h").read_text()
    assert "#define SPARQ_PES 8" in header
    source = (pkg / "model.cpp").read_text()
    assert "sparq_lstm<SPARQ_PES, 32, 20, SPARQ_STEPS>" in source
    assert "icsc8/4b+q" in source  # pe-balance's interleaving, 12-bit values


def test_codebook_values(sparqc: Path, tmp_path: Path) -> None:
    """4-bit codebook weights stay codebooks in the engine (EIE's values):
    16 centroids rounded to 12 bits, read by index."""
    model = tmp_path / "fc.onnx"
    ese_model.fc_stack(model, [48, 40, 8], batch=1, density=0.5)
    pkg = compile_hls(sparqc, model, tmp_path / "pkg", "--codebook", "4")
    csim(pkg)
    source = (pkg / "model.cpp").read_text()
    assert source.count("+cb4") == 2 and "kW0Table[16]" in source


def full_size(tmp_path: Path, name: str, **kw) -> tuple[Path, dict]:
    model = tmp_path / f"{name}.onnx"
    return model, ese_model.ese_lstm(model, **kw)


def test_full_size_ese_lstm(sparqc: Path, tmp_path: Path) -> None:
    """ESE's model: 1024 cells with peepholes, 153 inputs, a 512 projection,
    pruned to 11% with load balance over 32 PEs; C-simulated bit-exact."""
    model, w = full_size(tmp_path, "ese", density=0.11, balance_pes=32)
    start = time.monotonic()
    pkg = compile_hls(sparqc, model, tmp_path / "pkg", "--pe-balance", "32:0")
    compiled = time.monotonic() - start
    csim(pkg)
    print(f"full-size ESE: compile {compiled:.1f} s, compile + C-simulation "
          f"{time.monotonic() - start:.1f} s")
    assert not (pkg / "weights_data.h").exists()  # read from model.weights
    x = np.load(pkg / "testbench" / "input.npy")
    want = ese_model.ese_reference(w, x)
    err = np.abs(engine_output(pkg, want.shape) - want).max()
    print(f"full-size ESE: max |engine - float| = {err:.5f} (outputs up to "
          f"{np.abs(want).max():.2f})")
    assert err <= FLOAT_ATOL
    c = cycles(pkg)
    assert c["load_balance"] >= 0.95 and c["pe_busy"] >= 0.9, c
    source = (pkg / "model.cpp").read_text()
    assert re.search(r"R 4096x1024 icsc32/4b\+q\d+\.\d+ \(\d+ non-zeros", source)


def test_load_balance_aware_pruning_beats_plain(sparqc: Path, tmp_path: Path) -> None:
    """The same full-size LSTM at the same sparsity, pruned plainly (by
    magnitude per matrix) and with ESE's load balance: balanced takes fewer
    cycles, its PEs are evenly loaded and busier."""
    model, _ = full_size(tmp_path, "ese")
    plain = cycles(compile_hls(sparqc, model, tmp_path / "plain", "--prune",
                               "element:0.89"))
    balanced = cycles(compile_hls(sparqc, model, tmp_path / "balanced", "--pe-balance",
                                  "32:0.89"))
    print("plain", plain, "\nbalanced", balanced)
    assert balanced["cycles"] < plain["cycles"]
    assert balanced["load_balance"] >= 0.95 > plain["load_balance"]
    assert balanced["pe_busy"] > plain["pe_busy"]


def test_an_op_the_engine_cannot_run(sparqc: Path, tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [w])
    model = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(model))
    out = tmp_path / "pkg"
    proc = subprocess.run([str(sparqc), "compile", str(model), "--target", "hls", "-o",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "node 'conv1'" in proc.stderr and "cannot run Conv" in proc.stderr, proc.stderr
    assert not out.exists()
