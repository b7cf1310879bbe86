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
from torch_modules import Mlp, trained_batchnorm  # noqa: E402
import patchnet_model  # noqa: E402

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
        model = trained_batchnorm(getattr(torchvision.models, name)())
        return model, torch.randn(1, 3, 224, 224)
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


@pytest.mark.parametrize("model_name,recipe,layer,count", [
    ("mlp", ["--ternary"], "matmul, dense+ternary weight", 2),
    ("mlp", ["--int4", "group=8"], "matmul, dense+int4g8 weight", 4),
    ("mlp", ["--prune", "element:0.9"], "matmul, csr weight", 4),
    ("mlp", ["--prune", "2:4"], "matmul, nm2:4 weight", 4),
    ("mlp", ["--codebook", "4"], "matmul, dense+cb4 weight", 4),
    ("mlp", ["--codebook", "3"], "matmul, dense+cb3 weight", 4),
    ("cnn", ["--ternary"], "dense+ternary weight", 5),
    ("cnn", ["--prune", "element:0.9"], "csr weight", 7),
    ("cnn", ["--prune", "kernel:0.5"], "bcsr1x9 weight", 5),
    ("cnn", ["--int4", "group=8"], "dense+int8s weight", 6),
])
def test_compressed_weights_run_packed(model_name: str, recipe: list, layer: str,
                                       count: int, tmp_path: Path, sparqc: Path,
                                       run_sparqc: RunSparqc) -> None:
    """Compressed weights stay packed in the formats library's layout in
    model.weights and the pipeline decodes them where it reads them (dense
    codes per channel tile of a convolution, sparse entries as a sum over
    each row's entries): the MLP (matrix-vector products) and the small CNN,
    under qemu, against the host target with the same recipe."""
    torch.manual_seed(0)
    model = (Mlp() if model_name == "mlp" else small_cnn()).eval()
    x = torch.randn(1, 64) if model_name == "mlp" else torch.randn(1, 3, 32, 32)
    path = tmp_path / f"{model_name}.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                      opset_version=16)
    np.save(tmp_path / "x.npy", x.numpy())
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, path, pkg, *recipe)
    schedule = (pkg / "schedule.txt").read_text()
    assert schedule.count(f"{layer} (tile)") == count, schedule
    got = run_package(pkg, [tmp_path / "x.npy"], tmp_path / "out")
    host = run_sparqc(path, {"x": x.numpy()}, ["y"], extra_args=recipe)["y"]
    np.testing.assert_allclose(got, host, rtol=RTOL, atol=ATOL)


def export_mlp(tmp_path: Path) -> tuple[Path, torch.Tensor]:
    """The MLP at batch 1 as ONNX, and its input (also in x.npy)."""
    torch.manual_seed(0)
    x = torch.randn(1, 64)
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(Mlp().eval(), (x,), str(path), input_names=["x"], output_names=["y"],
                      opset_version=16)
    np.save(tmp_path / "x.npy", x.numpy())
    return path, x


def test_int4_mlp_on_int8_activations_uses_sdot(tmp_path: Path, sparqc: Path,
                                                run_sparqc: RunSparqc) -> None:
    """W4A8 at batch 1: x quantized to int8 per block as the host does, each
    block's codes times int8 x summed exactly in int32 by sdot (the
    arm_dot_prod version of the pipeline, which qemu's CPU runs), so the
    outputs match the host's at its tolerances."""
    path, x = export_mlp(tmp_path)
    recipe = ["--int4", "group=8", "--int8-activations"]
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, path, pkg, *recipe)
    assert (pkg / "schedule.txt").read_text().count("matvec on int8 activations") == 4
    assert "\tsdot\tv" in (pkg / "sparq_pipeline-t0.s").read_text()
    assert "sdot" not in (pkg / "sparq_pipeline-t1.s").read_text()
    got = run_package(pkg, [tmp_path / "x.npy"], tmp_path / "out")
    host = run_sparqc(path, {"x": x.numpy()}, ["y"], extra_args=recipe)["y"]
    w4 = run_sparqc(path, {"x": x.numpy()}, ["y"], extra_args=recipe[:2])["y"]
    np.testing.assert_allclose(got, host, rtol=RTOL, atol=ATOL)
    assert np.abs(got - w4).max() > 1e-6, "int8 activations changed nothing"


def test_ternary_mlp_on_int8_activations(tmp_path: Path, sparqc: Path,
                                         run_sparqc: RunSparqc) -> None:
    """Ternary weights on int8 activations: sums of int8 x over the +1 and
    the -1 codes (sdot), times Wp and Wn. The host quantizes its lookup
    tables (sums of x pairs) rather than x, so both are checked against the
    f32-activation result: within what int8 rounding of x explains (as
    test_compression.py bounds the host's)."""
    path, x = export_mlp(tmp_path)
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, path, pkg, "--ternary", "--int8-activations")
    got = run_package(pkg, [tmp_path / "x.npy"], tmp_path / "out")
    f32 = run_sparqc(path, {"x": x.numpy()}, ["y"], extra_args=["--ternary"])["y"]
    err = np.abs(got - f32).max()
    assert 1e-6 < err < 0.01 * np.abs(f32).max(), err


def test_patchnet_correlation_under_qemu(tmp_path: Path, sparqc: Path,
                                         run_sparqc: RunSparqc) -> None:
    """The PatchNet-like head: sparq.correlation as a Halide stencil (the
    patches' sums in register tiles, the window energy a separable box
    filter), then the aggregation convolutions; against the host target,
    PyTorch and the loop-by-loop reference of the correlation."""
    torch.manual_seed(0)
    model = patchnet_model.PatchNetHead()
    path = tmp_path / "patchnet.onnx"
    search, template = patchnet_model.export(model, path)
    files = [tmp_path / "search.npy", tmp_path / "template.npy"]
    np.save(files[0], search.numpy())
    np.save(files[1], template.numpy())
    pkg = tmp_path / "pkg"
    compile_arm(sparqc, path, pkg)
    schedule = (pkg / "schedule.txt").read_text()
    assert "correlation of 64 patches 3x8x8, stride 2 (tile) '/Conv'" in schedule
    got = run_package(pkg, files, tmp_path / "out")
    inputs = {"search": search.numpy(), "template": template.numpy()}
    host = run_sparqc(path, inputs, ["y"])["y"]
    with torch.no_grad():
        want = model(search, template).numpy()
    np.testing.assert_allclose(got, host, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    corr_path = tmp_path / "corr.onnx"
    patchnet_model.export(patchnet_model.Correlation(), corr_path)
    compile_arm(sparqc, corr_path, tmp_path / "corr")
    got = run_package(tmp_path / "corr", files, tmp_path / "corr_out")
    np.testing.assert_allclose(got, patchnet_model.reference(search, template).numpy(),
                               rtol=RTOL, atol=ATOL)
