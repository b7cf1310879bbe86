"""CaTDet's cascade (Mao, Kong and Dally, SysML 2019) over sparq-compiled
networks.

A cheap *proposal* network runs on every full frame. A *tracker*
(`sparq.video.tracker`) predicts where the objects of past frames will be.
An expensive *refinement* network runs only on crops around the union of
the proposals and the predictions, cut by RoiAlign (one compiled model for
any number of regions up to `max_regions`). Its detections, mapped back to
the frame, are the cascade's output, and update the tracker.

Both networks are detectors: they take an image [1, C, h, w] and return
(boxes [n, 4] as x1, y1, x2, y2 in the image's pixels, scores [n]) and
optionally labels [n], n data-dependent (NonMaxSuppression, NonZero: see
docs/design.md). The refinement network must be fully convolutional: it is
compiled once for the crop and once for the full frame, which is the
single-model run the cascade is measured against.

Operations are the compiler's own per-layer multiply-accumulate counts
(`sparq.report`): per frame, the proposal network's, plus the refinement
network's per crop times the crops refined, against the refinement
network's on the full frame. RoiAlign's bilinear sampling is not a MAC
and is not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from .._source import to_numpy
from .metrics import Box, Detection, Truth, iou, mean_delay
from .tracker import Tracker


@dataclass
class FrameReport:
    frame: int
    regions: int           # crops the refinement network ran on
    proposals: int         # proposals above the threshold
    predicted: int         # regions the tracker predicted
    proposal_macs: int
    refinement_macs: int
    single_macs: int       # the refinement network on the full frame

    @property
    def macs(self) -> int:
        return self.proposal_macs + self.refinement_macs


@dataclass
class CascadeResult:
    frames: list[FrameReport] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    # The refinement network on every full frame, when run (single=True).
    single_detections: Optional[list[Detection]] = None

    @property
    def macs(self) -> int:
        return sum(f.macs for f in self.frames)

    @property
    def single_macs(self) -> int:
        return sum(f.single_macs for f in self.frames)

    @property
    def ratio(self) -> float:
        """How many times fewer operations the cascade executed."""
        return self.single_macs / max(self.macs, 1)

    def delay(self, truth: Sequence[Truth], precision: float = 0.8) -> dict:
        """mD of the cascade and of the single-model run (when it ran), and
        the delay the cascade adds."""
        out = {"cascade": mean_delay(truth, self.detections, precision).value}
        if self.single_detections is not None:
            out["single"] = mean_delay(truth, self.single_detections, precision).value
            out["added"] = out["cascade"] - out["single"]
        return out

    def table(self) -> str:
        rows = ["frame  proposals  predicted  regions  MACs (cascade)  MACs (single)"]
        for f in self.frames:
            rows.append(f"{f.frame:5d}  {f.proposals:9d}  {f.predicted:9d}  {f.regions:7d}  "
                        f"{f.macs:14d}  {f.single_macs:13d}")
        rows.append(f"total  {'':9s}  {'':9s}  {sum(f.regions for f in self.frames):7d}  "
                    f"{self.macs:14d}  {self.single_macs:13d}")
        rows.append(f"the cascade executed {self.ratio:.2f}x fewer multiply-accumulates")
        return "\n".join(rows)


def _crop_model(channels: int, height: int, width: int, crop: int):
    """RoiAlign of a frame's regions to crop x crop, regions at run time."""
    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node("RoiAlign", ["frame", "rois", "batch_indices"], ["crops"],
                            name="crop", output_height=crop, output_width=crop,
                            sampling_ratio=2, coordinate_transformation_mode="half_pixel")
    graph = helper.make_graph(
        [node], "crops",
        [helper.make_tensor_value_info("frame", TensorProto.FLOAT,
                                       [1, channels, height, width]),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, ["regions", 4]),
         helper.make_tensor_value_info("batch_indices", TensorProto.INT64, ["regions"])],
        [helper.make_tensor_value_info("crops", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def _example(model: Any, shape: tuple) -> Any:
    """Zeros of `shape`: a torch tensor for a torch module (its export
    runs it), else NumPy."""
    zeros = np.zeros(shape, np.float32)
    try:
        import torch
    except ImportError:
        return zeros
    return torch.from_numpy(zeros) if isinstance(model, torch.nn.Module) else zeros


def _detections(outputs: Any) -> list[tuple[int, str, Box, float]]:
    """(image, label, box, score) from a detector's (boxes, scores[, labels
    [, images]]): `images` is each detection's index in the batch."""
    outs = [np.asarray(o) for o in (outputs if isinstance(outputs, tuple) else (outputs,))]
    if len(outs) not in (2, 3, 4) or outs[0].ndim != 2 or outs[0].shape[1:] != (4,) or \
            any(o.shape != outs[0].shape[:1] for o in outs[1:]):
        raise ValueError("a cascade's networks return (boxes [n, 4], scores [n]) and "
                         "optionally labels [n] and batch indices [n]; got shapes "
                         f"{[o.shape for o in outs]}")
    n = len(outs[1])
    labels = outs[2] if len(outs) >= 3 else np.zeros(n, np.int64)
    images = outs[3] if len(outs) == 4 else np.zeros(n, np.int64)
    return [(int(i), str(int(l)), tuple(float(v) for v in b), float(s))  # type: ignore[misc]
            for b, s, l, i in zip(outs[0], outs[1], labels, images)]


def _first_input(model: Any) -> str:
    """The name a model's first input has once compiled: a torch module's
    first forward parameter, an ONNX graph's first non-initializer input."""
    import inspect

    try:
        import torch
        if isinstance(model, torch.nn.Module):
            return next(iter(inspect.signature(model.forward).parameters))
    except ImportError:
        pass
    from .._source import _graph_input_names
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    return _graph_input_names(str(model) if not isinstance(model, bytes) else model)[0]


class Cascade:
    """Runs a CaTDet cascade over frames [1, C, H, W] (NumPy or torch).

    Args:
        proposal: the cheap detector (a torch module, or an ONNX model whose
            input takes the frame's shape), compiled for the full frame.
        refinement: the expensive detector, compiled for `crop` x `crop`
            crops and for the full frame. With `batch_crops`, it is compiled
            for a run-time batch of up to `max_regions` crops and runs once
            per frame; it must then return each detection's crop (its
            index in the batch) as a fourth output, after the labels.
        batch_crops: False runs the refinement network crop by crop,
            compiled for one (for networks whose ops do not take a run-time
            batch).
        frame_shape: (C, H, W).
        crop: the side of the crops the refinement network sees.
        context: a region's side is `context` times its box's longer side,
            and at least `crop` pixels: the object with its surroundings.
        proposal_threshold: proposals below this score are not refined.
        max_regions: regions refined per frame, at most (proposals by
            score first, then the tracker's predictions).
        detection_threshold: refined detections at least this good update
            the tracker (all are reported, for the metrics).
        tracker: a `Tracker` (a new one by default).
    """

    def __init__(self, proposal: Any, refinement: Any, frame_shape: Sequence[int], *,
                 crop: int = 32, context: float = 2.0, proposal_threshold: float = 0.0,
                 max_regions: int = 16, detection_threshold: float = 0.5,
                 merge_iou: float = 0.5, tracker: Optional[Tracker] = None,
                 batch_crops: bool = True) -> None:
        import sparq
        c, h, w = (int(d) for d in frame_shape)
        if crop < 1 or max_regions < 1 or context <= 0:
            raise ValueError("crop and max_regions must be >= 1 and context > 0")
        self.frame_shape = (c, h, w)
        self.crop, self.context = int(crop), float(context)
        self.proposal_threshold = float(proposal_threshold)
        self.detection_threshold = float(detection_threshold)
        self.max_regions, self.merge_iou = int(max_regions), float(merge_iou)
        self.tracker = tracker if tracker is not None else Tracker()
        frame = _example(proposal, (1, c, h, w))
        crop_in = _example(refinement, (1, c, crop, crop))
        full = _example(refinement, (1, c, h, w))
        self.proposal = sparq.compile(proposal, (frame,))
        self.batch_crops = bool(batch_crops)
        self.refinement = sparq.compile(
            refinement, (crop_in,),
            dynamic={_first_input(refinement): {0: max_regions}} if batch_crops else None)
        if batch_crops and len(self.refinement.outputs) != 4:
            raise ValueError(
                "with batch_crops, the refinement network returns (boxes, scores, labels, "
                f"crop indices); it has {len(self.refinement.outputs)} outputs "
                "(or pass batch_crops=False)")
        self.refinement_full = sparq.compile(refinement, (full,))
        self.crops = sparq.compile(_crop_model(c, h, w, crop).SerializeToString(),
                                   dynamic={"regions": max_regions})
        # The compiler's per-layer counts.
        self.proposal_macs = sparq.report(proposal, example_inputs=(frame,)).totals.macs
        self.crop_macs = sparq.report(refinement, example_inputs=(crop_in,)).totals.macs
        self.single_macs = sparq.report(refinement, example_inputs=(full,)).totals.macs

    def _region(self, box: Box) -> Box:
        """A square around `box`'s center, `context` times its longer side
        and at least `crop` pixels."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(self.crop, self.context * max(box[2] - box[0], box[3] - box[1]))
        return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)

    def regions(self, proposals: Sequence[tuple[str, Box, float]],
                predicted: Sequence[tuple[str, Box]]) -> list[Box]:
        """The union of the proposals (by descending score) and the
        predictions, as regions: a region that overlaps one already chosen
        by more than `merge_iou` adds nothing."""
        chosen: list[Box] = []
        ordered = [b for _, b, _ in sorted(proposals, key=lambda d: -d[2])]
        for box in ordered + [b for _, b in predicted]:
            r = self._region(box)
            if all(iou(r, c) <= self.merge_iou for c in chosen):
                chosen.append(r)
            if len(chosen) == self.max_regions:
                break
        return chosen

    def step(self, index: int, frame: Any, single: bool = False):
        """One frame: (its report, the cascade's detections, the single
        model's detections or None)."""
        frame = to_numpy(frame).astype(np.float32, copy=False)
        if frame.shape != (1,) + self.frame_shape:
            raise ValueError(f"frame {index}: expected shape {(1,) + self.frame_shape}, "
                             f"got {frame.shape}")
        proposals = [d[1:] for d in _detections(self.proposal(frame))
                     if d[3] >= self.proposal_threshold]
        predicted = self.tracker.predictions()
        regions = self.regions(proposals, predicted)
        found: list[tuple[str, Box, float]] = []
        if regions:
            rois = np.array(regions, np.float32)
            crops = self.crops(frame, rois, np.zeros(len(regions), np.int64))
            if self.batch_crops:
                refined = _detections(self.refinement(crops))
            else:
                refined = [(k, l, b, s) for k, crop in enumerate(crops)
                           for _, l, b, s in _detections(self.refinement(crop[None]))]
            for k, label, b, s in refined:
                if not 0 <= k < len(regions):
                    raise ValueError(f"frame {index}: the refinement network gave crop "
                                     f"{k} of {len(regions)}")
                region = regions[k]
                scale = (region[2] - region[0]) / self.crop
                found.append((label, (region[0] + b[0] * scale, region[1] + b[1] * scale,
                                      region[0] + b[2] * scale, region[1] + b[3] * scale),
                              s))
        found = _suppress(found, self.merge_iou)
        self.tracker.update([(l, b) for l, b, s in found if s >= self.detection_threshold])
        report = FrameReport(index, len(regions), len(proposals), len(predicted),
                             self.proposal_macs, len(regions) * self.crop_macs,
                             self.single_macs)
        single_found = ([d[1:] for d in _detections(self.refinement_full(frame))]
                        if single else None)
        return report, found, single_found

    def run(self, frames: Sequence[Any], single: bool = True) -> CascadeResult:
        """Runs the cascade over `frames`; with `single`, the refinement
        network on each full frame too (for the delay the cascade adds)."""
        result = CascadeResult(single_detections=[] if single else None)
        for t, frame in enumerate(frames):
            report, found, single_found = self.step(t, frame, single)
            result.frames.append(report)
            result.detections += [Detection(t, l, b, s) for l, b, s in found]
            if single_found is not None:
                result.single_detections += [Detection(t, l, b, s)  # type: ignore[operator]
                                             for l, b, s in single_found]
        return result


def _suppress(found: list[tuple[str, Box, float]],
              threshold: float) -> list[tuple[str, Box, float]]:
    """Greedy NMS per label: overlapping regions see the same object."""
    kept: list[tuple[str, Box, float]] = []
    for d in sorted(found, key=lambda d: -d[2]):
        if all(k[0] != d[0] or iou(k[1], d[1]) <= threshold for k in kept):
            kept.append(d)
    return kept
