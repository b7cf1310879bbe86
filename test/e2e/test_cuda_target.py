"""The cuda target end to end. Each model is exported from PyTorch, compiled
with `sparqc compile --target cuda`, and its package checked three ways:

- emulated: model.cu compiled for the CPU (-DSPARQ_CUDA_EMULATION, every
  kernel run thread by thread, GEMM and convolution as loops) and run on the
  package's own runner; outputs compared with the host target at the host's
  tolerances and with PyTorch. This checks the generated kernels' index
  arithmetic and bodies, the buffers and the call sequence, not CUDA itself;
- built with nvcc by the package's CMakeLists.txt (sm_80 and sm_90), where
  nvcc is (skipped, with the reason, where it is not);
- run on a GPU with the package's runner and compared the same way, where a
  GPU is (skipped, with the reason, where there is none).

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_cuda_target.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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

import bev_model  # noqa: E402
import patchnet_model  # noqa: E402
from torch_modules import Mlp, PreNormBlock, TwoLayerLSTM, trained_batchnorm  # noqa: E402
from test_models import GroupedConvs, small_cnn  # noqa: E402

RunSparqc = Callable[..., dict[str, np.ndarray]]
REPO = Path(__file__).resolve().parents[2]
RTOL, ATOL = 1e-3, 1e-4
NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc"
                                if os.access("/usr/local/cuda/bin/nvcc", os.X_OK) else None)


def gpu_present() -> tuple[bool, str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False, "nvidia-smi not found"
    proc = subprocess.run([smi, "-L"], capture_output=True, text=True)
    if proc.returncode != 0 or "GPU" not in proc.stdout:
        return False, (proc.stderr or proc.stdout).strip() or "no GPU listed"
    return True, proc.stdout.strip()


def build_model(name: str):
    """(module, example inputs, input names) of each model in the suite."""
    torch.manual_seed(0)
    if name == "small_cnn":
        return small_cnn(), (torch.randn(1, 3, 32, 32),), ["x"]
    if name in ("resnet18", "mobilenet_v2"):
        model = trained_batchnorm(getattr(torchvision.models, name)())
        return model, (torch.randn(1, 3, 224, 224),), ["x"]
    if name == "grouped_convs":
        return GroupedConvs(), (torch.randn(1, 16, 20, 20),), ["x"]
    if name == "prenorm_block":
        return PreNormBlock(), (torch.randn(1, 16, 64),), ["x"]
    if name == "two_layer_lstm":
        return TwoLayerLSTM(), (torch.randn(5, 2, 16),), ["x"]
    if name == "patchnet":
        torch.manual_seed(0)
        return (patchnet_model.PatchNetHead(), patchnet_model.example_inputs(),
                ["search", "template"])
    if name == "camera_bev":
        model = bev_model.CameraBev()
        return model, (torch.randn(6, 32, 8, 22),), ["images"]
    raise KeyError(name)


MODELS = ["small_cnn", "resnet18", "mobilenet_v2", "grouped_convs", "prenorm_block",
          "two_layer_lstm", "camera_bev", "patchnet"]


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, sparqc: Path):
    """name -> (package dir, input .npy paths, input names, PyTorch outputs)."""
    root = tmp_path_factory.mktemp("cuda")
    built = {}
    for name in MODELS:
        model, args, names = build_model(name)
        model.eval()
        onnx_path = root / f"{name}.onnx"
        torch.onnx.export(model, args, str(onnx_path), input_names=names,
                          output_names=["y"], opset_version=16)
        with torch.no_grad():
            expected = model(*args)
        # The first output (an LSTM's y).
        expected = (expected[0] if isinstance(expected, tuple) else expected).numpy()
        files = []
        for n, a in zip(names, args):
            files.append(root / f"{name}_{n}.npy")
            np.save(files[-1], a.numpy())
        pkg = root / name
        proc = subprocess.run([str(sparqc), "compile", str(onnx_path), "--target", "cuda",
                               "-o", str(pkg)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        built[name] = (pkg, files, names, expected, onnx_path)
    return built


def outputs_of(out_dir: Path) -> np.ndarray:
    return np.load(out_dir / "y.npy")


@pytest.mark.parametrize("name", MODELS)
def test_emulated_package_matches_host_and_pytorch(name: str, packages,
                                                   run_sparqc: RunSparqc) -> None:
    pkg, files, names, expected, onnx_path = packages[name]
    exe = pkg / "run_emulated"
    cc = subprocess.run(["g++", "-std=c++17", "-O2", "-x", "c++", "-DSPARQ_CUDA_EMULATION",
                         "model.cu", "runner.cpp", "-o", str(exe)],
                        cwd=pkg, capture_output=True, text=True, timeout=600)
    assert cc.returncode == 0, cc.stderr
    out = pkg / "emulated_out"
    out.mkdir(exist_ok=True)
    run = subprocess.run([str(exe), str(pkg), *map(str, files), "-o", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    got = outputs_of(out)
    host = run_sparqc(onnx_path, {n: np.load(f) for n, f in zip(names, files)}, ["y"])["y"]
    assert got.shape == host.shape == expected.shape
    np.testing.assert_allclose(got, host, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_packages_are_what_the_readme_says(packages) -> None:
    pkg = packages["camera_bev"][0]
    for f in ["model.cu", "sparq_model.h", "sparq_cuda_runtime.h", "runner.cpp",
              "CMakeLists.txt", "README.md", "model.weights", "model.json", "model.mlir",
              "BevPoolKernel.cuh"]:
        assert (pkg / f).is_file(), f
    source = (pkg / "model.cu").read_text()
    # One fused kernel for BEV pooling, no scatter loop, cuDNN for the convs.
    assert source.count("SPARQ_LAUNCH(sparq_bev_pool_kernel") == 1
    assert source.count("sparq_rt::conv(m,") == 2
    assert (pkg / "model.weights").read_bytes()[:8] == b"SPARQWT1"
    assert "BevPoolKernel.cuh" not in (packages["small_cnn"][0] / "model.cu").read_text()


@pytest.mark.parametrize("name", MODELS)
def test_package_builds_with_nvcc(name: str, packages) -> None:
    if NVCC is None:
        pytest.skip("nvcc not found: CUDA packages are not built here")
    pkg = packages[name][0]
    build = pkg / "build"
    cfg = subprocess.run(["cmake", "-S", str(pkg), "-B", str(build), "-G", "Ninja",
                          f"-DCMAKE_CUDA_COMPILER={NVCC}"],
                         capture_output=True, text=True, timeout=600)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    b = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True,
                       timeout=900)
    assert b.returncode == 0, b.stdout + b.stderr
    assert (build / "sparq_run").is_file()
    ok, why = gpu_present()
    if not ok:
        pytest.skip(f"built with nvcc; no GPU to run it on ({why})")
    pkg_files, names = packages[name][1], packages[name][2]
    out = pkg / "gpu_out"
    out.mkdir(exist_ok=True)
    run = subprocess.run([str(build / "sparq_run"), str(pkg), *map(str, pkg_files), "-o",
                          str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    np.testing.assert_allclose(outputs_of(out), packages[name][3], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("model_name,recipe,kernel,count", [
    ("mlp", ["--ternary"], "packed GEMM, dense+ternary", 2),
    ("mlp", ["--int4", "group=8"], "packed GEMM, dense+int4g8", 4),
    ("mlp", ["--prune", "element:0.9"], "packed GEMM, csr", 4),
    ("mlp", ["--prune", "2:4"], "packed GEMM, nm2:4", 4),
    ("mlp", ["--codebook", "4"], "packed GEMM, dense+cb4", 4),
    ("mlp", ["--codebook", "3"], "packed GEMM, dense+cb3", 4),
    ("cnn", ["--ternary"], "packed convolution, dense+ternary", 5),
    ("cnn", ["--prune", "element:0.9"], "packed convolution, csr", 6),
    ("cnn", ["--prune", "kernel:0.5"], "packed convolution, bcsr1x9", 5),
    ("cnn", ["--int4", "group=8"], "packed convolution, dense+int8s", 6),
])
def test_compressed_weights_run_packed(model_name: str, recipe: list, kernel: str,
                                       count: int, tmp_path: Path, sparqc: Path,
                                       run_sparqc: RunSparqc) -> None:
    """Compressed weights stay packed in the formats library's layout and a
    generated kernel decodes them in registers: the MLP at batch 3 (a GEMM)
    and 1 (a GEMV), the small CNN's convolutions, against the host target
    with the same recipe; the batch-1 packages built with nvcc."""
    torch.manual_seed(0)
    model = (Mlp() if model_name == "mlp" else small_cnn()).eval()
    shapes = [(3, 64), (1, 64)] if model_name == "mlp" else [(1, 3, 32, 32)]
    for shape in shapes:
        x = torch.randn(*shape)
        path = tmp_path / f"{model_name}{shape[0]}.onnx"
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                          opset_version=16)
        np.save(tmp_path / "x.npy", x.numpy())
        pkg = tmp_path / f"pkg{shape[0]}"
        proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "cuda", "-o",
                               str(pkg), *recipe], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        source = (pkg / "model.cu").read_text()
        assert source.count(f"// {kernel} weight") == count, source[:3000]
        cc = subprocess.run(["g++", "-std=c++17", "-O2", "-x", "c++",
                             "-DSPARQ_CUDA_EMULATION", "model.cu", "runner.cpp", "-o", "emu"],
                            cwd=pkg, capture_output=True, text=True)
        assert cc.returncode == 0, cc.stderr
        (pkg / "out").mkdir()
        run = subprocess.run([str(pkg / "emu"), str(pkg), str(tmp_path / "x.npy"), "-o",
                              str(pkg / "out")], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        host = run_sparqc(path, {"x": x.numpy()}, ["y"], extra_args=recipe)["y"]
        np.testing.assert_allclose(np.load(pkg / "out" / "y.npy"), host, rtol=RTOL,
                                   atol=ATOL)
        if NVCC and shape[0] == 1:
            b = subprocess.run(["cmake", "-S", str(pkg), "-B", str(pkg / "build"), "-G",
                                "Ninja", f"-DCMAKE_CUDA_COMPILER={NVCC}"],
                               capture_output=True, text=True)
            assert b.returncode == 0, b.stdout + b.stderr
            b = subprocess.run(["cmake", "--build", str(pkg / "build")], capture_output=True,
                               text=True)
            assert b.returncode == 0, b.stdout + b.stderr


def test_unsupported_weight_format_names_the_layer(tmp_path: Path, sparqc: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(Mlp().eval(), (torch.randn(1, 64),), str(path), input_names=["x"],
                      opset_version=16)
    proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "cuda", "-o",
                           str(tmp_path / "pkg"), "--pe-balance", "8"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert re.search(r"node '/net/net\.[0246]/Gemm': weight format icsc8/4b is not "
                     r"supported", proc.stderr), proc.stderr
    assert not (tmp_path / "pkg").exists()


def test_lstm_with_peepholes_clip_and_states(tmp_path: Path, sparqc: Path,
                                            run_sparqc: RunSparqc) -> None:
    """A bidirectional ONNX LSTM with biases, peepholes, initial states and
    clip: every output against the host target."""
    path = tmp_path / "lstm.onnx"
    subprocess.run([sys.executable, str(REPO / "test/Frontends/Inputs/make_model.py"),
                    "lstm_peepholes", str(path)], check=True)
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((6, 3, 5)).astype(np.float32),
              "h0": rng.standard_normal((2, 3, 8)).astype(np.float32),
              "c0": rng.standard_normal((2, 3, 8)).astype(np.float32)}
    files = []
    for n, a in inputs.items():
        files.append(tmp_path / f"{n}.npy")
        np.save(files[-1], a)
    pkg = tmp_path / "pkg"
    proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "cuda", "-o",
                           str(pkg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cc = subprocess.run(["g++", "-std=c++17", "-O2", "-x", "c++", "-DSPARQ_CUDA_EMULATION",
                         "model.cu", "runner.cpp", "-o", "emu"], cwd=pkg, capture_output=True,
                        text=True)
    assert cc.returncode == 0, cc.stderr
    (pkg / "out").mkdir()
    run = subprocess.run([str(pkg / "emu"), str(pkg), *map(str, files), "-o", str(pkg / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    host = run_sparqc(path, inputs, ["y", "yh", "yc"])
    for name in ("y", "yh", "yc"):
        np.testing.assert_allclose(np.load(pkg / "out" / f"{name}.npy"), host[name],
                                   rtol=RTOL, atol=ATOL, err_msg=name)


def test_unsupported_op_is_an_error_naming_the_node(tmp_path: Path, sparqc: Path) -> None:
    path = tmp_path / "gru.onnx"
    subprocess.run([sys.executable, str(REPO / "test/Frontends/Inputs/make_model.py"), "gru",
                    str(path)], check=True)
    out = tmp_path / "pkg"
    proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "cuda", "-o",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "node 'gru1'" in proc.stderr and "sparq.gru" in proc.stderr, proc.stderr
    assert not out.exists()  # nothing written


def test_runner_compare_flags_a_mismatch(packages) -> None:
    pkg, files = packages["small_cnn"][0], packages["small_cnn"][1]
    exe = pkg / "run_emulated"  # built by the emulated test of small_cnn
    if not exe.is_file():
        pytest.skip("the emulated runner of small_cnn was not built (its test did not run)")
    ref = pkg / "ref"
    ref.mkdir(exist_ok=True)
    good = outputs_of(pkg / "emulated_out")
    (pkg / "cmp").mkdir(exist_ok=True)
    for perturbed, code in ((good, 0), (good + 0.01, 3)):
        np.save(ref / "y.npy", perturbed)
        run = subprocess.run([str(exe), str(pkg), *map(str, files), "-o", str(pkg / "cmp"),
                              "--compare", str(ref)], capture_output=True, text=True)
        assert run.returncode == code, run.stdout + run.stderr
        assert ("MISMATCH" in run.stdout) == (code == 3), run.stdout


def test_llvm_emit_is_refused(packages, sparqc: Path) -> None:
    proc = subprocess.run([str(sparqc), "compile", str(packages["small_cnn"][4]), "--target",
                           "cuda", "--emit", "llvm"], capture_output=True, text=True)
    assert proc.returncode != 0 and "not LLVM IR" in proc.stderr


def test_pruned_lstm_runs_compressed(tmp_path: Path, sparqc: Path,
                                     run_sparqc: RunSparqc) -> None:
    """An LSTM pruned while training, compiled with no flags: its W and R
    are detected sparse, stored packed in model.weights (smaller than the
    dense floats) and multiplied by the packed-product kernel; emulated
    outputs equal the host target's and PyTorch's."""
    from test_compression import magnitude_pruned_lstm
    model = magnitude_pruned_lstm(0.1).eval()
    x = torch.randn(5, 2, 16)
    path = tmp_path / "lstm.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                      opset_version=16)
    np.save(tmp_path / "x.npy", x.numpy())
    pkg = tmp_path / "pkg"
    proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "cuda", "-o",
                           str(pkg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    source = (pkg / "model.cu").read_text()
    assert source.count("packed GEMM, csr weight 128x") == 4, source
    assert "sparq_rt::gemm" not in source
    dense_bytes = 4 * sum(p.numel() for n, p in model.named_parameters() if "weight" in n)
    assert (pkg / "model.weights").stat().st_size < dense_bytes / 2
    cc = subprocess.run(["g++", "-std=c++17", "-O2", "-x", "c++", "-DSPARQ_CUDA_EMULATION",
                         "model.cu", "runner.cpp", "-o", "emu"], cwd=pkg, capture_output=True,
                        text=True)
    assert cc.returncode == 0, cc.stderr
    (pkg / "out").mkdir()
    run = subprocess.run([str(pkg / "emu"), str(pkg), str(tmp_path / "x.npy"), "-o",
                          str(pkg / "out")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = np.load(pkg / "out" / "y.npy")
    host = run_sparqc(path, {"x": x.numpy()}, ["y"])["y"]
    with torch.no_grad():
        want = model(x)[0].numpy()
    np.testing.assert_allclose(got, host, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    if NVCC is None:
        print("nvcc not found: the package's CUDA source is not compiled")
        return
    nv = subprocess.run([NVCC, "-std=c++17", "-arch=sm_80", "-c", "model.cu", "-o",
                         str(tmp_path / "model.o")], cwd=pkg, capture_output=True, text=True)
    assert nv.returncode == 0, nv.stderr
