#!/usr/bin/env python3
"""The GEMVs' bandwidth as a share of the machine's, from one benchmark run.

Reads the JSON that sparq-bench-kernels writes with
--benchmark_out=FILE --benchmark_out_format=json and prints, as a Markdown
table, each bandwidth benchmark's median GiB/s and its percentage of the
STREAM triad and of the read-only stream (BM_StreamRead) measured in the
same run. Run the benchmarks with --benchmark_repetitions=N (N >= 3) and
--benchmark_enable_random_interleaving=true, so that the medians of all
benchmarks come from the same stretch of time on a shared machine.

    python3 bench/bandwidth_ratios.py run.json [more.json ...]
"""

import json
import sys


def medians(path):
    """{benchmark name: median bytes/s} from one JSON file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {path}: {e}")
    out = {}
    for b in data.get("benchmarks", []):
        if b.get("aggregate_name") == "median" and "bytes_per_second" in b:
            out[b["run_name"]] = b["bytes_per_second"]
    if not out:
        sys.exit(f"error: {path}: no median bytes_per_second; run with "
                 "--benchmark_repetitions=3 or more")
    return out, data.get("context", {})


def table(path):
    m, ctx = medians(path)
    for need in ("BM_StreamTriad", "BM_StreamRead"):
        if need not in m:
            sys.exit(f"error: {path}: no {need} in this run; include it in "
                     "--benchmark_filter")
    triad, read = m["BM_StreamTriad"], m["BM_StreamRead"]
    print(f"{path}: threads {ctx.get('threads', '?')}, "
          f"simd {ctx.get('gemv_simd', '?')}\n")
    # GiB/s, as the benchmark's console prints them (its G is 2^30).
    print("| benchmark | GiB/s | % triad | % read |")
    print("|---|---:|---:|---:|")
    # The streams first, then the rest by name (the run's order is random).
    for name in sorted(m, key=lambda n: (not n.startswith("BM_Stream"), n)):
        bps = m[name]
        print(f"| {name} | {bps / 2**30:.1f} | {100 * bps / triad:.0f}% "
              f"| {100 * bps / read:.0f}% |")
    print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        table(p)
