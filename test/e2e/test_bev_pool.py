"""BEV pooling end to end: a BEVFusion-style camera branch (bev_model.py),
exported at opset 16 with scatter_add, compiled with and without the
sparq-fuse-bev-pool fusion, compared with PyTorch and with each other.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_bev_pool.py
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
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

import bev_model  # noqa: E402

RunSparqc = Callable[..., dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("bev") / "camera_bev.onnx"
    model, images = bev_model.export(path)
    with torch.no_grad():
        expected = model(images).numpy()
    return path, images.numpy(), expected, model


def test_geometry_drops_points_outside_the_grid(exported) -> None:
    _, _, _, model = exported
    cells = bev_model.frustum_cells(6, 16, 8, 22, 128)
    kept = int((cells >= 0).sum())
    # The test means something only if some points leave the grid, several
    # points share a cell and many cells stay empty.
    assert 0 < kept < cells.size
    assert model.kept.numel() == kept
    assert len(np.unique(cells[cells >= 0])) < kept
    assert len(np.unique(cells[cells >= 0])) < 128 * 128 // 2


def test_fused_matches_pytorch_and_the_unfused_scatter(
        exported, run_sparqc: RunSparqc) -> None:
    path, images, expected, _ = exported
    fused = run_sparqc(path, {"images": images}, ["bev"])["bev"]
    unfused = run_sparqc(path, {"images": images}, ["bev"],
                         extra_args=["--no-fuse"])["bev"]
    assert fused.shape == expected.shape == (1, 80, 128, 128)
    np.testing.assert_allclose(fused, expected, rtol=1e-3, atol=1e-4)
    # Same products, summed per cell in the scatter's order: the same bits.
    np.testing.assert_array_equal(fused, unfused)


def test_fusion_fires_and_the_frustum_is_gone(exported, sparqc: Path) -> None:
    path = exported[0]
    ir = subprocess.run([str(sparqc), "compile", str(path), "--emit", "mlir"],
                        capture_output=True, text=True, check=True).stdout
    assert ir.count("sparq.bev_pool") == 1
    assert "scf.for" not in ir
    # No tensor of the frustum's points x channels (16896 x 80) is left.
    assert not re.search(r"tensor<(6x80x16x8x22|6x16x8x22x80|16896x80|15376x80)x",
                         ir)
    plain = subprocess.run([str(sparqc), "compile", str(path), "--emit", "mlir",
                            "--no-fuse"],
                           capture_output=True, text=True, check=True).stdout
    assert "sparq.bev_pool" not in plain and "scf.for" in plain


def test_report_shows_the_fusion_and_its_bytes(exported, sparqc: Path) -> None:
    path = exported[0]
    out = subprocess.run([str(sparqc), "report", str(path)],
                         capture_output=True, text=True, check=True).stdout
    line = next((l for l in out.splitlines() if "bev_pool" in l), None)
    assert line is not None, out
    # Frustum (16896 x 80 f32), its transpose, the kept points, their
    # indices (15376 x 80 i64): at least the frustum's 5.4 MB twice over.
    m = re.search(r"saves ([0-9.]+) MB", line)
    assert m and float(m.group(1)) > 2 * 16896 * 80 * 4 / 1e6, line
