"""End to end: compressed models run compressed and equal the dense model with
the same masks and quantization applied.

The reference applies the compression with numpy, written here from the
papers' formulas (independent of runtime/formats), to the ONNX initializers,
and runs that model dense with `sparqc run --no-detect` (the dense path is
checked against PyTorch in test_models.py). The compressed run must match it
to rtol 1e-5.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
onnx = pytest.importorskip("onnx", reason="needs Debian's /usr/bin/python3")
from onnx import numpy_helper  # noqa: E402

from torch_modules import magnitude_prune  # noqa: E402
from test_models import (PreNormBlock, SmallCNN, TwoLayerLSTM, export,  # noqa: E402
                         images, small_cnn, torchvision_model)

RTOL, ATOL = 1e-5, 1e-6
Transform = Callable[[str, np.ndarray], np.ndarray]


def weights_in_order(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(initializer, consumer op) of the weights sparq compresses, in node
    order: 4-D Conv weights of group 1, 2-D Gemm/MatMul right operands, and
    LSTM W/R."""
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in inits:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if group == 1:
                out.append((node.input[1], "Conv"))
        elif node.op_type in ("Gemm", "MatMul") and node.input[1] in inits:
            if len(inits[node.input[1]].dims) == 2:
                trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
                out.append((node.input[1], "GemmT" if trans_b else "MatMul"))
        elif node.op_type == "LSTM":
            out += [(node.input[1], "LSTM"), (node.input[2], "LSTM")]
    return out


def as_rows(w: np.ndarray, op: str) -> list[np.ndarray]:
    """The [out, in] matrices sparq sees for a weight."""
    if op == "Conv":
        return [w.reshape(w.shape[0], -1)]
    if op == "GemmT":
        return [w]
    if op == "MatMul":
        return [w.T]
    return [w[d] for d in range(w.shape[0])]  # LSTM: one per direction


def from_rows(rows: list[np.ndarray], w: np.ndarray, op: str) -> np.ndarray:
    if op == "Conv":
        return rows[0].reshape(w.shape)
    if op == "GemmT":
        return rows[0]
    if op == "MatMul":
        return rows[0].T
    return np.stack(rows)


def transformed(src: Path, dst: Path, fn: Callable[[np.ndarray, str, int, int], np.ndarray]) -> None:
    """Writes src with fn(matrix, op, index, count) applied to each weight."""
    model = onnx.load(str(src))
    weights = weights_in_order(model)
    inits = {i.name: i for i in model.graph.initializer}
    for k, (name, op) in enumerate(weights):
        w = numpy_helper.to_array(inits[name]).astype(np.float32)
        if op == "Conv":
            new = fn(w, op, k, len(weights)).astype(np.float32)
        else:
            new = from_rows([fn(m, op, k, len(weights)) for m in as_rows(w, op)], w, op)
        inits[name].CopyFrom(numpy_helper.from_array(new.astype(np.float32), name))
    onnx.save(model, str(dst))


def drop_smallest(scores: np.ndarray, ratio: float) -> np.ndarray:
    """Keep-mask: the round(ratio * n) smallest scores go (ties: earlier first)."""
    flat = scores.ravel()
    drop = int(np.floor(ratio * flat.size + 0.5))
    keep = np.ones(flat.size, bool)
    keep[np.argsort(flat, kind="stable")[:drop]] = False
    return keep.reshape(scores.shape)


def prune(kind: str, ratio: float):
    def fn(w: np.ndarray, op: str, k: int, n: int) -> np.ndarray:
        if kind == "kernel" and w.ndim == 4:
            keep = drop_smallest(np.abs(w).sum(axis=(2, 3)), ratio)
            return w * keep[:, :, None, None]
        return w * drop_smallest(np.abs(w), ratio)  # element (kernel of a matrix)
    return fn


def ternarize(w: np.ndarray, op: str, k: int, n: int, t: float = 0.05) -> np.ndarray:
    if k == 0 or k == n - 1:  # TTQ keeps the first and last layers fp32
        return w
    delta = t * np.abs(w).max()
    wp = np.float32(w[w > delta].astype(np.float64).mean())
    wn = np.float32((-w[w < -delta]).astype(np.float64).mean())
    return np.where(w > delta, wp, np.where(w < -delta, -wn, np.float32(0))).astype(np.float32)


def int4_groups(group: int):
    """AWQ: scale = (max - min) / 15, zero = clamp(-round(min / scale), 0, 15)."""
    def fn(w: np.ndarray, op: str, k: int, n: int) -> np.ndarray:
        if op == "Conv":
            raise AssertionError("no convs in this model")
        g = w.reshape(w.shape[0], -1, group)
        lo, hi = g.min(axis=2, keepdims=True), g.max(axis=2, keepdims=True)
        scale = (np.maximum(hi - lo, np.float32(1e-5)) / np.float32(15)).astype(np.float32)
        zero = np.clip(-np.round(lo / scale), 0, 15)
        q = np.clip(np.round(g / scale) + zero, 0, 15)
        return ((q - zero) * scale).astype(np.float32).reshape(w.shape)
    return fn


def pe_balance(pes: int, ratio: float):
    def fn(w: np.ndarray, op: str, k: int, n: int) -> np.ndarray:
        out = w.copy()
        for p in range(pes):
            out[p::pes] *= drop_smallest(np.abs(w[p::pes]), ratio)
        return out
    return fn


def compare(sparqc: Path, run_sparqc, src: Path, tmp_path: Path, inputs: dict,
            names: list[str], recipe: list[str], fn) -> None:
    ref_model = tmp_path / "reference.onnx"
    transformed(src, ref_model, fn)
    want = run_sparqc(ref_model, inputs, names, extra_args=["--no-detect"])
    got = run_sparqc(src, inputs, names, extra_args=recipe)
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL,
                                   err_msg=f"output '{name}' with {recipe}")
    # The same recipe through `report`: every weight it touched is stored
    # compressed, and the JSON says how much smaller.
    report = tmp_path / "report.json"
    subprocess.run([str(sparqc), "report", str(src), *recipe, "--json", str(report)],
                   check=True, capture_output=True, timeout=600)
    layers = json.loads(report.read_text())["layers"]
    assert any(l.get("ratio", 1.0) > 1.0 for l in layers), layers


def test_resnet18_kernel_pruned(sparqc, run_sparqc, tmp_path: Path) -> None:
    model, x = torchvision_model("resnet18"), images(1, 224)
    src = export(model, (x,), tmp_path / "resnet18.onnx", ["input"], ["logits"])
    compare(sparqc, run_sparqc, src, tmp_path, {"input": x.numpy()}, ["logits"],
            ["--prune", "kernel:0.7"], prune("kernel", 0.7))


def test_cnn_element_pruned(sparqc, run_sparqc, tmp_path: Path) -> None:
    model, x = small_cnn(), images(2, 32)
    src = export(model, (x,), tmp_path / "cnn.onnx", ["input"], ["logits"])
    compare(sparqc, run_sparqc, src, tmp_path, {"input": x.numpy()}, ["logits"],
            ["--prune", "element:0.9"], prune("element", 0.9))


def test_cnn_ternary(sparqc, run_sparqc, tmp_path: Path) -> None:
    model, x = small_cnn(), images(2, 32)
    src = export(model, (x,), tmp_path / "cnn.onnx", ["input"], ["logits"])
    compare(sparqc, run_sparqc, src, tmp_path, {"input": x.numpy()}, ["logits"],
            ["--ternary"], ternarize)


def test_transformer_block_int4(sparqc, run_sparqc, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PreNormBlock()
    x = torch.randn(2, 10, 64)
    src = export(model, (x,), tmp_path / "block.onnx", ["x"], ["y"], opset=17)
    compare(sparqc, run_sparqc, src, tmp_path, {"x": x.numpy()}, ["y"],
            ["--int4", "group=32"], int4_groups(32))


def test_lstm_pe_balanced(sparqc, run_sparqc, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TwoLayerLSTM()
    x = torch.randn(5, 2, 16)
    names = ["output", "h_n", "c_n"]
    src = export(model, (x,), tmp_path / "lstm.onnx", ["x"], names)
    compare(sparqc, run_sparqc, src, tmp_path, {"x": x.numpy()}, names,
            ["--pe-balance", "8:0.8"], pe_balance(8, 0.8))


def test_transformer_block_int4_int8_activations(sparqc, run_sparqc, tmp_path: Path) -> None:
    """W4A8 at batch 1 (a decoder step): the MatMuls run as matrix-vector
    products on int8 activations. Their exact numerics are checked against
    a reference in test/unit/Int8GemvTest.cpp; here: the flag reaches the
    kernels (the output moves off the W4A32 one) by no more than int8
    rounding of x (half a step of max|x| / 127 per block) can explain."""
    torch.manual_seed(0)
    model = PreNormBlock()
    x = torch.randn(1, 1, 64)
    src = export(model, (x,), tmp_path / "block.onnx", ["x"], ["y"], opset=17)
    ref_model = tmp_path / "reference.onnx"
    transformed(src, ref_model, int4_groups(32))
    inputs = {"x": x.numpy()}
    want = run_sparqc(ref_model, inputs, ["y"], extra_args=["--no-detect"])["y"]
    w4 = run_sparqc(src, inputs, ["y"], extra_args=["--int4", "group=32"])["y"]
    got = run_sparqc(src, inputs, ["y"],
                     extra_args=["--int4", "group=32", "--int8-activations"])["y"]
    np.testing.assert_allclose(w4, want, rtol=RTOL, atol=ATOL)
    err = np.abs(got - want).max()
    print(f"max error {err:.3g}, max output {np.abs(want).max():.3g}")
    assert err > 1e-5, "int8 activations changed nothing: not applied"
    assert err < 0.01 * np.abs(want).max(), err
    report = tmp_path / "report.json"
    subprocess.run([str(sparqc), "report", str(src), "--int4", "group=32",
                    "--int8-activations", "--json", str(report)],
                   check=True, capture_output=True, timeout=600)
    formats = [w["format"] for l in json.loads(report.read_text())["layers"]
               for w in l["weights"]]
    assert formats and all(f.endswith("+a8") for f in formats), formats
    # Weights left f32 cannot take int8 activations: sparqc says so per layer.
    res = subprocess.run([str(sparqc), "compile", str(src), "--no-detect",
                          "--int8-activations"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert "warning: node '/attn/MatMul': sparq-quantize-activations" in res.stderr, res.stderr


def magnitude_pruned_lstm(density: float) -> TwoLayerLSTM:
    """TwoLayerLSTM with every weight matrix magnitude-pruned to `density`,
    as DSD/ESE training leaves it."""
    torch.manual_seed(0)
    return magnitude_prune(TwoLayerLSTM(), density)


def test_pruned_lstm_is_stored_compressed_by_default(sparqc, run_sparqc,
                                                     tmp_path: Path) -> None:
    """No flags: sparq-detect-compression finds the pruned recurrent weights
    (W and R of both layers), the report shows them sparse and smaller, and
    the compressed model still equals PyTorch."""
    model = magnitude_pruned_lstm(0.1)
    x = torch.randn(5, 2, 16)
    names = ["output", "h_n", "c_n"]
    src = export(model, (x,), tmp_path / "lstm.onnx", ["x"], names)
    report = tmp_path / "report.json"
    subprocess.run([str(sparqc), "report", str(src), "--json", str(report)],
                   check=True, capture_output=True, timeout=600)
    lstms = [l for l in json.loads(report.read_text())["layers"] if l["op"] == "LSTM"]
    assert len(lstms) == 2, lstms
    for layer in lstms:
        weights = layer["weights"]
        assert len(weights) == 2, layer
        for w in weights:
            assert w["format"] == "csr" and w["pattern"] == "element", w
            assert w["density"] <= 0.11 and w["ratio"] > 3.0, w
        assert layer["ratio"] > 3.0, layer
    got = run_sparqc(src, {"x": x.numpy()}, names)
    with torch.no_grad():
        want = model(x)
    want = [want[0], *want[1]]
    for name, w in zip(names, want):
        np.testing.assert_allclose(got[name], w.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
