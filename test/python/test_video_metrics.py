"""sparq.video.metrics: AD, mD and AP on hand-computed cases, against a
second, straightforward implementation written here on random videos, and
the `python -m sparq.video` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparq.video import metrics
from sparq.video.metrics import Detection, Truth


def box(x: float, y: float = 0.0, size: float = 10.0):
    return (x, y, x + size, y + size)


def two_tracks():
    """Track A in frames 0-9, detected from frame 3 on (delay 3); track B
    in frames 0-4, never detected (delay = its length, 5)."""
    truth = [Truth(f, "A", "car", box(0)) for f in range(10)]
    truth += [Truth(f, "B", "car", box(100)) for f in range(5)]
    dets = [Detection(f, "car", box(0.5), 0.9 - 0.01 * f) for f in range(3, 10)]
    return truth, dets


def test_late_and_never_detected_tracks() -> None:
    truth, dets = two_tracks()
    r = metrics.average_delay(truth, dets)
    # No false positives: every threshold keeps every detection.
    assert [p[2] for p in r.points] == [4.0] * 6
    assert r.value == pytest.approx(4.0)
    md = metrics.mean_delay(truth, dets)
    assert md.value == pytest.approx(4.0)


def test_a_false_positive_flood() -> None:
    """Six false positives, all of score 0.95, above every true detection;
    15 ground-truth boxes. At FP ratio 0.1 and 0.2 the six (kept or dropped
    together: 6 / 15 = 0.4) are dropped, and the true detections below them
    with them: delays 10 and 5. From 0.4 on everything is kept: delays 3
    and 5."""
    truth, dets = two_tracks()
    dets += [Detection(20 + k, "car", box(500), 0.95) for k in range(6)]
    r = metrics.average_delay(truth, dets)
    assert [p[2] for p in r.points] == [7.5, 7.5, 4.0, 4.0, 4.0, 4.0]
    assert math.isinf(r.points[0][1]) and r.points[2][1] == pytest.approx(0.81)
    assert r.value == pytest.approx(1 / ((2 / 8.5 + 4 / 5) / 6) - 1)
    # mD: precision never reaches 0.8 at any threshold (0 at 0.95, then 7/13
    # with everything kept): nothing is kept, each track counts its length.
    assert math.isinf(metrics.mean_delay(truth, dets).points[0][1])
    assert metrics.mean_delay(truth, dets).value == pytest.approx(7.5)
    # At precision 0.5, everything kept is enough (7/13 >= 0.5).
    assert metrics.mean_delay(truth, dets, precision=0.5).value == pytest.approx(4.0)


def test_delays_are_clipped_at_30_for_ad_only() -> None:
    truth = [Truth(f, "long", "car", box(0)) for f in range(50)]
    r = metrics.average_delay(truth, [])
    assert r.value == pytest.approx(30.0)
    assert metrics.mean_delay(truth, []).value == pytest.approx(50.0)


def test_class_and_iou_decide_matches() -> None:
    truth = [Truth(0, "t", "car", box(0))]
    # Right place, wrong class; right class, IoU 1/3 (< 0.5); then a match.
    dets = [Detection(0, "person", box(0), 0.9), Detection(0, "car", box(5), 0.8),
            Detection(0, "car", box(1), 0.7)]
    m = metrics.match(truth, dets)
    assert [t is not None for t in m.truth_of] == [False, False, True]
    # Among the cars: a false positive, then the match: precision 1/2 at
    # recall 1.
    assert metrics.average_precision(truth, dets)["car"] == pytest.approx(0.5)


def test_average_precision_by_hand() -> None:
    """Two boxes; detections TP (0.9), FP (0.8), TP (0.7): precision 1 at
    recall 0.5, 2/3 at recall 1: AP = 0.5 * 1 + 0.5 * 2/3."""
    truth = [Truth(0, "a", "car", box(0)), Truth(1, "b", "car", box(0))]
    dets = [Detection(0, "car", box(0), 0.9), Detection(0, "car", box(200), 0.8),
            Detection(1, "car", box(0), 0.7)]
    aps = metrics.average_precision(truth, dets)
    assert aps["car"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert aps["mAP"] == aps["car"]


# A second implementation, written from the definitions without the
# module's shortcuts: every threshold is tried by brute force, matching is
# redone on each subset, and delays are read frame by frame.

def ref_match(truth, dets):
    """{detection index: truth index or None}, greedy by score per frame."""
    out = {}
    for frame in sorted({d.frame for d in dets}):
        idx = [i for i, d in enumerate(dets) if d.frame == frame]
        idx.sort(key=lambda i: (-dets[i].score, i))
        free = [j for j, t in enumerate(truth) if t.frame == frame]
        for i in idx:
            cands = [(metrics.iou(dets[i].box, truth[j].box), -k, j) for k, j in enumerate(free)
                     if truth[j].label == dets[i].label]
            cands = [c for c in cands if c[0] >= 0.5]
            if cands:
                j = max(cands)[2]
                out[i] = j
                free.remove(j)
            else:
                out[i] = None
    return out


def ref_delays(truth, dets, keep, clip):
    tracks = sorted({t.track for t in truth})
    sub = [dets[i] for i in keep]
    matches = ref_match(truth, sub)
    out = []
    for tr in tracks:
        frames = sorted(t.frame for t in truth if t.track == tr)
        hit = [truth[j].frame for j in matches.values() if j is not None and truth[j].track == tr]
        d = min(hit) - frames[0] if hit else len(frames)
        out.append(min(d, clip) if clip else d)
    return sum(out) / len(out)


def ref_ad(truth, dets, ratios=metrics.FP_RATIOS, clip=30):
    scores = sorted({d.score for d in dets}, reverse=True)
    ds = []
    for r in ratios:
        keep = []
        for s in scores:  # the lowest threshold whose FP ratio is <= r
            cand = [i for i, d in enumerate(dets) if d.score >= s]
            fp = sum(j is None for j in ref_match(truth, [dets[i] for i in cand]).values())
            if fp / len(truth) > r:
                break
            keep = cand
        ds.append(ref_delays(truth, dets, keep, clip))
    return 1 / np.mean([1 / (d + 1) for d in ds]) - 1


def ref_md(truth, dets, precision=0.8):
    keep = []
    for s in sorted({d.score for d in dets}, reverse=True):
        cand = [i for i, d in enumerate(dets) if d.score >= s]
        tp = sum(j is not None for j in ref_match(truth, [dets[i] for i in cand]).values())
        if tp / len(cand) >= precision:
            keep = cand
    return ref_delays(truth, dets, keep, None)


def ref_ap(truth, dets, label):
    n = sum(t.label == label for t in truth)
    order = sorted((i for i, d in enumerate(dets) if d.label == label),
                   key=lambda i: (-dets[i].score, dets[i].frame, i))
    matches = ref_match(truth, dets)
    tp = np.cumsum([matches[i] is not None for i in order])
    fp = np.cumsum([matches[i] is None for i in order])
    rec = np.concatenate([[0.0], tp / n])
    prec = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    env = np.maximum.accumulate(prec[::-1])[::-1]
    return float(np.sum(np.diff(rec) * env[1:]))


def random_video(seed: int):
    rng = np.random.default_rng(seed)
    truth, dets = [], []
    for k in range(int(rng.integers(3, 8))):
        start, length = int(rng.integers(0, 20)), int(rng.integers(3, 40))
        label = ["car", "person"][k % 2]
        x = float(rng.uniform(0, 400))
        detect_from = start + int(rng.integers(0, length + 5))
        for f in range(start, start + length):
            truth.append(Truth(f, f"t{k}", label, box(x + 2 * f, 50.0 * k)))
            if f >= detect_from and rng.random() < 0.8:
                jitter = float(rng.normal(0, 1.5))
                dets.append(Detection(f, label, box(x + 2 * f + jitter, 50.0 * k),
                                      float(np.round(rng.uniform(0.3, 1.0), 2))))
    for _ in range(int(rng.integers(0, 60))):  # false positives
        dets.append(Detection(int(rng.integers(0, 60)), ["car", "person"][int(rng.integers(2))],
                              box(float(rng.uniform(0, 600)), 400.0),
                              float(np.round(rng.uniform(0.0, 1.0), 2))))
    return truth, dets


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_a_straightforward_implementation(seed: int) -> None:
    truth, dets = random_video(seed)
    assert metrics.average_delay(truth, dets).value == pytest.approx(ref_ad(truth, dets))
    assert metrics.mean_delay(truth, dets).value == pytest.approx(ref_md(truth, dets))
    aps = metrics.average_precision(truth, dets)
    for label in {t.label for t in truth}:
        assert aps[label] == pytest.approx(ref_ap(truth, dets, label))


def test_bad_inputs_are_named() -> None:
    truth, dets = two_tracks()
    with pytest.raises(ValueError, match=r"detection 7 \(frame 2\): its score is nan"):
        metrics.average_delay(truth, dets + [Detection(2, "car", box(0), float("nan"))])
    with pytest.raises(ValueError, match=r"ground truth 15 \(frame 3, track C\).*x2 < x1"):
        metrics.average_delay(truth + [Truth(3, "C", "car", (10, 0, 5, 5))], dets)
    with pytest.raises(ValueError, match="needs ground truth"):
        metrics.average_delay([], dets)
    # Empty frames are fine; boxes outside any image too (no image size here).
    assert metrics.average_delay(truth, []).value == pytest.approx(
        1 / (1 / (1 + (10 + 5) / 2)) - 1)
    outside = [Detection(f, "car", (-50, -50, 10, 10), 0.5) for f in range(2)]
    metrics.average_delay(truth, outside)


def write_files(tmp: Path, truth, dets) -> None:
    frames = sorted({t.frame for t in truth} | {d.frame for d in dets})
    (tmp / "gt.json").write_text(json.dumps({"frames": [
        {"frame": f, "objects": [{"track": t.track, "label": t.label, "box": list(t.box)}
                                 for t in truth if t.frame == f]} for f in frames]}))
    (tmp / "det.json").write_text(json.dumps({"frames": [
        {"frame": f, "detections": [{"label": d.label, "box": list(d.box), "score": d.score}
                                    for d in dets if d.frame == f]} for f in frames]}))
    (tmp / "gt.csv").write_text("frame,track,label,x1,y1,x2,y2\n" + "".join(
        f"{t.frame},{t.track},{t.label},{','.join(map(str, t.box))}\n" for t in truth))
    (tmp / "det.csv").write_text("frame,label,x1,y1,x2,y2,score\n" + "".join(
        f"{d.frame},{d.label},{','.join(map(str, d.box))},{d.score}\n" for d in dets))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparq.video", *args], capture_output=True,
                          text=True, timeout=120)


def test_the_command(tmp_path: Path) -> None:
    truth, dets = random_video(3)
    write_files(tmp_path, truth, dets)
    def key(t):
        return (t.frame, t.track)
    assert sorted(metrics.load(tmp_path / "gt.csv", "truth"), key=key) == \
        sorted(metrics.load(tmp_path / "gt.json", "truth"), key=key)
    help_text = run("--help").stdout
    for sub in ("ad", "md", "ap"):
        assert sub in help_text
    want = metrics.average_delay(truth, dets).value
    for ext in ("json", "csv"):
        p = run("ad", "--truth", str(tmp_path / f"gt.{ext}"), "--detections",
                str(tmp_path / f"det.{ext}"), "--plot", str(tmp_path / f"ad_{ext}.png"))
        assert p.returncode == 0, p.stderr
        assert f"AD = {want:.3f} frames" in p.stdout
        assert (tmp_path / f"ad_{ext}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = run("md", "--truth", str(tmp_path / "gt.json"), "--detections",
            str(tmp_path / "det.json"))
    assert p.returncode == 0 and f"mD = {metrics.mean_delay(truth, dets).value:.3f}" in p.stdout
    (tmp_path / "bad.csv").write_text("frame,label,x1,y1,x2,y2,score\n0,car,0,0,5,5,nan\n")
    p = run("ad", "--truth", str(tmp_path / "gt.csv"), "--detections",
            str(tmp_path / "bad.csv"))
    assert p.returncode == 1 and "entry 0 (frame 0): its score is nan" in p.stderr
