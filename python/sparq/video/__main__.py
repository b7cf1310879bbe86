"""python -m sparq.video: delay metrics of detections against ground truth,
and CaTDet's cascade over two detectors.

    python -m sparq.video ad --truth gt.json --detections det.json [--plot ad.png]
    python -m sparq.video md --truth gt.csv --detections det.csv [--precision 0.8]
    python -m sparq.video ap --truth gt.json --detections det.json
    python -m sparq.video cascade --proposal p.onnx --refinement r.onnx \
        --frames frames.npy [--truth gt.json] [--out det.json]

Each prints a table; `ad --plot` also writes the mean delay against the
false-positive ratio as a PNG (matplotlib). The file layouts are in
docs/video.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._sparq import CompileError, InputError
from . import metrics


def _inputs(args) -> tuple[list, list]:
    return (metrics.load(args.truth, "truth"), metrics.load(args.detections, "detections"))


def _ad(args) -> int:
    truth, dets = _inputs(args)
    r = metrics.average_delay(truth, dets, ratios=args.ratios, clip=args.clip)
    print(f"{'FP ratio':>9} {'threshold':>10} {'mean delay':>11}")
    for ratio, s, d in r.points:
        print(f"{ratio:>9g} {s:>10.4g} {d:>11.3f}")
    print(f"AD = {r.value:.3f} frames ({len(truth)} ground-truth boxes, "
          f"{len({t.track for t in truth})} tracks, {len(dets)} detections)")
    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            print(f"error: --plot needs matplotlib ({e})", file=sys.stderr)
            return 1
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([p[0] for p in r.points], [p[2] for p in r.points], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("false positives per ground-truth box")
        ax.set_ylabel("mean delay (frames)")
        ax.set_title(f"AD = {r.value:.2f} frames")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")
    return 0


def _md(args) -> int:
    truth, dets = _inputs(args)
    r = metrics.mean_delay(truth, dets, precision=args.precision)
    _, s, d = r.points[0]
    print(f"mD = {d:.3f} frames at precision >= {args.precision:g} (score threshold "
          f"{s:.4g}; {len({t.track for t in truth})} tracks)")
    return 0


def _ap(args) -> int:
    truth, dets = _inputs(args)
    aps = metrics.average_precision(truth, dets)
    for label, v in aps.items():
        print(f"{label:>12} {v:.4f}")
    return 0


def _cascade(args) -> int:
    import numpy as np

    from .cascade import Cascade
    frames = np.load(args.frames, allow_pickle=False).astype(np.float32)
    if frames.ndim == 4:
        frames = frames[:, None]
    if frames.ndim != 5 or frames.shape[1] != 1:
        raise ValueError(f"{args.frames}: frames must be [T, C, H, W] or [T, 1, C, H, W], "
                         f"got {frames.shape}")
    cascade = Cascade(str(args.proposal), str(args.refinement), frames.shape[2:],
                      crop=args.crop, context=args.context,
                      proposal_threshold=args.proposal_threshold,
                      max_regions=args.max_regions,
                      detection_threshold=args.detection_threshold)
    r = cascade.run(list(frames), single=args.truth is not None)
    print(r.table())
    if args.truth is not None:
        d = r.delay(metrics.load(args.truth, "truth"), precision=args.precision)
        print(f"mD = {d['cascade']:.3f} frames for the cascade, {d['single']:.3f} for the "
              f"refinement network on every frame: {d['added']:+.3f} added")
    if args.out is not None:
        frames_out = [{"frame": t, "detections": [
            {"label": d.label, "box": list(d.box), "score": d.score}
            for d in r.detections if d.frame == t]} for t in range(len(frames))]
        args.out.write_text(json.dumps({"frames": frames_out}, indent=1))
        print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparq.video",
                                 description="Delay metrics for video object detection, "
                                 "and CaTDet's cascade.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--truth", required=True, type=Path,
                        help="ground truth per frame (.json or .csv)")
    common.add_argument("--detections", required=True, type=Path,
                        help="detections per frame (.json or .csv)")
    p = sub.add_parser("ad", parents=[common], help="Average Delay (ICCV 2019)")
    p.add_argument("--ratios", type=float, nargs="+", default=list(metrics.FP_RATIOS),
                   help="false-positive ratios (default: 0.1 0.2 0.4 0.8 1.6 3.2)")
    p.add_argument("--clip", type=int, default=metrics.MAX_DELAY,
                   help="largest delay counted (default 30)")
    p.add_argument("--plot", type=Path, help="write delay against FP ratio to this PNG")
    p.set_defaults(run=_ad)
    p = sub.add_parser("md", parents=[common], help="CaTDet's mean delay")
    p.add_argument("--precision", type=float, default=0.8,
                   help="precision the score threshold is calibrated to (default 0.8)")
    p.set_defaults(run=_md)
    p = sub.add_parser("ap", parents=[common], help="average precision per class, mAP")
    p.set_defaults(run=_ap)
    p = sub.add_parser("cascade", help="CaTDet's cascade: operations and delay")
    p.add_argument("--proposal", required=True, type=Path,
                   help="the cheap detector (ONNX, input [1, C, H, W])")
    p.add_argument("--refinement", required=True, type=Path,
                   help="the expensive detector (ONNX, H and W symbolic: it is "
                        "compiled for the crop and for the frame)")
    p.add_argument("--frames", required=True, type=Path,
                   help="the video, a .npy of [T, C, H, W] float frames")
    p.add_argument("--truth", type=Path,
                   help="ground truth: also run the refinement network on every "
                        "frame and print the delay the cascade adds (mD)")
    p.add_argument("--out", type=Path, help="write the cascade's detections (JSON)")
    p.add_argument("--crop", type=int, default=32, help="crop side (default 32)")
    p.add_argument("--context", type=float, default=2.0,
                   help="region side over the box's longer side (default 2)")
    p.add_argument("--max-regions", type=int, default=16,
                   help="regions refined per frame, at most (default 16)")
    p.add_argument("--proposal-threshold", type=float, default=0.0,
                   help="proposals below this score are not refined (default 0)")
    p.add_argument("--detection-threshold", type=float, default=0.5,
                   help="detections that update the tracker (default 0.5)")
    p.add_argument("--precision", type=float, default=0.8,
                   help="precision mD's threshold is calibrated to (default 0.8)")
    p.set_defaults(run=_cascade)
    args = ap.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError, CompileError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
