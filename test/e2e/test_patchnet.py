"""PatchNet's patchwise correlation end to end (patchnet_model.py): the
exported Conv / energy Conv / Sqrt / Div chain fused into sparq.correlation,
compared with PyTorch, with a loop-by-loop reference and with the unfused
graph; `sparqc report` counts the head's MACs and the fusion.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_patchnet.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

try:
    import torch
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

import patchnet_model  # noqa: E402

RunSparqc = Callable[..., dict[str, np.ndarray]]
RTOL, ATOL = 1e-3, 1e-4


def inputs_of(search: torch.Tensor, template: torch.Tensor) -> dict[str, np.ndarray]:
    return {"search": search.numpy(), "template": template.numpy()}


def test_correlation_fuses_and_matches_the_loops(tmp_path: Path, sparqc: Path,
                                                 run_sparqc: RunSparqc) -> None:
    path = tmp_path / "corr.onnx"
    search, template = patchnet_model.export(patchnet_model.Correlation(), path)
    ir = subprocess.run([str(sparqc), "compile", str(path), "--emit", "mlir"],
                        capture_output=True, text=True, check=True).stdout
    # One op; neither convolution, the square nor the division is left.
    assert ir.count("sparq.correlation") == 1 and "stride = 2" in ir, ir
    assert "linalg.conv_2d" not in ir and "math.sqrt" not in ir
    got = run_sparqc(path, inputs_of(search, template), ["y"])["y"]
    want = patchnet_model.reference(search, template).numpy()
    assert got.shape == want.shape == (1, 64, 56, 56)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    unfused = run_sparqc(path, inputs_of(search, template), ["y"],
                         extra_args=["--no-fuse"])["y"]
    np.testing.assert_allclose(got, unfused, rtol=RTOL, atol=ATOL)


def test_head_matches_pytorch_and_reports_macs(tmp_path: Path, sparqc: Path,
                                               run_sparqc: RunSparqc) -> None:
    torch.manual_seed(0)
    model = patchnet_model.PatchNetHead()
    path = tmp_path / "patchnet.onnx"
    search, template = patchnet_model.export(model, path)
    with torch.no_grad():
        want = model(search, template).numpy()
    got = run_sparqc(path, inputs_of(search, template), ["y"])["y"]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    report = tmp_path / "report.json"
    text = subprocess.run([str(sparqc), "report", str(path), "--json", str(report)],
                          capture_output=True, text=True, check=True).stdout
    data = json.loads(report.read_text())
    # The correlation (64 patches x 3x8x8 per window, 56x56 windows) and the
    # aggregation convolutions, counted per ONNX node.
    macs = {l["name"]: l["macs"] for l in data["layers"]}
    assert macs["/Conv"] == 64 * 56 * 56 * 3 * 8 * 8
    assert macs["/agg/agg.0/Conv"] == 16 * 56 * 56 * 64 * 3 * 3
    total = data["totals"]["macs"]
    assert 60e6 < total < 75e6, total
    fusion = [f for f in data["fusions"] if f["op"] == "correlation"]
    assert len(fusion) == 1 and fusion[0]["name"] == "/Conv", data["fusions"]
    assert "fused correlation '/Conv': 64 patches 3x8x8, stride 2" in text


def test_fused_op_on_other_shapes(tmp_path: Path, sparqc: Path,
                                  run_sparqc: RunSparqc) -> None:
    """Batch 2, 4 channels, 6x6 patches of a 24x24 template, stride 3."""

    class Other(torch.nn.Module):
        def forward(self, search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
            return patchnet_model.patchwise_correlation(search, template, patch=6,
                                                        stride=3, eps=0.5)

    torch.manual_seed(1)
    search, template = torch.randn(2, 4, 40, 41), torch.randn(1, 4, 24, 24)
    path = tmp_path / "other.onnx"
    torch.onnx.export(Other(), (search, template), str(path),
                      input_names=["search", "template"], output_names=["y"],
                      opset_version=16)
    ir = subprocess.run([str(sparqc), "compile", str(path), "--emit", "mlir"],
                        capture_output=True, text=True, check=True).stdout
    assert "sparq.correlation" in ir and "stride = 3" in ir, ir
    got = run_sparqc(path, inputs_of(search, template), ["y"])["y"]
    with torch.no_grad():
        want = Other()(search, template).numpy()
    assert got.shape == (2, 16, 12, 12)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
