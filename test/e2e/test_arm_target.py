"""The arm target end to end. Each model is exported from PyTorch, compiled
with `sparqc compile --target arm` (a Halide pipeline built for
arm-64-linux, the C API and runner cross-compiled with aarch64-linux-gnu-g++),
run under qemu-aarch64 on the package's own runner, and its outputs compared
with the host target at the host's tolerances and with PyTorch.

Needs Halide 21 (the venv's halide package, or SPARQ_HALIDE_DIR),
aarch64-linux-gnu-g++ and qemu-aarch64 (scripts/setup.sh installs all
three); without them the tests skip with the reason.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_arm_target.py
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

try:
    import torch
    import torchvision
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

from test_models import GroupedConvs, small_cnn  # noqa: E402

RunSparqc = Callable[..., dict[str, np.ndarray]]
RTOL, ATOL = 1e-3, 1e-4
QEMU = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]

for tool in ("qemu-aarch64", "aarch64-linux-gnu-g++", "make"):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not found: the arm packages cannot be built and run "
                    "here (scripts/setup.sh installs it)", allow_module_level=True)


class Stencils(torch.nn.Module):
    """Pooling, resize (nearest and bilinear), a concat and a channel
    reduction: the stencil layers that are not convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        a = torch.nn.functional.max_pool2d(y, 3, stride=2, padding=1)
        b = torch.nn.functional.avg_pool2d(y, 2)
        up = torch.nn.functional.interpolate(a, scale_factor=2.0, mode="nearest")
        bi = torch.nn.functional.interpolate(b, scale_factor=2.0, mode="bilinear",
                                             align_corners=False)
        z = torch.cat([up, bi], dim=1)
        return torch.sigmoid(z).mean(dim=1, keepdim=True) * torch.tanh(z)


def build_model(name: str):
    torch.manual_seed(0)
    if name == "small_cnn":
        return small_cnn(), torch.randn(1, 3, 32, 32)
    if name in ("resnet18", "mobilenet_v2"):
        return getattr(torchvision.models, name)(), torch.randn(1, 3, 224, 224)
    if name == "grouped_convs":
        return GroupedConvs(), torch.randn(1, 16, 20, 20)
    if name == "stencils":
        return Stencils(), torch.randn(1, 3, 24, 24)
    raise KeyError(name)


MODELS = ["small_cnn", "resnet18", "mobilenet_v2", "grouped_convs", "stencils"]


def compile_arm(sparqc: Path, onnx_path: Path, pkg: Path, *flags: str) -> None:
    proc = subprocess.run([str(sparqc), "compile", str(onnx_path), "--target", "arm",
                           "-o", str(pkg), *flags],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 and "needs Halide" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr


def run_package(pkg: Path, inputs: list[Path], out: Path) -> np.ndarray:
    out.mkdir(exist_ok=True)
    run = subprocess.run([*QEMU, str(pkg / "sparq_run"), str(pkg), *map(str, inputs),
                          "-o", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    return np.load(out / "y.npy")


@pytest.mark.parametrize("name", MODELS)
def test_package_under_qemu_matches_host_and_pytorch(name: str, tmp_path: Path,
                                                     sparqc: Path,
                                                     run_sparqc: RunSparqc) -> None:
    model, x = build_model(name)
    model.eval()
    onnx_path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(onnx_path), input_names=["x"], output_names=["y"],
                      opset_version=16)
    with torch.no_grad():
        expected = model(x).numpy()
    np.save(tmp_path / "x.npy", x.numpy())
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, onnx_path, pkg)
    # An aarch64 program, run under qemu.
    assert b"\x7fELF" == (pkg / "sparq_run").read_bytes()[:4]
    assert (pkg / "sparq_run").read_bytes()[18] == 183  # e_machine EM_AARCH64
    got = run_package(pkg, [tmp_path / "x.npy"], tmp_path / "out")
    host = run_sparqc(onnx_path, {"x": x.numpy()}, ["y"])["y"]
    assert got.shape == host.shape == expected.shape
    np.testing.assert_allclose(got, host, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_package_is_what_the_readme_says(tmp_path: Path, sparqc: Path) -> None:
    model, x = build_model("small_cnn")
    onnx_path = tmp_path / "m.onnx"
    torch.onnx.export(model.eval(), (x,), str(onnx_path), input_names=["x"],
                      output_names=["y"], opset_version=16)
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, onnx_path, pkg)
    for f in ["pipeline.cpp", "sparq_pipeline.a", "sparq_pipeline.h", "sparq_pipeline.s",
              "model.cpp", "libsparq_model.a", "sparq_run", "sparq_model.h", "runner.cpp",
              "Makefile", "README.md", "model.weights", "model.json", "model.mlir",
              "schedule.txt"]:
        assert (pkg / f).is_file(), f
    # The weights are data: the pipeline takes them as buffers.
    assert (pkg / "model.weights").read_bytes()[:8] == b"SPARQWT1"
    assert "ImageParam" in (pkg / "pipeline.cpp").read_text()
    schedule = (pkg / "schedule.txt").read_text()
    # Every convolution is computed in register tiles of the Func after it.
    assert schedule.count("tiles holding") >= 5, schedule
    # NEON: the hot loops are vector FMAs on 4 floats.
    asm = (pkg / "sparq_pipeline.s").read_text()
    assert "fmla\tv" in asm and ".4s" in asm
    # The C API library holds the pipeline.
    nm = subprocess.run(["aarch64-linux-gnu-nm", str(pkg / "libsparq_model.a")],
                        capture_output=True, text=True)
    assert " T sparq_pipeline_argv" in nm.stdout and " T sparq_model_run" in nm.stdout


def test_same_pipeline_for_this_machine(tmp_path: Path, sparqc: Path,
                                        run_sparqc: RunSparqc) -> None:
    """--halide-target host: the same generator, built for x86 and run here
    (what bench/arm_x86.py compares with the host target)."""
    model, x = build_model("grouped_convs")
    onnx_path = tmp_path / "m.onnx"
    torch.onnx.export(model.eval(), (x,), str(onnx_path), input_names=["x"],
                      output_names=["y"], opset_version=16)
    np.save(tmp_path / "x.npy", x.numpy())
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, onnx_path, pkg, "--halide-target", "host")
    assert (pkg / "sparq_run").read_bytes()[18] == 62  # EM_X86_64
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([str(pkg / "sparq_run"), str(pkg), str(tmp_path / "x.npy"), "-o",
                          str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    host = run_sparqc(onnx_path, {"x": x.numpy()}, ["y"])["y"]
    np.testing.assert_allclose(np.load(out / "y.npy"), host, rtol=RTOL, atol=ATOL)


def test_unsupported_op_names_the_node(tmp_path: Path, sparqc: Path) -> None:
    class WithLstm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    onnx_path = tmp_path / "lstm.onnx"
    torch.onnx.export(WithLstm().eval(), (torch.randn(3, 1, 8),), str(onnx_path),
                      input_names=["x"], output_names=["y"], opset_version=16)
    pkg = tmp_path / "pkg"
    proc = subprocess.run([str(sparqc), "compile", str(onnx_path), "--target", "arm", "-o",
                           str(pkg)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "node '" in proc.stderr and "sparq.lstm" in proc.stderr, proc.stderr
    assert "arm target" in proc.stderr
    assert not pkg.exists()
