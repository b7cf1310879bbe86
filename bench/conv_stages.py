#!/usr/bin/env python3
"""ResNet-18's convolution shapes one at a time: sparqc builds against
onnxruntime, 1 thread, in one run.

Each shape is its own small model (four 3x3 convolutions at 56, 28, 14 and
7, the 7x7 stem, the stride-2 3x3 of each downsampling), exported from
PyTorch with seeded weights; every sparqc given runs it with
`--threads 1 --repeat N`, onnxruntime with 1 intra-op thread.

    .venv/bin/python bench/conv_stages.py build/bin/sparqc [OTHER_SPARQC ...]
        [--repeat 30] [--simd avx2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def shapes():
    import torch

    torch.manual_seed(0)
    for c, hw in ((64, 56), (128, 28), (256, 14), (512, 7)):
        yield (f"4x 3x3 {c}@{hw}",
               torch.nn.Sequential(*[torch.nn.Conv2d(c, c, 3, padding=1)
                                     for _ in range(4)]),
               torch.randn(1, c, hw, hw))
    yield ("7x7 s2 stem", torch.nn.Conv2d(3, 64, 7, stride=2, padding=3),
           torch.randn(1, 3, 224, 224))
    for c, hw in ((64, 56), (128, 28), (256, 14)):
        yield (f"3x3 s2 {c}@{hw}",
               torch.nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
               torch.randn(1, c, hw, hw))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sparqc", nargs="+")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--simd", default="", help="SPARQ_SIMD for sparqc")
    args = ap.parse_args()
    import onnxruntime as ort
    import torch

    env = dict(os.environ)
    if args.simd:
        env["SPARQ_SIMD"] = args.simd
    print("| shape | onnxruntime ms | " +
          " | ".join(f"{Path(b).parent.parent.name}/{Path(b).name} ms (x ORT)"
                     for b in args.sparqc) + " |")
    print("|---|---:|" + "---:|" * len(args.sparqc))
    with tempfile.TemporaryDirectory(prefix="sparq-stages-") as tmp:
        model, npy = Path(tmp) / "m.onnx", Path(tmp) / "x.npy"
        for name, m, x in shapes():
            torch.onnx.export(m.eval(), x, str(model), input_names=["x"])
            np.save(npy, x.numpy())
            o = ort.SessionOptions()
            o.intra_op_num_threads = 1
            s = ort.InferenceSession(str(model), o)
            feed = {"x": x.numpy()}
            for _ in range(5):
                s.run(None, feed)
            ts = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                s.run(None, feed)
                ts.append(time.perf_counter() - t)
            ort_ms = 1e3 * float(np.median(ts))
            cells = []
            for b in args.sparqc:
                p = subprocess.run([b, "run", str(model), "-i", f"x={npy}", "-o",
                                    str(Path(tmp) / "out"), "--repeat",
                                    str(args.repeat), "--threads", "1"],
                                   capture_output=True, text=True, env=env)
                ms = float(re.search(r"run: ([0-9.]+) ms", p.stderr).group(1))
                cells.append(f"{ms:.2f} ({ms / ort_ms:.2f}x)")
            print(f"| {name} | {ort_ms:.2f} | " + " | ".join(cells) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
