"""AWQ (`--awq CALIB.npz` before `--int4`): on a model whose inputs have salient
channels, activation-aware scaling gives a smaller output error than plain
round-to-nearest int4 groups, against the fp32 model in PyTorch.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_awq.py
"""

from __future__ import annotations

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
