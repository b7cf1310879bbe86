"""Detection ops on the host: RoiAlign (both coordinate transformation
modes, avg and max) against torchvision.ops.roi_align and a straightforward
numpy implementation of ONNX's definition written here. (The ONNX backend
tests of RoiAlign are in test/onnx-backend's pass list.)

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_detection_ops.py
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
torchvision = pytest.importorskip("torchvision", reason="needs Debian's /usr/bin/python3")
onnx = pytest.importorskip("onnx", reason="needs Debian's /usr/bin/python3")
from onnx import TensorProto, helper  # noqa: E402


def roi_align_model(path: Path, x_shape, rois: int, **attrs) -> None:
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], name="roi_align",
                            **attrs)
    graph = helper.make_graph(
        [node], "roi_align",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape)),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, [rois, 4]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [rois])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)]),
              str(path))


def numpy_roi_align(x, rois, idx, oh, ow, sr, scale, half_pixel, mode):
    """ONNX RoiAlign, one sample at a time."""
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, oh, ow), np.float64)
    for r, (roi, b) in enumerate(zip(rois.astype(np.float64), idx)):
        off = 0.5 if half_pixel else 0.0
        x1, y1, x2, y2 = roi * scale - off
        rw, rh = x2 - x1, y2 - y1
        if not half_pixel:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sr if sr > 0 else math.ceil(rh / oh)
        gw = sr if sr > 0 else math.ceil(rw / ow)
        for ph in range(oh):
            for pw in range(ow):
                vals = []
                for iy in range(gh):
                    for ix in range(gw):
                        y = y1 + ph * rh / oh + (iy + 0.5) * rh / oh / gh
                        xx = x1 + pw * rw / ow + (ix + 0.5) * rw / ow / gw
                        if y < -1 or y > h or xx < -1 or xx > w:
                            vals.append(np.zeros(c))
                            continue
                        y, xx = max(y, 0.0), max(xx, 0.0)
                        y0, x0 = int(y), int(xx)
                        if y0 >= h - 1:
                            y0 = y1_ = h - 1
                            y = float(y0)
                        else:
                            y1_ = y0 + 1
                        if x0 >= w - 1:
                            x0 = x1_ = w - 1
                            xx = float(x0)
                        else:
                            x1_ = x0 + 1
                        ly, lx = y - y0, xx - x0
                        corners = [(1 - ly) * (1 - lx) * x[b, :, y0, x0],
                                   (1 - ly) * lx * x[b, :, y0, x1_],
                                   ly * (1 - lx) * x[b, :, y1_, x0],
                                   ly * lx * x[b, :, y1_, x1_]]
                        vals.append(sum(corners) if mode == "avg" else np.max(corners, axis=0))
                if mode == "avg":
                    out[r, :, ph, pw] = sum(vals) / max(gh * gw, 1) if vals else 0
                else:
                    out[r, :, ph, pw] = np.max(vals, axis=0) if vals else 0
    return out


X_SHAPE = (2, 3, 20, 24)
ROIS = np.array([[4, 4, 60, 50], [10, 0, 30, 70], [-8, -8, 20, 12], [70, 60, 100, 90],
                 [40, 40, 41, 41]], np.float32)
IDX = np.array([0, 1, 0, 1, 1], np.int64)


@pytest.mark.parametrize("half_pixel", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_roi_align(run_sparqc, tmp_path: Path, half_pixel: bool, sampling_ratio: int,
                   mode: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X_SHAPE).astype(np.float32)
    path = tmp_path / "roi_align.onnx"
    roi_align_model(path, X_SHAPE, len(ROIS), mode=mode, output_height=3, output_width=4,
                    sampling_ratio=sampling_ratio, spatial_scale=0.25,
                    coordinate_transformation_mode="half_pixel" if half_pixel
                    else "output_half_pixel")
    got = run_sparqc(path, {"x": x, "rois": ROIS, "idx": IDX}, ["y"])["y"]
    want = numpy_roi_align(x, ROIS, IDX, 3, 4, sampling_ratio, 0.25, half_pixel, mode)
    assert got.shape == want.shape == (5, 3, 3, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if mode == "avg":  # torchvision has avg only; aligned is half_pixel
        boxes = torch.cat([torch.tensor(IDX, dtype=torch.float32)[:, None],
                           torch.tensor(ROIS)], 1)
        tv = torchvision.ops.roi_align(torch.tensor(x), boxes, (3, 4), spatial_scale=0.25,
                                       sampling_ratio=sampling_ratio, aligned=half_pixel)
        np.testing.assert_allclose(got, tv.numpy(), rtol=1e-5, atol=1e-5)


def test_torchvision_export_runs(run_sparqc, tmp_path: Path) -> None:
    """torchvision's RoIAlign exported by PyTorch (opset 16, aligned):
    boxes [K, 5] split into the batch indices (Gather, Cast) and the
    regions, as a two-stage detector's box head receives them."""
    class Head(torch.nn.Module):
        def forward(self, x, boxes):
            return torchvision.ops.roi_align(x, boxes, (7, 7), spatial_scale=0.5,
                                             sampling_ratio=2, aligned=True)
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16)
    boxes = torch.tensor([[0, 2., 2., 20., 28.], [1, 0., 4., 31., 12.], [1, 8., 8., 9., 9.]])
    path = tmp_path / "head.onnx"
    torch.onnx.export(Head(), (x, boxes), str(path), input_names=["x", "boxes"],
                      output_names=["y"], opset_version=16)
    got = run_sparqc(path, {"x": x.numpy(), "boxes": boxes.numpy()}, ["y"])["y"]
    np.testing.assert_allclose(got, Head()(x, boxes).numpy(), rtol=1e-5, atol=1e-5)


def test_bad_batch_index_and_shapes(sparqc: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], name="ra")
    graph = helper.make_graph(
        [node], "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8]),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, [3, 5]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)]),
              str(path))
    proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "host"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "node 'ra' (RoiAlign): rois must be [R, 4]" in proc.stderr, proc.stderr
