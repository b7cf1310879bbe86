"""Video detection, issue 21: the two-stage detector's latency against
onnxruntime (batch 1, side by side in one run), and CaTDet's cascade on the
synthetic video: operations against the single-model run, and delay.

    PYTHONPATH=build/python .venv/bin/python bench/detection.py [--repeat 50]

The detector is test/e2e/two_stage_detector.py (64x64 image, 768 anchors,
64 proposals to NMS, up to 16 regions refined); sparq's time is what
`sparqc run --repeat` reports, onnxruntime's a session run (2 threads, all
graph optimizations), both medians after a warm-up. The cascade is
test/python/synthetic_video.py's, as the cascade test runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "e2e"))
sys.path.insert(0, str(ROOT / "test" / "python"))
sys.path.insert(0, str(ROOT / "bench"))


def time_detector(sparqc: Path, repeat: int, work: Path) -> dict:
    import onnxruntime as ort
    import torch
    import two_stage_detector as detector

    model = detector.TwoStageDetector().eval()
    path = work / "detector.onnx"
    detector.export(model, str(path))
    img = detector.image(2).numpy()
    np.save(work / "image.npy", img)
    timing = work / "timing.json"
    proc = subprocess.run([str(sparqc), "run", str(path), "-i", f"image={work / 'image.npy'}",
                           "-o", str(work / "out"), "--repeat", str(repeat),
                           "--timing-json", str(timing)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    report = json.loads(timing.read_text())
    sparq_ms = statistics.median(report["run_ms"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ort_out = session.run(None, {"image": img})
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, {"image": img})
        runs.append((time.perf_counter() - start) * 1e3)
    ort_ms = statistics.median(runs)
    with torch.no_grad():
        want = model(torch.from_numpy(img))
    got = [np.load(work / "out" / f"{n}.npy") for n in ("boxes", "scores", "labels")]
    agree = all(g.shape == w.shape and np.allclose(g, w.numpy(), rtol=1e-4, atol=1e-3)
                for g, w in zip(got, want))
    ort_agree = all(o.shape == w.shape and np.allclose(o, w.numpy(), rtol=1e-4, atol=1e-3)
                    for o, w in zip(ort_out, want))
    return {"sparq_ms": sparq_ms, "ort_ms": ort_ms, "compile_ms": report["compile_ms"],
            "detections": int(len(got[0])), "matches_pytorch": agree,
            "ort_matches_pytorch": ort_agree}


def run_cascade() -> dict:
    from synthetic_video import SIZE, TemplateDetector, video

    from sparq.video import Cascade
    frames, truth = video()
    cascade = Cascade(TemplateDetector(True, 1, 0.3), TemplateDetector(False, 8, 0.5),
                      (1, SIZE, SIZE), crop=32, context=3.0)
    # Wall times after a warm-up pass of each (first calls fill the buffer
    # cache), the tracker reset between passes.
    cascade.run(frames, single=True)
    cascade.tracker.tracks.clear()
    start = time.perf_counter()
    r = cascade.run(frames, single=False)
    cascade_s = time.perf_counter() - start
    start = time.perf_counter()
    for f in frames:
        cascade.refinement_full(f)
    single_s = time.perf_counter() - start
    # The delays need the single run's detections: run it as the test does.
    cascade.tracker.tracks.clear()
    full = cascade.run(frames, single=True)
    d = full.delay(truth)
    return {"frames": len(frames), "macs": r.macs, "single_macs": r.single_macs,
            "ratio": r.ratio, "regions": sum(f.regions for f in r.frames),
            "md_cascade": d["cascade"], "md_single": d["single"], "md_added": d["added"],
            "cascade_s": cascade_s, "single_s": single_s}


def main(argv: list[str] | None = None) -> int:
    from e2e_latency import cpu_description
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--sparqc", type=Path,
                    default=Path(os.environ.get("SPARQC", ROOT / "build" / "bin" / "sparqc")))
    args = ap.parse_args(argv)
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory() as tmp:
        d = time_detector(args.sparqc, args.repeat, Path(tmp))
    print(f"two-stage detector, batch 1, median of {args.repeat}: sparq {d['sparq_ms']:.3f} ms, "
          f"onnxruntime {d['ort_ms']:.3f} ms, sparq / onnxruntime "
          f"{d['sparq_ms'] / d['ort_ms']:.2f}; compile {d['compile_ms']:.0f} ms; "
          f"{d['detections']} detections; matches PyTorch: sparq {d['matches_pytorch']}, "
          f"onnxruntime {d['ort_matches_pytorch']}")
    c = run_cascade()
    print(f"cascade, synthetic video ({c['frames']} frames, {c['regions']} regions refined): "
          f"{c['macs']} MACs against {c['single_macs']} for the refinement network on every "
          f"frame: {c['ratio']:.2f}x fewer; mD cascade {c['md_cascade']:.2f}, single "
          f"{c['md_single']:.2f}, added {c['md_added']:+.2f} frames; wall time cascade "
          f"{c['cascade_s'] * 1e3:.0f} ms, single {c['single_s'] * 1e3:.0f} ms")
    return 0 if d["matches_pytorch"] else 1


if __name__ == "__main__":
    sys.exit(main())
