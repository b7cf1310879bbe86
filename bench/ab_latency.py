#!/usr/bin/env python3
"""Interleaved A/B latency: two sparqc builds and onnxruntime on the same files.

On a shared, noisy machine a change is measured against the build before it
in the same minutes: each round runs `sparqc run --repeat N` with the old
build, then the new one, then onnxruntime (2 intra-op threads), and the
table shows the median of the rounds' medians and the ratios.

    .venv/bin/python bench/ab_latency.py --old /tmp/wt/build/bin/sparqc \\
        --new build/bin/sparqc "resnet18=r18.onnx:input=r18in.npy" ...

Build the old one from a worktree (`git worktree add /tmp/wt COMMIT`,
`bash /tmp/wt/scripts/build.sh`: ccache makes it quick).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

import numpy as np


def sparqc_ms(sparqc: str, model: str, name: str, npy: str, repeat: int) -> float:
    proc = subprocess.run([sparqc, "run", model, "-i", f"{name}={npy}", "--repeat",
                           str(repeat)], capture_output=True, text=True)
    found = re.search(r"run: ([0-9.]+) ms", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"{sparqc} failed on {model}:\n{proc.stderr[-2000:]}")
    return float(found.group(1))


def ort_ms(model: str, name: str, npy: str, repeat: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = {name: np.load(npy)}
    session.run(None, feeds)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, feeds)
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the sparqc build before")
    parser.add_argument("--new", required=True, help="the sparqc build after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("models", nargs="+", help="LABEL=MODEL.onnx:INPUT=FILE.npy")
    args = parser.parse_args()
    print("| model | onnxruntime ms | sparq before ms | sparq now ms | before/now | now/ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in args.models:
        label, _, rest = spec.partition("=")
        model, _, feed = rest.partition(":")
        name, _, npy = feed.partition("=")
        if not (label and model and name and npy):
            print(f"error: bad model spec {spec!r}", file=sys.stderr)
            return 2
        old, new, ref = [], [], []
        for _ in range(args.rounds):
            old.append(sparqc_ms(args.old, model, name, npy, args.repeat))
            new.append(sparqc_ms(args.new, model, name, npy, args.repeat))
            ref.append(ort_ms(model, name, npy, args.repeat))
        o, n, r = (statistics.median(v) for v in (old, new, ref))
        print(f"| {label} | {r:.2f} | {o:.2f} | {n:.2f} | {o / n:.2f}x | {n / r:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
