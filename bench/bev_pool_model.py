"""BEVFusion's camera-to-BEV pooling at nuScenes shapes, model level: the
lift-splat alone (test/e2e/bev_model.py's LiftSplat; 6 cameras x 118 depth
bins x 32 x 88 pixels, C = 80) exported from PyTorch with scatter_add, run by
`sparqc run` with the fusion (sparq.bev_pool) and without it (--no-fuse:
the frustum materialized, then the scatter loop), on a 128 and a 256 grid,
fused and unfused interleaved. Prints the medians, the ratio, and the fused
run's bandwidth on the bytes its kernel must move (depth, features, plan,
output) against a memcpy's, measured in the same run.

    /usr/bin/python3 bench/bev_pool_model.py [--grids 128 256] [--repeat 5]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "e2e"))
import bev_model  # noqa: E402

CAMS, BINS, H, W, C = 6, 118, 32, 88, 80


def run(sparqc: str, model: Path, inputs: list, repeat: int, extra: list,
        work: Path) -> tuple[float, float]:
    """(compile ms, median run ms) of one `sparqc run`."""
    timing = work / "timing.json"
    cmd = [sparqc, "run", str(model), *inputs, "-o", str(work / "out"),
           "--repeat", str(repeat), "--timing-json", str(timing), *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    t = json.loads(timing.read_text())
    return t["compile_ms"], statistics.median(t["run_ms"][1:] or t["run_ms"])


def copy_gbps() -> float:
    """memcpy bandwidth (read + write) of 256 MB with NumPy, best of 5."""
    a = np.ones(64 << 20, np.float32)
    b = np.empty_like(a)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = max(best, 2 * a.nbytes / (time.perf_counter() - t) / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grids", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sparqc", default=str(ROOT / "build/bin/sparqc"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((CAMS, BINS, H, W)).astype(np.float32)
    depth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    context = rng.standard_normal((CAMS, C, H, W)).astype(np.float32)
    np.save(tmp / "depth.npy", depth)
    np.save(tmp / "context.npy", context)
    inputs = ["-i", f"depth={tmp / 'depth.npy'}", "-i", f"context={tmp / 'context.npy'}"]
    print(f"points: {CAMS}x{BINS}x{H}x{W} = {CAMS * BINS * H * W}, C = {C}")
    print("| grid | kept points | compile fused / unfused s | fused ms | unfused ms "
          "| unfused / fused | fused GB/s on its bytes | memcpy GB/s | share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for grid in args.grids:
        cells = bev_model.frustum_cells(CAMS, BINS, H, W, grid)
        kept = int((cells >= 0).sum())
        model = bev_model.LiftSplat(cells, C, grid).eval()
        path = tmp / f"lift_splat_{grid}.onnx"
        torch.onnx.export(model, (torch.from_numpy(depth), torch.from_numpy(context)),
                          str(path), opset_version=16, input_names=["depth", "context"],
                          output_names=["bev"])
        fused, unfused, compiles = [], [], {}
        for _ in range(args.rounds):
            for name, extra, times in (("fused", [], fused), ("unfused", ["--no-fuse"], unfused)):
                work = tmp / f"{name}_{grid}"
                work.mkdir(exist_ok=True)
                c, r = run(args.sparqc, path, inputs, args.repeat, extra, work)
                compiles[name] = c / 1e3
                times.append(r)
        out_f = np.load(tmp / f"fused_{grid}" / "out" / "bev.npy")
        out_u = np.load(tmp / f"unfused_{grid}" / "out" / "bev.npy")
        assert np.array_equal(out_f, out_u), "fused and unfused outputs differ"
        f, u = statistics.median(fused), statistics.median(unfused)
        intervals = len(np.unique(cells[cells >= 0]))
        moved = (depth.nbytes + context.nbytes + grid * grid * C * 4
                 + kept * 8 + intervals * 12)
        gbps, copy = moved / f / 1e6, copy_gbps()
        print(f"| {grid} | {kept} | {compiles['fused']:.1f} / {compiles['unfused']:.1f} "
              f"| {f:.1f} | {u:.1f} | **{u / f:.1f}x** | {gbps:.1f} | {copy:.1f} "
              f"| {100 * gbps / copy:.0f}% |")


if __name__ == "__main__":
    main()
