"""A two-stage detector from torchvision parts (two_stage_detector.py:
backbone, RPNHead, NMS, RoIAlign, TwoMLPHead, FastRCNNPredictor, NMS),
exported by PyTorch and run by `sparqc run`: its boxes, scores and labels
match PyTorch's. The number of regions after each NMS is a count the model
computes.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_detection_model.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
pytest.importorskip("torchvision", reason="needs Debian's /usr/bin/python3")
import two_stage_detector as detector  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[detector.TwoStageDetector, Path]:
    model = detector.TwoStageDetector().eval()
    path = tmp_path_factory.mktemp("detector") / "detector.onnx"
    detector.export(model, str(path))
    return model, path


@pytest.mark.parametrize("seed", [2, 3, 7])
def test_two_stage_detector_matches_pytorch(run_sparqc, exported, seed: int) -> None:
    model, path = exported
    img = detector.image(seed)
    # Orders that decide the output are far apart, so rounding cannot flip
    # them: a difference below is the compiler's, not the float noise's.
    assert detector.margin(model, img) > 1e-5, "inputs too close to call"
    with torch.no_grad():
        boxes, scores, labels = model(img)
        _, rois, _, _ = model.stages(img)
    # The last NMS leaves out regions: its count is data-dependent here.
    assert len(boxes) < len(rois)
    got = run_sparqc(path, {"image": img.numpy()}, ["boxes", "scores", "labels"])
    assert got["boxes"].shape == (len(boxes), 4)
    np.testing.assert_array_equal(got["labels"], labels.numpy())
    np.testing.assert_allclose(got["scores"], scores.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["boxes"], boxes.numpy(), rtol=1e-4, atol=1e-3)


def test_detections_vary_with_the_image(run_sparqc, exported) -> None:
    """One compiled model returns as many detections as each image has,
    and they differ between images."""
    model, path = exported
    counts = []
    for seed in [2, 3, 7]:
        img = detector.image(seed)
        got = run_sparqc(path, {"image": img.numpy()}, ["boxes", "scores", "labels"])
        with torch.no_grad():
            want = len(model(img)[0])
        assert {len(v) for v in got.values()} == {want}
        counts.append(want)
    assert len(set(counts)) > 1, counts
