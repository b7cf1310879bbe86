#!/usr/bin/python3
"""The hls target on ESE's model (an LSTM with 1024 cells, peepholes, 153
inputs and a 512 projection, 8 steps): plain magnitude pruning against
ESE's load-balance-aware pruning at the same sparsity (89%, 32 PEs), from
the cycle model (cycles.json), and the time to compile and C-simulate the
balanced engine. The weights' rows differ in norm (exp(0.5 N(0,1))), as a
trained model's do.

    /usr/bin/python3 bench/hls_ese.py [--sparqc build/bin/sparqc]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "e2e"))
import ese_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparqc", default=str(REPO / "build" / "bin" / "sparqc"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        model = root / "ese.onnx"
        ese_model.ese_lstm(model)
        rows = []
        for name, flags in (("plain magnitude", ["--prune", "element:0.89"]),
                            ("load-balance-aware", ["--pe-balance", "32:0.89"])):
            pkg = root / name.split()[0]
            start = time.monotonic()
            subprocess.run([args.sparqc, "compile", str(model), "--target", "hls", "-o",
                            str(pkg), *flags], check=True, capture_output=True)
            compiled = time.monotonic() - start
            subprocess.run(["g++", "-O2", "-std=c++11", "-I.", "csim.cpp", "model.cpp", "-o",
                            "csim"], cwd=pkg, check=True, capture_output=True)
            built = time.monotonic() - start
            sim = subprocess.run([str(pkg / "csim"), str(pkg)], check=True,
                                 capture_output=True, text=True)
            total = time.monotonic() - start
            c = json.loads((pkg / "cycles.json").read_text())
            rows.append((name, c, compiled, built - compiled, total - built,
                         sim.stdout.strip()))
        print("| pruning (89%, 32 PEs) | cycles / inference | us at 200 MHz | PEs busy | "
              "on non-zeros | load balance | GOPS (dense-eq.) | compile, g++, C-sim (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for name, c, a, b, s, _ in rows:
            print(f"| {name} | {c['cycles']} | {c['microseconds']:.0f} | "
                  f"{100 * c['pe_busy']:.1f}% | {100 * c['pe_utilization']:.1f}% | "
                  f"{100 * c['load_balance']:.1f}% | {c['gops']:.1f} ({c['dense_equivalent_gops']:.0f}) | "
                  f"{a:.1f}, {b:.1f}, {s:.2f} |")
        print(f"\nbalanced / plain cycles: {rows[1][1]['cycles'] / rows[0][1]['cycles']:.3f}")
        print(f"DSP {rows[1][1]['dsp']}, BRAM18 {rows[1][1]['bram18k']}")
        for name, *_, out in rows:
            print(f"{name}: {out}")


if __name__ == "__main__":
    main()
