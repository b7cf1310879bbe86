"""AWQ (`--awq CALIB.npz` before `--int4`): on a model whose inputs have salient
channels, activation-aware scaling gives a smaller output error than plain
round-to-nearest int4 groups, against the fp32 model in PyTorch. Where an
RMSNorm's weight or a Linear (SwiGLU's up projection) computes the scaled
activation, the inverse scale is folded into it: no op is added.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_awq.py
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

try:
    import torch
    from torch import nn
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

RunSparqc = Callable[..., dict[str, np.ndarray]]
K = 128


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(K, 256), nn.Linear(256, 64)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def salient_inputs(seed: int) -> np.ndarray:
    """64 rows whose 4 salient channels are 30 times larger than the rest."""
    scale = np.ones(K, np.float32)
    scale[[3, 40, 77, 120]] = 30
    return np.random.default_rng(seed).standard_normal((64, K)).astype(np.float32) * scale


@pytest.fixture(scope="module")
def mlp(tmp_path_factory) -> tuple[Mlp, Path]:
    model = Mlp().eval()
    path = tmp_path_factory.mktemp("awq") / "mlp.onnx"
    torch.onnx.export(model, (torch.from_numpy(salient_inputs(0)),), str(path),
                      input_names=["x"], output_names=["y"], opset_version=13)
    return model, path


def test_awq_beats_round_to_nearest(mlp, run_sparqc: RunSparqc, tmp_path):
    model, path = mlp
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=salient_inputs(1))
    x = salient_inputs(2)  # neither the export's nor the calibration's rows
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    rms = lambda y: float(np.sqrt(np.mean((y - expected) ** 2)))
    rtn = rms(run_sparqc(path, {"x": x}, ["y"], extra_args=["--int4", "group=32"])["y"])
    awq = rms(run_sparqc(path, {"x": x}, ["y"],
                         extra_args=["--int4", "group=32", "--awq", str(calibration)])["y"])
    print(f"output RMS error: round-to-nearest {rtn:.4f}, AWQ {awq:.4f}")
    assert awq < 0.95 * rtn
    # Both quantize: neither is the fp32 model.
    assert awq > 1e-3


class NormSwiGlu(nn.Module):
    """RMSNorm -> gate/up -> SiLU(gate) * up -> down: a LLaMA MLP."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.weight = nn.Parameter(torch.rand(K) + 0.5)
        self.gate = nn.Linear(K, 256, bias=False)
        self.up = nn.Linear(K, 256, bias=False)
        self.down = nn.Linear(256, 64, bias=False)

    def forward(self, x):
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight
        return self.down(nn.functional.silu(self.gate(h)) * self.up(h))


def graph_ops(sparqc: Path, model: Path, *args: str) -> list[str]:
    """The linalg ops of the graph IR `sparqc compile --emit mlir` prints."""
    proc = subprocess.run([str(sparqc), "compile", str(model), "--emit", "mlir", *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return re.findall(r"= (linalg\.[a-z_]+)", proc.stdout)


def test_awq_folds_into_the_norm_and_the_up_projection(sparqc: Path,
                                                       run_sparqc: RunSparqc,
                                                       tmp_path: Path):
    model = NormSwiGlu().eval()
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(model, (torch.from_numpy(salient_inputs(0)),), str(path),
                      input_names=["x"], output_names=["y"], opset_version=13)
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=salient_inputs(1))
    x = salient_inputs(2)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    rms = lambda y: float(np.sqrt(np.mean((y - expected) ** 2)))
    int4 = ["--int4", "group=32"]
    awq = int4 + ["--awq", str(calibration)]
    rtn_err = rms(run_sparqc(path, {"x": x}, ["y"], extra_args=int4)["y"])
    awq_err = rms(run_sparqc(path, {"x": x}, ["y"], extra_args=awq)["y"])
    print(f"output RMS error: round-to-nearest {rtn_err:.5f}, AWQ {awq_err:.5f}")
    assert awq_err < rtn_err
    assert awq_err > 1e-5  # both quantize
    # Folded: the graph has the same ops with AWQ as without (the scale of
    # gate/up went into the norm's weight, that of down into up's rows).
    assert graph_ops(sparqc, path, *awq) == graph_ops(sparqc, path, *int4)


def sparqc_fails(sparqc: Path, *args: str) -> str:
    proc = subprocess.run([str(sparqc), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    return proc.stderr


def test_awq_errors(mlp, sparqc: Path, tmp_path):
    _, path = mlp
    np.save(tmp_path / "x.npy", salient_inputs(3))
    run = ["run", str(path), "-i", f"x={tmp_path}/x.npy"]
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=salient_inputs(1))
    err = sparqc_fails(sparqc, *run, "--awq", str(calibration))
    assert "--awq scales weights for int quantization: give --int4" in err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, z=salient_inputs(1))
    err = sparqc_fails(sparqc, *run, "--int4", "--awq", str(wrong))
    assert "the calibration data has no input 'x'" in err
    err = sparqc_fails(sparqc, *run, "--int4", "--awq", str(tmp_path / "none.npz"))
    assert "none.npz" in err
