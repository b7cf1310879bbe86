"""Ops whose output size depends on the data (NonMaxSuppression, NonZero,
Compress, Unique, and the Slice/Gather/MatMul/reduction chains after them)
on the host, against straightforward references written here, numpy and
torchvision. `sparqc run` writes the true-size outputs. (Their ONNX backend
tests are in test/onnx-backend's pass list.)

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_data_dependent.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs Debian's /usr/bin/python3")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def save(path: Path, nodes, inputs, outputs, inits=(), opset: int = 13) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]),
              str(path))
    return path


def info(name: str, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


# --- NonMaxSuppression ----------------------------------------------------------

def reference_nms(boxes, scores, max_out, iou_thr, score_thr, center):
    """ONNX NonMaxSuppression written out: per batch and class, greedy by
    descending score (ties by index)."""
    def corners(b):
        if center:
            cx, cy, w, h = b
            return cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2
        return min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])

    def iou(a, b):
        ya, xa, yb, xb = corners(a)
        yc, xc, yd, xd = corners(b)
        area_a, area_b = (yb - ya) * (xb - xa), (yd - yc) * (xd - xc)
        ih, iw = min(yb, yd) - max(ya, yc), min(xb, xd) - max(xa, xc)
        if area_a <= 0 or area_b <= 0 or ih <= 0 or iw <= 0:
            return 0.0
        return ih * iw / (area_a + area_b - ih * iw)

    out = []
    for b in range(boxes.shape[0]):
        for c in range(scores.shape[1]):
            s = scores[b, c]
            order = sorted((i for i in range(len(s)) if score_thr is None or s[i] > score_thr),
                           key=lambda i: (-s[i], i))
            kept = []
            for i in order:
                if len(kept) >= max_out:
                    break
                if all(iou(boxes[b, k], boxes[b, i]) <= iou_thr for k in kept):
                    kept.append(i)
            out += [[b, c, i] for i in kept]
    return np.array(out, np.int64).reshape(-1, 3)


def random_boxes(rng, batches: int, n: int, center: bool):
    xy = rng.uniform(0, 40, (batches, n, 2))
    wh = rng.uniform(4, 16, (batches, n, 2))
    if center:
        return np.concatenate([xy, wh], -1).astype(np.float32)
    return np.concatenate([xy, xy + wh], -1).astype(np.float32)


def nms_model(path: Path, b: int, c: int, n: int, center: int, thresholds: bool) -> Path:
    inputs = ["boxes", "scores", "max_out", "iou"] + (["score_thr"] if thresholds else [])
    node = helper.make_node("NonMaxSuppression", inputs, ["selected"], name="nms",
                            center_point_box=center)
    ins = [info("boxes", TensorProto.FLOAT, [b, n, 4]),
           info("scores", TensorProto.FLOAT, [b, c, n]),
           info("max_out", TensorProto.INT64, [1]), info("iou", TensorProto.FLOAT, [1])]
    if thresholds:
        ins.append(info("score_thr", TensorProto.FLOAT, [1]))
    return save(path, [node], ins, [info("selected", TensorProto.INT64, None)], opset=11)


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("max_out,iou,score_thr", [(100, 0.3, 0.2), (3, 0.5, 0.0),
                                                   (100, 0.0, None)])
def test_nms_matches_reference(run_sparqc, tmp_path: Path, center: int, max_out: int,
                               iou: float, score_thr) -> None:
    rng = np.random.default_rng(center * 7 + max_out)
    boxes = random_boxes(rng, 2, 40, bool(center))
    scores = rng.uniform(0, 1, (2, 3, 40)).astype(np.float32)
    path = nms_model(tmp_path / "nms.onnx", 2, 3, 40, center, score_thr is not None)
    inputs = {"boxes": boxes, "scores": scores, "max_out": np.array([max_out], np.int64),
              "iou": np.array([iou], np.float32)}
    if score_thr is not None:
        inputs["score_thr"] = np.array([score_thr], np.float32)
    got = run_sparqc(path, inputs, ["selected"])["selected"]
    want = reference_nms(boxes, scores, max_out, iou, score_thr, center)
    assert 0 < len(want) < 2 * 3 * 40
    np.testing.assert_array_equal(got, want)


def test_nms_against_torchvision(run_sparqc, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
    torchvision = pytest.importorskip("torchvision", reason="needs Debian's /usr/bin/python3")
    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, 1, 60, False)
    scores = rng.uniform(0, 1, (1, 1, 60)).astype(np.float32)
    path = nms_model(tmp_path / "nms.onnx", 1, 1, 60, 0, False)
    got = run_sparqc(path, {"boxes": boxes, "scores": scores,
                            "max_out": np.array([60], np.int64),
                            "iou": np.array([0.4], np.float32)}, ["selected"])["selected"]
    # torchvision reads (x1, y1, x2, y2); IoU does not care which axis is y.
    keep = torchvision.ops.nms(torch.tensor(boxes[0]), torch.tensor(scores[0, 0]), 0.4)
    np.testing.assert_array_equal(got[:, 2], keep.numpy())
    assert (got[:, :2] == 0).all()


def test_nms_keeps_nothing(run_sparqc, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    path = nms_model(tmp_path / "nms.onnx", 1, 2, 8, 0, True)
    got = run_sparqc(path, {"boxes": random_boxes(rng, 1, 8, False),
                            "scores": rng.uniform(0, 0.5, (1, 2, 8)).astype(np.float32),
                            "max_out": np.array([5], np.int64),
                            "iou": np.array([0.5], np.float32),
                            "score_thr": np.array([0.9], np.float32)}, ["selected"])
    assert got["selected"].shape == (0, 3)


def test_nms_bad_boxes(sparqc: Path, tmp_path: Path) -> None:
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"],
                            name="nms1")
    path = save(tmp_path / "bad.onnx", [node],
                [info("boxes", TensorProto.FLOAT, [1, 6, 3]),
                 info("scores", TensorProto.FLOAT, [1, 1, 6])],
                [info("selected", TensorProto.INT64, None)], opset=11)
    proc = subprocess.run([str(sparqc), "compile", str(path), "--target", "host"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "node 'nms1' (NonMaxSuppression): expects boxes [B, N, 4]" in proc.stderr, \
        proc.stderr


# --- What follows a data-dependent size -----------------------------------------

def test_compress_feeds_matmul_and_reductions(run_sparqc, tmp_path: Path) -> None:
    """The rows a condition keeps go through MatMul, Relu, a reduction over
    the kept rows and Softmax; the kept rows are an output too."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    nodes = [helper.make_node("Compress", ["x", "keep"], ["rows"], axis=0, name="compress"),
             helper.make_node("MatMul", ["rows", "w"], ["mm"]),
             helper.make_node("Relu", ["mm"], ["act"]),
             helper.make_node("Softmax", ["act"], ["prob"], axis=-1),
             helper.make_node("ReduceSum", ["act", "axes"], ["total"], keepdims=0)]
    path = save(tmp_path / "compress.onnx", nodes,
                [info("x", TensorProto.FLOAT, [10, 6]), info("keep", TensorProto.BOOL, [10])],
                [info("rows", TensorProto.FLOAT, None), info("prob", TensorProto.FLOAT, None),
                 info("total", TensorProto.FLOAT, None)],
                [numpy_helper.from_array(w, "w"),
                 numpy_helper.from_array(np.array([0], np.int64), "axes")])
    x = rng.standard_normal((10, 6)).astype(np.float32)
    for keep in [rng.uniform(size=10) < 0.5, np.zeros(10, bool), np.ones(10, bool)]:
        got = run_sparqc(path, {"x": x, "keep": keep}, ["rows", "prob", "total"])
        rows = x[keep]
        act = np.maximum(rows @ w, 0)
        e = np.exp(act - act.max(-1, keepdims=True))
        np.testing.assert_array_equal(got["rows"], rows)
        np.testing.assert_allclose(got["prob"], e / e.sum(-1, keepdims=True), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(got["total"], act.sum(0), rtol=1e-5, atol=1e-5)


def test_nonzero_indices_gather_and_slice(run_sparqc, tmp_path: Path) -> None:
    """NonZero's columns (a computed count) index a table; the first 3 are
    kept by a Slice (min(count, 3), another computed count)."""
    table = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    nodes = [helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
             helper.make_node("Gather", ["nz", "zero"], ["cols"], axis=0),
             helper.make_node("Gather", ["table", "cols"], ["picked"], axis=0),
             helper.make_node("Slice", ["picked", "s0", "s3"], ["first3"])]
    path = save(tmp_path / "nonzero.onnx", nodes, [info("x", TensorProto.INT32, [8, 5])],
                [info("nz", TensorProto.INT64, None), info("picked", TensorProto.FLOAT, None),
                 info("first3", TensorProto.FLOAT, None)],
                [numpy_helper.from_array(table, "table"),
                 numpy_helper.from_array(np.array(0, np.int64), "zero"),
                 numpy_helper.from_array(np.array([0], np.int64), "s0"),
                 numpy_helper.from_array(np.array([3], np.int64), "s3")])
    rng = np.random.default_rng(6)
    for density in [0.3, 0.0, 0.03]:
        x = (rng.uniform(size=(8, 5)) < density).astype(np.int32) * 7
        got = run_sparqc(path, {"x": x}, ["nz", "picked", "first3"])
        nz = np.array(np.nonzero(x), np.int64)
        np.testing.assert_array_equal(got["nz"], nz)
        np.testing.assert_array_equal(got["picked"], table[nz[0]])
        np.testing.assert_array_equal(got["first3"], table[nz[0]][:3])


# --- Unique ---------------------------------------------------------------------

def test_unique_matches_numpy(run_sparqc, tmp_path: Path) -> None:
    outs = ["y", "indices", "inverse", "counts"]
    node = helper.make_node("Unique", ["x"], outs, name="unique")
    path = save(tmp_path / "unique.onnx", [node], [info("x", TensorProto.INT64, [4, 9])],
                [info(o, TensorProto.INT64, None) for o in outs], opset=11)
    x = np.random.default_rng(7).integers(-5, 5, (4, 9)).astype(np.int64)
    got = run_sparqc(path, {"x": x}, outs)
    want = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    for name, w in zip(outs, want):
        np.testing.assert_array_equal(got[name], w.reshape(-1), err_msg=name)


def test_unique_along_axis_unsorted(run_sparqc, tmp_path: Path) -> None:
    node = helper.make_node("Unique", ["x"], ["y", "", "inverse"], name="unique", axis=1,
                            sorted=0)
    path = save(tmp_path / "unique.onnx", [node], [info("x", TensorProto.FLOAT, [2, 7, 3])],
                [info("y", TensorProto.FLOAT, None), info("inverse", TensorProto.INT64, None)],
                opset=11)
    rng = np.random.default_rng(8)
    slices = rng.integers(0, 2, (2, 3, 3)).astype(np.float32)
    x = slices[:, rng.integers(0, 3, 7), :]
    got = run_sparqc(path, {"x": x}, ["y", "inverse"])
    # In order of first occurrence: numpy's sorted result, reordered.
    y, first, inverse = np.unique(x, axis=1, return_index=True, return_inverse=True)
    order = np.argsort(first)
    np.testing.assert_array_equal(got["y"], y[:, order, :])
    np.testing.assert_array_equal(got["inverse"], np.argsort(order)[inverse.reshape(-1)])


def test_torchvision_nms_export(run_sparqc, tmp_path: Path) -> None:
    """torchvision.ops.nms exported by PyTorch (Unsqueeze, NonMaxSuppression,
    Gather, Squeeze), its first 10 kept (Slice) and the boxes and scores
    they index (Gather), against PyTorch."""
    torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
    torchvision = pytest.importorskip("torchvision", reason="needs Debian's /usr/bin/python3")

    class Keep(torch.nn.Module):
        def forward(self, boxes, scores):
            keep = torchvision.ops.nms(boxes, scores, 0.5)[:10]
            return boxes[keep], scores[keep], keep

    torch.manual_seed(0)
    xy = torch.rand(50, 2) * 40
    boxes = torch.cat([xy, xy + torch.rand(50, 2) * 12 + 4], 1)
    path = tmp_path / "keep.onnx"
    torch.onnx.export(Keep(), (boxes, torch.rand(50)), str(path),
                      input_names=["boxes", "scores"], output_names=["b", "s", "k"],
                      opset_version=16)
    for seed, scale in [(1, 40), (2, 400)]:  # crowded boxes, and spread ones
        torch.manual_seed(seed)
        xy = torch.rand(50, 2) * scale
        boxes = torch.cat([xy, xy + torch.rand(50, 2) * 12 + 4], 1)
        scores = torch.rand(50)
        got = run_sparqc(path, {"boxes": boxes.numpy(), "scores": scores.numpy()},
                         ["b", "s", "k"])
        for name, want in zip("bsk", Keep()(boxes, scores)):
            np.testing.assert_array_equal(got[name], want.numpy(), err_msg=name)


def test_topk_after_nms(run_sparqc, tmp_path: Path) -> None:
    """The best 4 scores of the boxes NMS kept (TopK along the kept count):
    min(count, 4) of them, in order, with their positions."""
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou"],
                              ["sel"], name="nms"),
             helper.make_node("Gather", ["sel", "two"], ["keep"], axis=1),
             helper.make_node("Gather", ["flat", "keep"], ["kept"], axis=0),
             helper.make_node("Reshape", ["scores", "shape"], ["flat"]),
             helper.make_node("TopK", ["kept", "k"], ["best", "where"], name="topk")]
    path = save(tmp_path / "topk.onnx", nodes,
                [info("boxes", TensorProto.FLOAT, [1, 30, 4]),
                 info("scores", TensorProto.FLOAT, [1, 1, 30])],
                [info("best", TensorProto.FLOAT, None), info("where", TensorProto.INT64, None)],
                [numpy_helper.from_array(np.array([30], np.int64), "max_out"),
                 numpy_helper.from_array(np.array([0.3], np.float32), "iou"),
                 numpy_helper.from_array(np.array(2, np.int64), "two"),
                 numpy_helper.from_array(np.array([30], np.int64), "shape"),
                 numpy_helper.from_array(np.array([4], np.int64), "k")], opset=11)
    rng = np.random.default_rng(9)
    for spread in [40.0, 0.5]:  # many kept; one or two kept
        boxes = random_boxes(rng, 1, 30, False)
        boxes[..., :2] *= spread / 40
        boxes[..., 2:] = boxes[..., :2] + 10
        scores = rng.uniform(0, 1, (1, 1, 30)).astype(np.float32)
        got = run_sparqc(path, {"boxes": boxes, "scores": scores}, ["best", "where"])
        keep = reference_nms(boxes, scores, 30, 0.3, None, 0)[:, 2]
        kept = scores[0, 0][keep]
        order = np.argsort(-kept, kind="stable")[:4]
        assert len(got["best"]) == min(len(keep), 4)
        np.testing.assert_array_equal(got["best"], kept[order])
        np.testing.assert_array_equal(got["where"], order)


def test_convolutions_on_a_run_time_batch_of_crops(run_sparqc, tmp_path: Path) -> None:
    """The regions NMS keeps, cropped by RoIAlign, go through Conv, Relu,
    MaxPool (the crops are the batch, a computed count), a depthwise Conv,
    Flatten and Linear: against PyTorch."""
    torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
    torchvision = pytest.importorskip("torchvision", reason="needs Debian's /usr/bin/python3")

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 8, 3, padding=1)
            self.depthwise = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.fc = torch.nn.Linear(8 * 4 * 4, 5)

        def forward(self, x, boxes, scores):
            keep = torchvision.ops.nms(boxes, scores, 0.4)[:6]
            rois = boxes[keep]
            crops = torchvision.ops.roi_align(x, torch.cat([rois[:, :1] * 0, rois], 1),
                                              (8, 8), spatial_scale=0.5, sampling_ratio=2,
                                              aligned=True)
            y = torch.nn.functional.max_pool2d(torch.relu(self.conv(crops)), 2)
            return self.fc(self.depthwise(y).flatten(1))

    torch.manual_seed(0)
    head = Head().eval()
    x = torch.randn(1, 4, 32, 32)
    path = tmp_path / "head.onnx"
    xy = torch.rand(20, 2) * 40
    boxes = torch.cat([xy, xy + 16], 1)
    torch.onnx.export(head, (x, boxes, torch.rand(20)), str(path),
                      input_names=["x", "boxes", "scores"], output_names=["y"],
                      opset_version=16)
    for seed, spread in [(1, 40.0), (2, 2.0)]:  # six crops, and one
        torch.manual_seed(seed)
        xy = torch.rand(20, 2) * spread
        boxes = torch.cat([xy, xy + 16], 1)
        scores = torch.rand(20)
        got = run_sparqc(path, {"x": x.numpy(), "boxes": boxes.numpy(),
                                "scores": scores.numpy()}, ["y"])["y"]
        with torch.no_grad():
            want = head(x, boxes, scores).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
