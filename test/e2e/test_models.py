"""End to end: PyTorch models exported to ONNX, run by sparqc, compared with PyTorch.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pytest

try:
    import torch
    from torch import nn
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

# The run_sparqc fixture of conftest.py (not imported: conftest is no module).
from torch_modules import PreNormBlock, TwoLayerLSTM  # noqa: E402

RunSparqc = Callable[..., dict[str, np.ndarray]]
RTOL = 1e-3
ATOL = 1e-4
SEED = 0


def export(model: nn.Module, args: tuple[torch.Tensor, ...], path: Path,
           input_names: Sequence[str], output_names: Sequence[str], opset: int = 13,
           dynamic_axes: Optional[dict[str, dict[int, str]]] = None) -> Path:
    model.eval()
    # Grad stays enabled: under no_grad, eval-mode nn.MultiheadAttention takes
    # its fused fast path, which torch 1.13 cannot export.
    torch.onnx.export(model, args, str(path), input_names=list(input_names),
                      output_names=list(output_names), opset_version=opset,
                      dynamic_axes=dynamic_axes)
    return path


def flatten(value: Any) -> list[np.ndarray]:
    """PyTorch outputs, nested tuples included, in ONNX output order."""
    if isinstance(value, torch.Tensor):
        return [value.detach().numpy()]
    return [array for item in value for array in flatten(item)]


def reference(model: nn.Module, *args: torch.Tensor) -> list[np.ndarray]:
    model.eval()
    with torch.no_grad():
        return flatten(model(*args))


def assert_outputs_match(got: dict[str, np.ndarray], expected: list[np.ndarray],
                         output_names: Sequence[str]) -> None:
    assert len(expected) == len(output_names)
    for name, want in zip(output_names, expected):
        assert got[name].shape == want.shape, f"output '{name}': shape"
        np.testing.assert_allclose(got[name], want, rtol=RTOL, atol=ATOL,
                                   err_msg=f"output '{name}'")


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallCNN(nn.Module):
    """Conv+BN+ReLU stem, an identity and a strided residual block, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.block1 = ResidualBlock(16, 16, 1)
        self.block2 = ResidualBlock(16, 32, 2)
        self.head = nn.Linear(32, 10)
        # Fresh BN statistics are 0/1, which would hide a wrong BN fold.
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.5, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.block1(self.stem(x)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def small_cnn() -> SmallCNN:
    torch.manual_seed(SEED)
    return SmallCNN()


def images(batch: int, size: int) -> torch.Tensor:
    torch.manual_seed(SEED + 1)
    return torch.randn(batch, 3, size, size)


@pytest.mark.parametrize("input_format", ["npy", "npz", "pb"])
def test_small_cnn(input_format: str, tmp_path: Path, run_sparqc: RunSparqc) -> None:
    model, x = small_cnn(), images(2, 32)
    path = export(model, (x,), tmp_path / "cnn.onnx", ["input"], ["logits"])
    got = run_sparqc(path, {"input": x.numpy()}, ["logits"], input_format=input_format)
    assert_outputs_match(got, reference(model, x), ["logits"])


def test_small_cnn_timing(tmp_path: Path, run_sparqc: RunSparqc) -> None:
    model, x = small_cnn(), images(2, 32)
    path = export(model, (x,), tmp_path / "cnn.onnx", ["input"], ["logits"])
    timing = tmp_path / "timing.json"
    got = run_sparqc(path, {"input": x.numpy()}, ["logits"],
                     extra_args=["--repeat", "3", "--timing-json", str(timing)])
    assert_outputs_match(got, reference(model, x), ["logits"])
    report = json.loads(timing.read_text())
    assert isinstance(report["compile_ms"], (int, float)) and report["compile_ms"] >= 0
    assert len(report["run_ms"]) == 3
    assert all(isinstance(t, (int, float)) and t >= 0 for t in report["run_ms"])


@pytest.mark.parametrize("with_shape", [False, True], ids=["from_input", "shape_flag"])
def test_small_cnn_dynamic_batch(with_shape: bool, tmp_path: Path,
                                 run_sparqc: RunSparqc) -> None:
    model = small_cnn()
    path = export(model, (images(2, 32),), tmp_path / "cnn_dyn.onnx", ["input"], ["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    x = images(3, 32)  # a batch other than the one exported with
    extra = ["--shape", "input=3x3x32x32"] if with_shape else []
    got = run_sparqc(path, {"input": x.numpy()}, ["logits"], extra_args=extra)
    assert_outputs_match(got, reference(model, x), ["logits"])


def torchvision_model(name: str) -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    builder = getattr(torchvision.models, name)
    torch.manual_seed(SEED)
    try:
        return builder(weights=None)
    except TypeError:  # torchvision < 0.13
        return builder(pretrained=False)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision(name: str, tmp_path: Path, run_sparqc: RunSparqc) -> None:
    model, x = torchvision_model(name), images(1, 224)
    path = export(model, (x,), tmp_path / f"{name}.onnx", ["input"], ["logits"])
    got = run_sparqc(path, {"input": x.numpy()}, ["logits"])
    assert_outputs_match(got, reference(model, x), ["logits"])


class GroupedConvs(nn.Module):
    """Grouped convolutions: 4 groups with a bias, 8 strided without one, a
    depthwise one with a channel multiplier of 2, and a dilated one."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.b = nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=8, bias=False)
        self.c = nn.Conv2d(32, 64, 3, padding=1, groups=32)
        self.d = nn.Conv2d(64, 32, 3, padding=2, dilation=2, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        y = torch.relu(self.b(y))
        return self.d(torch.relu(self.c(y)))


def test_grouped_convs_on_the_kernel(tmp_path: Path, run_sparqc: RunSparqc,
                                     sparqc: Path) -> None:
    """Grouped convolutions match PyTorch, each one call of the grouped
    kernel (the plain convolution kernel group by group), not generated
    loops."""
    torch.manual_seed(0)
    model, x = GroupedConvs().eval(), torch.randn(1, 16, 20, 20)
    path = export(model, (x,), tmp_path / "grouped.onnx", ["x"], ["y"])
    got = run_sparqc(path, {"x": x.numpy()}, ["y"])
    assert_outputs_match(got, reference(model, x), ["y"])
    np.save(tmp_path / "x.npy", x.numpy())
    llvm = subprocess.run([str(sparqc), "run", str(path), "-i", f"x={tmp_path / 'x.npy'}",
                           "--emit", "llvm"], capture_output=True, text=True, timeout=300)
    assert llvm.returncode == 0, llvm.stderr
    assert llvm.stdout.count("call @sparq_grouped_conv2d_nchw_f32") == 4


def test_lstm(tmp_path: Path, run_sparqc: RunSparqc) -> None:
    torch.manual_seed(SEED)
    model = TwoLayerLSTM()
    x = torch.randn(5, 2, 16)  # (seq, batch, features)
    names = ["output", "h_n", "c_n"]
    path = export(model, (x,), tmp_path / "lstm.onnx", ["x"], names)
    got = run_sparqc(path, {"x": x.numpy()}, names)
    assert_outputs_match(got, reference(model, x), names)


# Opset 17 exports LayerNormalization as one op, 14 as its decomposition.
@pytest.mark.parametrize("opset", [14, 17])
def test_transformer_block(opset: int, tmp_path: Path, run_sparqc: RunSparqc) -> None:
    torch.manual_seed(SEED)
    model = PreNormBlock()
    x = torch.randn(2, 10, 64)  # (batch, seq, embed)
    path = export(model, (x,), tmp_path / "block.onnx", ["x"], ["y"], opset=opset)
    got = run_sparqc(path, {"x": x.numpy()}, ["y"])
    assert_outputs_match(got, reference(model, x), ["y"])


def test_external_data_inside_model_folder(tmp_path, sparqc) -> None:
    """Initializers stored as external data beside the model load and run:
    a small one (read) and one of 128 KiB (mapped, runtime/io/TensorBytes.h),
    and a Constant node's tensor (torch.onnx.export puts large ones there
    for models over 2 GiB)."""
    import onnx
    from onnx import TensorProto, external_data_helper, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    w2 = rng.standard_normal((32, 1024)).astype(np.float32)
    c = rng.standard_normal((1024,)).astype(np.float32)
    # The Constant's tensor in a file of its own (onnx 1.12's save leaves
    # attribute tensors inline).
    const = numpy_helper.from_array(c, "c")
    external_data_helper.set_external_data(const, location="const.bin")
    const.ClearField("raw_data")
    const.data_location = TensorProto.EXTERNAL
    x = rng.standard_normal((2, 64)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
         helper.make_node("MatMul", ["h", "w2"], ["p"], name="mm2"),
         helper.make_node("Constant", [], ["c"], name="c", value=const),
         helper.make_node("Add", ["p", "c"], ["y"], name="add")], "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1024])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    onnx.save_model(model, str(model_dir / "m.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=0)
    c.tofile(model_dir / "const.bin")
    assert (model_dir / "weights.bin").stat().st_size == w.nbytes + w2.nbytes
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    proc = subprocess.run([str(sparqc), "run", str(model_dir / "m.onnx"),
                           "-i", f"x={tmp_path / 'x.npy'}", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    want = (x.astype(np.float64) @ w) @ w2 + c
    np.testing.assert_allclose(np.load(out / "y.npy"), want, rtol=1e-4, atol=1e-4)
