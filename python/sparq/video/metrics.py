"""Delay metrics for video object detection, beside AP.

- **AD**, Average Delay (Mao, Yang and Dally, ICCV 2019). Detections are
  matched to ground truth. For each target false-positive ratio in {0.1,
  0.2, 0.4, 0.8, 1.6, 3.2} the score threshold is chosen where the ratio is
  first exceeded. At that threshold each ground-truth track's delay is the
  first frame it is detected minus the first frame it is present; a track
  never detected counts its length. Delays are clipped at 30. d_t is the
  mean over tracks, and AD = 1 / mean_t(1 / (d_t + 1)) - 1.
- **mD**, CaTDet's mean delay (Mao, Kong and Dally, SysML 2019): the mean
  over tracks of the same delay, unclipped, at a precision-calibrated
  threshold. The paper leaves the calibration open; sparq takes the lowest
  score threshold at which the detections kept have precision >= p
  (default 0.8).
- **AP**: per class, the area under the precision/recall curve
  (all-point interpolation, as PASCAL VOC since 2010), averaged over
  classes (mAP).

**Matching**, shared by all three. Per frame, detections are taken by
descending score. Each matches the unmatched ground-truth box of its class
with the highest IoU, if that IoU is >= 0.5; otherwise it is a false
positive. Taking detections by score makes the matches at any threshold
those of the whole list, cut.

**The FP ratio** is the cumulative false positives over the number of
ground-truth boxes. "First exceeded" is read as: keep detections, by
descending score, while the ratio stays <= the target. The threshold is the
last kept score, and detections of one score are kept or dropped together.
A list that never exceeds the target keeps everything.

**Input.** Boxes are (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, and
finite. Scores are finite. Anything else is a ValueError naming the frame
and the entry. Frames with nothing in them are allowed. load() reads the
JSON and CSV layouts in docs/video.md.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

FP_RATIOS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
MAX_DELAY = 30
IOU_THRESHOLD = 0.5

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Truth:
    """One ground-truth box: `track` identifies the object across frames."""
    frame: int
    track: str
    label: str
    box: Box


@dataclass(frozen=True)
class Detection:
    frame: int
    label: str
    box: Box
    score: float


def _check_box(box: Sequence[float], where: str) -> Box:
    if len(box) != 4:
        raise ValueError(f"{where}: a box is (x1, y1, x2, y2), got {len(box)} numbers")
    b = tuple(float(v) for v in box)
    if not all(math.isfinite(v) for v in b):
        raise ValueError(f"{where}: the box {list(b)} is not finite")
    if b[2] < b[0] or b[3] < b[1]:
        raise ValueError(f"{where}: the box {list(b)} has x2 < x1 or y2 < y1")
    return b  # type: ignore[return-value]


def validate(truth: Iterable[Truth], detections: Iterable[Detection]) -> None:
    """Raises ValueError for a box or score the metrics cannot take."""
    for i, t in enumerate(truth):
        _check_box(t.box, f"ground truth {i} (frame {t.frame}, track {t.track})")
    for i, d in enumerate(detections):
        where = f"detection {i} (frame {d.frame})"
        _check_box(d.box, where)
        if not math.isfinite(d.score):
            raise ValueError(f"{where}: its score is {d.score}")


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Matched:
    """The detections by descending score (ties: frame, then input order),
    each with the ground truth it matched (None: a false positive)."""
    detections: list[Detection]
    truth_of: list[Optional[Truth]]
    truth: list[Truth]


def match(truth: Sequence[Truth], detections: Sequence[Detection],
          iou_threshold: float = IOU_THRESHOLD) -> Matched:
    validate(truth, detections)
    by_frame: dict[int, list[Truth]] = {}
    for t in truth:
        by_frame.setdefault(t.frame, []).append(t)
    order = sorted(range(len(detections)),
                   key=lambda i: (-detections[i].score, detections[i].frame, i))
    taken: set[int] = set()  # ids of matched Truth objects
    result: list[Optional[Truth]] = []
    for i in order:
        d = detections[i]
        best, best_iou = None, iou_threshold
        for t in by_frame.get(d.frame, ()):
            if t.label != d.label or id(t) in taken:
                continue
            v = iou(d.box, t.box)
            if v >= best_iou:
                best, best_iou = t, v
        if best is not None:
            taken.add(id(best))
        result.append(best)
    return Matched([detections[i] for i in order], result, list(truth))


def _score_groups(m: Matched):
    """(score, [indices]) of the detections, by descending score: a
    threshold keeps or drops all detections of one score together."""
    i, dets = 0, m.detections
    while i < len(dets):
        j = i
        while j < len(dets) and dets[j].score == dets[i].score:
            j += 1
        yield dets[i].score, range(i, j)
        i = j


def threshold_at_fp_ratio(m: Matched, ratio: float) -> float:
    """The score threshold for a target FP ratio (see the module's note):
    +inf when not even the first score's detections can be kept."""
    n = len(m.truth)
    fp, threshold = 0, math.inf
    for score, group in _score_groups(m):
        fp += sum(m.truth_of[k] is None for k in group)
        if n == 0 or fp / n > ratio:
            break
        threshold = score
    return threshold


def track_delays(m: Matched, threshold: float, clip: Optional[int] = MAX_DELAY) -> dict:
    """track -> delay at `threshold` (detections with score >= it)."""
    first: dict[str, int] = {}
    length: dict[str, int] = {}
    for t in m.truth:
        first[t.track] = min(first.get(t.track, t.frame), t.frame)
        length[t.track] = length.get(t.track, 0) + 1
    seen: dict[str, int] = {}
    for d, t in zip(m.detections, m.truth_of):
        if t is not None and d.score >= threshold:
            seen[t.track] = min(seen.get(t.track, t.frame), t.frame)
    delays = {}
    for track, f in first.items():
        d = seen[track] - f if track in seen else length[track]
        delays[track] = min(d, clip) if clip is not None else d
    return delays


@dataclass
class DelayResult:
    value: float
    # (FP ratio or precision, threshold, mean delay over tracks)
    points: list[tuple[float, float, float]] = field(default_factory=list)


def average_delay(truth: Sequence[Truth], detections: Sequence[Detection],
                  ratios: Sequence[float] = FP_RATIOS, clip: int = MAX_DELAY,
                  iou_threshold: float = IOU_THRESHOLD) -> DelayResult:
    m = match(truth, detections, iou_threshold)
    if not m.truth:
        raise ValueError("average delay needs ground truth: there is none")
    points = []
    for r in ratios:
        s = threshold_at_fp_ratio(m, r)
        delays = track_delays(m, s, clip)
        points.append((r, s, sum(delays.values()) / len(delays)))
    ad = 1.0 / (sum(1.0 / (d + 1.0) for _, _, d in points) / len(points)) - 1.0
    return DelayResult(ad, points)


def threshold_at_precision(m: Matched, precision: float) -> float:
    """The lowest score threshold whose kept detections (score >= it) have
    precision >= `precision`; +inf when none does."""
    tp = kept = 0
    best = math.inf
    for score, group in _score_groups(m):
        tp += sum(m.truth_of[k] is not None for k in group)
        kept += len(group)
        if tp / kept >= precision:
            best = score
    return best


def mean_delay(truth: Sequence[Truth], detections: Sequence[Detection],
               precision: float = 0.8, iou_threshold: float = IOU_THRESHOLD) -> DelayResult:
    m = match(truth, detections, iou_threshold)
    if not m.truth:
        raise ValueError("mean delay needs ground truth: there is none")
    s = threshold_at_precision(m, precision)
    delays = track_delays(m, s, clip=None)
    md = sum(delays.values()) / len(delays)
    return DelayResult(md, [(precision, s, md)])


def average_precision(truth: Sequence[Truth], detections: Sequence[Detection],
                      iou_threshold: float = IOU_THRESHOLD) -> dict:
    """{label: AP} and "mAP": the mean over labels with ground truth."""
    m = match(truth, detections, iou_threshold)
    labels = sorted({t.label for t in truth})
    aps = {}
    for label in labels:
        n = sum(t.label == label for t in truth)
        tp = fp = 0
        recall, prec = [0.0], [1.0]
        for d, t in zip(m.detections, m.truth_of):
            if d.label != label:
                continue
            tp += t is not None
            fp += t is None
            recall.append(tp / n)
            prec.append(tp / (tp + fp))
        # All-point interpolation: precision made non-increasing from the
        # right, summed over the recall steps.
        for k in range(len(prec) - 2, -1, -1):
            prec[k] = max(prec[k], prec[k + 1])
        aps[label] = sum((recall[k] - recall[k - 1]) * prec[k] for k in range(1, len(recall)))
    aps["mAP"] = sum(aps[label] for label in labels) / len(labels) if labels else 0.0
    return aps


def load(path: Path | str, kind: str) -> list:
    """Ground truth (`kind` "truth") or detections ("detections") from a
    JSON or CSV file (docs/video.md)."""
    path = Path(path)
    if kind not in ("truth", "detections"):
        raise ValueError(f"kind must be 'truth' or 'detections', got {kind!r}")
    rows: list[dict] = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                r = dict(r)
                r["box"] = [r.pop(k) for k in ("x1", "y1", "x2", "y2")]
                rows.append(r)
    else:
        doc = json.loads(path.read_text())
        key = "objects" if kind == "truth" else "detections"
        for fr in doc.get("frames", []):
            for r in fr.get(key, []):
                rows.append({**r, "frame": fr["frame"]})
    out = []
    for i, r in enumerate(rows):
        where = f"{path}: entry {i} (frame {r.get('frame')})"
        try:
            box = _check_box([float(v) for v in r["box"]], where)
            if kind == "truth":
                out.append(Truth(int(r["frame"]), str(r["track"]), str(r["label"]), box))
            else:
                score = float(r["score"])
                if not math.isfinite(score):
                    raise ValueError(f"{where}: its score is {score}")
                out.append(Detection(int(r["frame"]), str(r["label"]), box, score))
        except KeyError as e:
            raise ValueError(f"{where}: missing {e.args[0]!r}") from None
    return out
