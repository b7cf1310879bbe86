"""sparq.video.Cascade on a synthetic video (synthetic_video.py): noise
with bright squares that move, and one that appears midway. Both stages are
template-matching detectors (convolutions with fixed weights, peaks by max
pooling, NonZero for a data-dependent number of boxes): a cheap one on the
frame at half resolution, an expensive one on 32x32 crops. The cascade
finds every object, executes several times fewer multiply-accumulates than
the expensive detector on every full frame (the compiler's own counts),
and its mean delay stays within one frame of that single-model run's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sparq.video import Cascade
from sparq.video.metrics import Detection, match

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_video import SIZE, TemplateDetector, video  # noqa: E402


def missed(truth, detections) -> list:
    """The ground truth no detection matches (IoU >= 0.5, same label)."""
    m = match(truth, detections)
    found = {id(t) for t in m.truth_of if t is not None}
    return [t for t in truth if id(t) not in found]


@pytest.fixture(scope="module")
def result():
    frames, truth = video()
    cascade = Cascade(TemplateDetector(True, 1, 0.3), TemplateDetector(False, 8, 0.5),
                      (1, SIZE, SIZE), crop=32, context=3.0)
    return cascade, cascade.run(frames), truth


def test_single_model_finds_every_object(result) -> None:
    _, r, truth = result
    assert not missed(truth, [d for d in r.single_detections if d.score >= 0.5])


def test_cascade_finds_every_object(result) -> None:
    _, r, truth = result
    kept = [d for d in r.detections if d.score >= 0.5]
    lost = missed(truth, kept)
    assert not lost, lost[:5]
    # ... and reports nothing else.
    assert len(kept) == len(truth)


def test_cascade_executes_several_times_fewer_macs(result) -> None:
    cascade, r, _ = result
    # The counts are the compiler's: the 8-wide 13x13 filter and the mix,
    # on a 32x32 crop and on the full frame.
    assert cascade.crop_macs == 32 * 32 * 8 * (13 * 13 + 1)
    assert cascade.single_macs == SIZE * SIZE * 8 * (13 * 13 + 1)
    for f in r.frames:
        assert f.refinement_macs == f.regions * cascade.crop_macs
        assert f.single_macs == cascade.single_macs
        assert 1 <= f.regions <= 16
    assert r.macs == sum(f.proposal_macs + f.refinement_macs for f in r.frames)
    assert r.ratio > 4.0, r.table()


def test_cascade_delay_within_a_frame(result) -> None:
    _, r, truth = result
    d = r.delay(truth)
    assert abs(d["cascade"] - d["single"]) <= 1.0, d


def test_tracker_regions_cover_a_missed_proposal() -> None:
    """A proposal network that finds nothing after frame 0: the tracker's
    predictions alone keep the objects in the refined regions."""
    frames, truth = video()
    # (Crop by crop, the refinement network compiled for one.)
    cascade = Cascade(TemplateDetector(True, 1, 0.3), TemplateDetector(False, 8, 0.5),
                      (1, SIZE, SIZE), crop=32, context=3.0, batch_crops=False)
    first, _, _ = cascade.step(0, frames[0])
    blank = np.zeros_like(frames[1])
    # The proposal network sees a blank frame; the refinement network the real one.
    proposal = cascade.proposal
    cascade.proposal = lambda frame: proposal(blank)
    report, found, _ = cascade.step(1, frames[1])
    assert report.proposals == 0 and report.predicted == 2 and report.regions == 2
    want = [t for t in truth if t.frame == 1]
    assert not missed(want, [Detection(1, l, b, s) for l, b, s in found])


def test_bad_frames_and_networks() -> None:
    cascade = Cascade(TemplateDetector(True, 1, 0.3), TemplateDetector(False, 1, 0.5),
                      (1, SIZE, SIZE), crop=32)
    assert [o.shape for o in cascade.refinement.inputs] == [(16, 1, 32, 32)]
    assert cascade.refinement.inputs[0].runtime_axes == (0,)
    with pytest.raises(ValueError, match="frame 0: expected shape"):
        cascade.step(0, np.zeros((1, 1, 32, 32), np.float32))
    cascade.proposal = lambda frame: (np.zeros((2, 3), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=r"return \(boxes \[n, 4\], scores \[n\]\)"):
        cascade.step(0, np.zeros((1, 1, SIZE, SIZE), np.float32))


def test_cascade_command(tmp_path) -> None:
    """python -m sparq.video cascade on ONNX files: the table, the delay
    against ground truth, the detections written; bad frames are an error."""
    import json
    import subprocess
    import sys

    proposal, refinement = tmp_path / "proposal.onnx", tmp_path / "refinement.onnx"
    frame = torch.zeros(1, 1, SIZE, SIZE)
    torch.onnx.export(TemplateDetector(True, 1, 0.3), (frame,), str(proposal),
                      input_names=["frame"], output_names=["boxes", "scores"],
                      opset_version=13)
    torch.onnx.export(TemplateDetector(False, 8, 0.5), (frame,), str(refinement),
                      input_names=["image"], output_names=["boxes", "scores"],
                      dynamic_axes={"image": {2: "height", 3: "width"}}, opset_version=13)
    frames, truth = video()
    np.save(tmp_path / "frames.npy", np.concatenate(frames)[:12])
    (tmp_path / "gt.json").write_text(json.dumps({"frames": [
        {"frame": t, "objects": [{"track": g.track, "label": g.label, "box": list(g.box)}
                                 for g in truth if g.frame == t]} for t in range(12)]}))
    cmd = [sys.executable, "-m", "sparq.video", "cascade", "--proposal", str(proposal),
           "--refinement", str(refinement), "--frames", str(tmp_path / "frames.npy"),
           "--truth", str(tmp_path / "gt.json"), "--out", str(tmp_path / "det.json"),
           "--context", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "fewer multiply-accumulates" in proc.stdout
    assert "mD = 0.000 frames for the cascade, 0.000 for the refinement" in proc.stdout
    dets = json.loads((tmp_path / "det.json").read_text())["frames"]
    assert len(dets) == 12 and all(len(f["detections"]) >= 2 for f in dets)

    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    proc = subprocess.run(cmd[:9] + [str(tmp_path / "bad.npy")], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "frames must be [T, C, H, W]" in proc.stderr
    help_text = subprocess.run([sys.executable, "-m", "sparq.video", "--help"],
                               capture_output=True, text=True).stdout
    assert "cascade" in help_text and "ad" in help_text and "md" in help_text


def test_batched_refinement_needs_crop_indices() -> None:
    class NoIndices(TemplateDetector):
        def forward(self, image):
            return super().forward(image)[:2]

    with pytest.raises(ValueError, match="returns \\(boxes, scores, labels, crop indices\\)"):
        Cascade(TemplateDetector(True, 1, 0.3), NoIndices(False, 1, 0.5), (1, SIZE, SIZE))
