"""QDQ models run their convolutions on integer kernels and match onnxruntime.

A small CNN exported from PyTorch is quantized by onnxruntime's own quantizer
(quantize_static, QDQ format, uint8 activations per tensor, int8 weights per
channel: what people ship), in the project venv (bench/requirements.txt), and
run by sparqc and by onnxruntime on the same inputs. sparqc must build every
Conv on integers (calls of the int8 kernel, requantizing to uint8 in its
epilogue, in the lowered IR; int8 in the report), its max pool and residual
Add on the uint8 activations, and give onnxruntime's outputs (running the
graph op by op: see RUN_ORT) to within one quantization step of the output.
The QLinear* and *Integer forms are checked against ONNX's reference
implementation.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_qdq.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
onnx = pytest.importorskip("onnx", reason="needs Debian's /usr/bin/python3")
from onnx import numpy_helper  # noqa: E402
from torch import nn  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VENV_PY = REPO / ".venv" / "bin" / "python"

QUANTIZE = """
import sys, numpy as np
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat,
                                      QuantType, quantize_static)
calib = np.load(sys.argv[3])
class Reader(CalibrationDataReader):
    def __init__(self): self.i = 0
    def get_next(self):
        self.i += 1
        return {"x": calib[self.i - 1:self.i]} if self.i <= len(calib) else None
quantize_static(sys.argv[1], sys.argv[2], Reader(), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8)
"""

# onnxruntime runs each op of the graph as written (graph optimizations off).
# Fused, its int8 kernels multiply uint8 by int8 with vpmaddubsw on CPUs
# without VNNI, whose pairwise int16 sums saturate: on an AVX2-only AMD EPYC
# its outputs were up to 34 quantization steps off the ONNX definition. Op
# by op, DQ -> Conv -> Q is the definition on any CPU.
RUN_ORT = """
import sys, numpy as np, onnxruntime as ort
o = ort.SessionOptions()
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
np.save(sys.argv[3], s.run(None, {"x": np.load(sys.argv[2])})[0])
"""

# QLinearConv, QLinearMatMul and MatMulInteger run on those saturating
# kernels in onnxruntime whatever its options: their reference is ONNX's
# own implementation of the definition (onnx.reference, in the venv).
RUN_REFERENCE = """
import sys, numpy as np, onnx
from onnx.reference import ReferenceEvaluator
r = ReferenceEvaluator(onnx.load(sys.argv[1]))
np.save(sys.argv[3], r.run(None, {"x": np.load(sys.argv[2])})[0])
"""


def venv_has_quantizer() -> bool:
    if not VENV_PY.is_file():
        return False
    probe = subprocess.run([str(VENV_PY), "-c",
                            "import onnxruntime.quantization.quantize"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not venv_has_quantizer(),
    reason=f"onnxruntime's quantizer is not importable by {VENV_PY} "
           "(bash scripts/setup.sh installs bench/requirements.txt)")


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c = nn.Conv2d(32, 32, 1)
        self.d = nn.Conv2d(32, 24, (1, 5), padding=(0, 2), dilation=1)
        self.e = nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24)
        self.fc = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        y = nn.functional.max_pool2d(y, 3, stride=1, padding=1)
        y = torch.relu(self.b(y))
        y = torch.relu(self.c(y) + y)
        y = self.e(torch.relu(self.d(y)))
        return self.fc(y.mean(dim=(2, 3)))


class GroupedCNN(nn.Module):
    """Grouped convolutions of 4 and 8 channels a group (ResNeXt's kind),
    one with a bias and padding, one strided without a bias."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.a = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.b = nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        return self.b(torch.relu(self.a(y)))


def quantized_model(tmp_path: Path, module: type = SmallCNN) -> tuple[Path, np.ndarray]:
    torch.manual_seed(0)
    model = module().eval()
    x = torch.randn(1, 3, 24, 24)
    fp32 = tmp_path / "cnn.onnx"
    torch.onnx.export(model, (x,), str(fp32), input_names=["x"], output_names=["y"],
                      opset_version=13)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(1).normal(0, 1, (8, 3, 24, 24)).astype(np.float32))
    qdq = tmp_path / "cnn_qdq.onnx"
    proc = subprocess.run([str(VENV_PY), "-c", QUANTIZE, str(fp32), str(qdq), str(calib)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return qdq, np.random.default_rng(2).normal(0, 1, (1, 3, 24, 24)).astype(np.float32)


def output_step(model: onnx.ModelProto) -> float:
    """The scale of the DequantizeLinear that makes the graph's output."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = model.graph.output[0].name
    for node in model.graph.node:
        if node.output[0] == out and node.op_type == "DequantizeLinear":
            return float(inits[node.input[1]])
    pytest.fail("the quantizer left the output without a DequantizeLinear")


def weight_formats(sparqc: Path, model: Path, tmp_path: Path, ops: tuple) -> list:
    """The report's weight formats of the layers of `ops`, in order."""
    report = tmp_path / "report.json"
    rep = subprocess.run([str(sparqc), "report", str(model), "--json", str(report)],
                         capture_output=True, text=True, timeout=600)
    assert rep.returncode == 0, rep.stderr
    layers = json.loads(report.read_text())
    layers = layers["layers"] if isinstance(layers, dict) else layers
    return [w["format"] for layer in layers if layer["op"] in ops
            for w in layer.get("weights", [])]


def expect_matches_onnxruntime(sparqc: Path, qdq: Path, x: np.ndarray,
                               tmp_path: Path) -> None:
    """sparq's output of the QDQ model `qdq` on `x` is within one quantization
    step of onnxruntime's (op by op), and mostly equal."""
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([str(VENV_PY), "-c", RUN_ORT, str(qdq), str(tmp_path / "x.npy"),
                           str(tmp_path / "ort.npy")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    want = np.load(tmp_path / "ort.npy")
    out = tmp_path / "out"
    run = subprocess.run([str(sparqc), "run", str(qdq), "-i", f"x={tmp_path / 'x.npy'}",
                          "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    got = np.load(out / "y.npy")
    step = output_step(onnx.load(str(qdq)))
    assert got.shape == want.shape
    steps = np.abs(got - want) / step
    assert steps.max() <= 1.0 + 1e-3, f"{steps.max():.2f} quantization steps off"
    # Most outputs agree exactly: only roundings at a tie may differ.
    assert (steps < 0.5).mean() >= 0.9


def test_qdq_cnn_on_integer_kernels_matches_onnxruntime(sparqc: Path, tmp_path: Path) -> None:
    qdq, x = quantized_model(tmp_path)
    expect_matches_onnxruntime(sparqc, qdq, x, tmp_path)

    # Every Conv ran on an int8 kernel (the depthwise one on its own), the
    # fc's Gemm too (a 1x1 convolution of its rows), and the report says int8.
    convs = sum(n.op_type == "Conv" for n in onnx.load(str(qdq)).graph.node)
    gemms = sum(n.op_type == "Gemm" for n in onnx.load(str(qdq)).graph.node)
    llvm = subprocess.run([str(sparqc), "run", str(qdq), "-i", f"x={tmp_path / 'x.npy'}",
                           "--emit", "llvm"], capture_output=True, text=True, timeout=600)
    assert llvm.returncode == 0, llvm.stderr
    # Each Conv's and the Gemm's output goes to a QuantizeLinear: the kernel
    # requantizes it in its epilogue (uint8 out), reading weights packed at
    # compile time.
    assert gemms == 1
    assert llvm.stdout.count("call @sparq_packed_conv2d_nchw_s8s8_requant") == \
        convs - 1 + gemms == 5
    assert llvm.stdout.count("call @sparq_depthwise_nchw_s8s8_requant") == 1
    assert "_s8s8_i32" not in llvm.stdout
    # The max pool runs on the uint8 activations, the residual Add (+ ReLU)
    # on bytes: no float tensor between the layers.
    assert llvm.stdout.count("call @sparq_maxpool2d_nchw_u8") == 1
    assert llvm.stdout.count("call @sparq_qadd_i8") == 1
    assert "call @sparq_maxpool2d_nchw_f32" not in llvm.stdout
    assert weight_formats(sparqc, qdq, tmp_path, ("Conv",)) == ["int8/ch (QDQ)"] * 5


def test_qdq_grouped_convs_on_integer_kernels(sparqc: Path, tmp_path: Path) -> None:
    """A grouped Conv of a QDQ model runs on the int8 convolution kernel,
    group by group (conv_2d_ngchw_gfchw, ops/NeuralNet.cpp), not as float
    arithmetic or generated loops, and matches onnxruntime op by op within a
    quantization step."""
    qdq, x = quantized_model(tmp_path, GroupedCNN)
    expect_matches_onnxruntime(sparqc, qdq, x, tmp_path)
    llvm = subprocess.run([str(sparqc), "run", str(qdq), "-i", f"x={tmp_path / 'x.npy'}",
                           "--emit", "llvm"], capture_output=True, text=True, timeout=600)
    assert llvm.returncode == 0, llvm.stderr
    # The stem on the packed int8 kernel, the two grouped ones on the int8
    # kernel group by group; no float convolution.
    assert llvm.stdout.count("call @sparq_packed_conv2d_nchw_s8s8_requant") == 1
    assert llvm.stdout.count("call @sparq_grouped_conv2d_nchw_s8s8_i32") == 2
    assert "conv2d_nchw_f32" not in llvm.stdout
    assert weight_formats(sparqc, qdq, tmp_path, ("Conv",)) == ["int8/ch (QDQ)"] * 3


def test_qdq_add_relu_on_bytes_matches_onnxruntime(sparqc: Path, tmp_path: Path) -> None:
    """DQ(a) + DQ(b) -> Relu -> Q, a uint8 and b int8 with their own scales
    and zero points: one byte kernel call, onnxruntime's bytes within one
    step (ties may round apart)."""
    from onnx import TensorProto, helper

    shape = [1, 8, 9, 10]
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "sa"),
        numpy_helper.from_array(np.array(130, np.uint8), "za"),
        numpy_helper.from_array(np.array(0.03, np.float32), "sb"),
        numpy_helper.from_array(np.array(-5, np.int8), "zb"),
        numpy_helper.from_array(np.array(0.04, np.float32), "sy"),
        numpy_helper.from_array(np.array(10, np.uint8), "zy"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["a", "sa", "za"], ["qa"]),
        helper.make_node("QuantizeLinear", ["b", "sb", "zb"], ["qb"]),
        helper.make_node("DequantizeLinear", ["qa", "sa", "za"], ["da"]),
        helper.make_node("DequantizeLinear", ["qb", "sb", "zb"], ["db"]),
        helper.make_node("Add", ["da", "db"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "sy", "zy"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "qadd",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "qadd.onnx"
    onnx.save(model, str(path))
    rng = np.random.default_rng(3)
    for name in "ab":
        np.save(tmp_path / f"{name}.npy", rng.normal(0, 3, shape).astype(np.float32))
    run_ort = RUN_ORT.replace('{"x": np.load(sys.argv[2])}',
                              '{"a": np.load(sys.argv[2] + "/a.npy"), '
                              '"b": np.load(sys.argv[2] + "/b.npy")}')
    proc = subprocess.run([str(VENV_PY), "-c", run_ort, str(path), str(tmp_path),
                           str(tmp_path / "ort.npy")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    want = np.load(tmp_path / "ort.npy").astype(np.int32)
    args = [str(sparqc), "run", str(path), "-i", f"a={tmp_path / 'a.npy'}",
            "-i", f"b={tmp_path / 'b.npy'}"]
    run = subprocess.run(args + ["-o", str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    got = np.load(tmp_path / "out" / "y.npy").astype(np.int32)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() >= 0.95
    assert got.min() >= 10  # the Relu: nothing below the zero point
    llvm = subprocess.run(args + ["--emit", "llvm"], capture_output=True, text=True,
                          timeout=600)
    assert llvm.returncode == 0, llvm.stderr
    assert llvm.stdout.count("call @sparq_qadd_i8") == 1


def qlinear_model(tmp_path: Path, integer: bool) -> tuple[Path, dict]:
    """A QLinearConv (integer=False) or ConvInteger (True) of uint8
    activations and constant int8 weights per channel (3x3, stride 2,
    padding 1), with an int32 bias for QLinearConv."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(4)
    w = rng.integers(-127, 128, (6, 5, 3, 3)).astype(np.int8)
    values = {"w": w, "xz": np.array(121, np.uint8), "wz": np.zeros(6, np.int8)}
    if integer:
        node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"],
                                pads=[1, 1, 1, 1], strides=[2, 2])
        out = helper.make_tensor_value_info("y", TensorProto.INT32, None)
    else:
        values.update(xs=np.array(0.02, np.float32),
                      ws=rng.uniform(0.001, 0.01, 6).astype(np.float32),
                      ys=np.array(0.3, np.float32), yz=np.array(7, np.uint8),
                      b=rng.integers(-2000, 2000, 6).astype(np.int32))
        node = helper.make_node("QLinearConv",
                                ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                                ["y"], pads=[1, 1, 1, 1], strides=[2, 2])
        out = helper.make_tensor_value_info("y", TensorProto.UINT8, None)
    inits = [numpy_helper.from_array(v, k) for k, v in values.items()]
    graph = helper.make_graph(
        [node], "qlinear",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 5, 11, 13])],
        [out], inits)
    path = tmp_path / "qlinear.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(path))
    return path, values


@pytest.mark.parametrize("integer", [False, True], ids=["QLinearConv", "ConvInteger"])
def test_qlinear_forms_on_the_int8_kernel(sparqc: Path, tmp_path: Path,
                                          integer: bool) -> None:
    """QLinearConv and ConvInteger with constant int8 weights run on the int8
    convolution kernel (requantizing for QLinearConv): ConvInteger's int32
    sums exactly as numpy computes them, QLinearConv's bytes as its
    definition computed in numpy gives them, within one step."""
    path, v = qlinear_model(tmp_path, integer)
    x = np.random.default_rng(5).integers(0, 256, (1, 5, 11, 13)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    args = [str(sparqc), "run", str(path), "-i", f"x={tmp_path / 'x.npy'}"]
    run = subprocess.run(args + ["-o", str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    got = np.load(tmp_path / "out" / "y.npy").astype(np.int64)
    # The sums straight from the definition: padding holds the zero point.
    xp = np.pad(x.astype(np.int64) - int(v["xz"]), ((0, 0), (0, 0), (1, 1), (1, 1)))
    sums = np.zeros((1, 6, 6, 7), np.int64)
    for ky in range(3):
        for kx in range(3):
            patch = xp[:, :, ky:ky + 12:2, kx:kx + 14:2]
            sums += np.einsum("nchw,fc->nfhw", patch, v["w"][:, :, ky, kx].astype(np.int64))
    llvm = subprocess.run(args + ["--emit", "llvm"], capture_output=True, text=True,
                          timeout=600)
    assert llvm.returncode == 0, llvm.stderr
    if integer:
        np.testing.assert_array_equal(got, sums)
        # Its weights packed at compile time, not on every call.
        assert llvm.stdout.count("call @sparq_packed_conv2d_nchw_s8s8_i32") == 1
        assert "call @sparq_conv2d_nchw_s8s8_i32" not in llvm.stdout
        return
    assert llvm.stdout.count("call @sparq_packed_conv2d_nchw_s8s8_requant") == 1
    # The definition's bytes (onnx.reference has no per-channel w_scale):
    # (sums + bias) * xs * ws / ys, rounded to even, + yz, saturated.
    factor = (v["xs"] * v["ws"] / v["ys"]).astype(np.float64)[None, :, None, None]
    want = np.rint((sums + v["b"][None, :, None, None]) * factor) + int(v["yz"])
    want = np.clip(want, 0, 255).astype(np.int64)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() >= 0.95
    # Not all saturated: the test means something.
    assert 0.2 < ((got > 7) & (got < 255)).mean()


class SmallMLP(nn.Module):
    """A MatMul on 3-D activations (a Linear of [B, T, C], exported as
    MatMul + Add), then Gemms (Linears on rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(40, 64)
        self.b = nn.Linear(64, 48)
        self.c = nn.Linear(48, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x)).reshape(-1, 64)
        return self.c(torch.relu(self.b(y)))


def exported_mlp(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    fp32 = tmp_path / "mlp.onnx"
    torch.onnx.export(SmallMLP().eval(), (torch.randn(2, 5, 40),), str(fp32),
                      input_names=["x"], output_names=["y"], opset_version=13)
    return fp32


def run_both(sparqc: Path, model: Path, x: np.ndarray, tmp_path: Path,
             reference: str = RUN_ORT) -> tuple:
    """sparqc's and the reference's outputs (onnxruntime op by op, or
    RUN_REFERENCE), and sparqc's kernel calls."""
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([str(VENV_PY), "-c", reference, str(model), str(tmp_path / "x.npy"),
                           str(tmp_path / "ort.npy")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    args = [str(sparqc), "run", str(model), "-i", f"x={tmp_path / 'x.npy'}"]
    run = subprocess.run(args + ["-o", str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    llvm = subprocess.run(args + ["--emit", "llvm"], capture_output=True, text=True,
                          timeout=600)
    assert llvm.returncode == 0, llvm.stderr
    return np.load(tmp_path / "out" / "y.npy"), np.load(tmp_path / "ort.npy"), llvm.stdout


def test_qdq_matmul_and_gemm_on_integer_kernels(sparqc: Path, tmp_path: Path) -> None:
    """onnxruntime's static QDQ quantizer on Linears: the MatMul and the
    Gemms multiply the bytes on the int8 kernel (every row of the batch in
    one GEMM) and requantize in its epilogue; outputs within one step of
    onnxruntime's."""
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(1).normal(0, 1, (8, 2, 5, 40)).astype(np.float32))
    qdq = tmp_path / "mlp_qdq.onnx"
    quantize = QUANTIZE.replace('calib[self.i - 1:self.i]', 'calib[self.i - 1]')
    proc = subprocess.run([str(VENV_PY), "-c", quantize, str(exported_mlp(tmp_path)),
                           str(qdq), str(calib)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    x = np.random.default_rng(2).normal(0, 1, (2, 5, 40)).astype(np.float32)
    got, want, llvm = run_both(sparqc, qdq, x, tmp_path)
    assert got.shape == want.shape == (10, 10)
    steps = np.abs(got - want) / output_step(onnx.load(str(qdq)))
    assert steps.max() <= 1.0 + 1e-3, f"{steps.max():.2f} quantization steps off"
    assert (steps < 0.5).mean() >= 0.9
    ops = [n.op_type for n in onnx.load(str(qdq)).graph.node]
    assert ops.count("MatMul") == 1 and ops.count("Gemm") == 2
    # Each output goes to a QuantizeLinear (the quantizer puts the MatMul's
    # bias Add after one): all three requantize in the kernel.
    assert llvm.count("call @sparq_packed_conv2d_nchw_s8s8_requant") == 3
    assert "_s8s8_i32" not in llvm
    assert "@sparq_dense_gemm" not in llvm and "@sparq_packed_linear" not in llvm
    assert weight_formats(sparqc, qdq, tmp_path, ("MatMul", "Gemm")) == \
        ["int8/ch (QDQ)"] * 3


QUANTIZE_DYNAMIC = """
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
"""


def test_dynamic_quantized_matmul_integer_on_the_int8_kernel(sparqc: Path,
                                                           tmp_path: Path) -> None:
    """onnxruntime's dynamic quantizer (DynamicQuantizeLinear -> MatMulInteger,
    a zero point known only at run time): each MatMulInteger on the int8
    kernel, the outputs ONNX's reference implementation's."""
    dyn = tmp_path / "mlp_dyn.onnx"
    proc = subprocess.run([str(VENV_PY), "-c", QUANTIZE_DYNAMIC, str(exported_mlp(tmp_path)),
                           str(dyn)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    x = np.random.default_rng(3).normal(0, 1, (2, 5, 40)).astype(np.float32)
    got, want, llvm = run_both(sparqc, dyn, x, tmp_path, RUN_REFERENCE)
    assert got.shape == want.shape == (10, 10)
    # Integer sums are exact; the float steps around them round alike.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    count = [n.op_type for n in onnx.load(str(dyn)).graph.node].count("MatMulInteger")
    assert count == 3
    assert llvm.count("call @sparq_packed_conv2d_nchw_s8s8_i32") == count
    assert "call @sparq_conv2d_nchw_s8s8_i32" not in llvm


def test_qlinear_matmul_on_the_int8_kernel(sparqc: Path, tmp_path: Path) -> None:
    """QLinearMatMul of uint8 rows [2, 3, 37] and constant int8 weights per
    column: one requantizing call; the reference implementation's bytes
    within one step."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(6)
    values = {"as": np.array(0.02, np.float32), "az": np.array(118, np.uint8),
              "w": rng.integers(-127, 128, (37, 21)).astype(np.int8),
              "ws": rng.uniform(0.002, 0.01, 21).astype(np.float32),
              "wz": np.zeros(21, np.int8), "ys": np.array(0.25, np.float32),
              "yz": np.array(131, np.uint8)}
    node = helper.make_node("QLinearMatMul",
                            ["x", "as", "az", "w", "ws", "wz", "ys", "yz"], ["y"])
    graph = helper.make_graph(
        [node], "qlinear_matmul",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 3, 37])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
        [numpy_helper.from_array(v, k) for k, v in values.items()])
    path = tmp_path / "qlinear_matmul.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(path))
    x = rng.integers(0, 256, (2, 3, 37)).astype(np.uint8)
    got, want, llvm = run_both(sparqc, path, x, tmp_path, RUN_REFERENCE)
    got, want = got.astype(np.int64), want.astype(np.int64)
    assert got.shape == want.shape == (2, 3, 21)
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() >= 0.95
    assert 0.2 < ((got > 0) & (got < 255)).mean()
    assert llvm.count("call @sparq_packed_conv2d_nchw_s8s8_requant") == 1
