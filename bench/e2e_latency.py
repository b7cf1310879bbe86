#!/usr/bin/env python3
"""End-to-end latency: `sparqc run` against onnxruntime on the same ONNX models.

ResNet-18 and MobileNetV2 from torchvision (seeded random weights, batch 1,
224x224) are exported once and run by both, side by side in one process tree.
sparqc reports its own timings (--repeat N --timing-json: one warm-up, then N
runs); onnxruntime runs with 2 intra-op threads, sequentially, all graph
optimizations, timed here the same way. Medians are printed as markdown.

Setup (onnxruntime comes from PyPI, torch from Debian):
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/e2e_latency.py [--repeat 20] [--markdown-out FILE]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS = ("resnet18", "mobilenet_v2")
SEED = 0
# Loose on purpose: a check that both ran the same model, not a numerics test.
CHECK_RTOL, CHECK_ATOL = 1e-2, 1e-3


@dataclass
class Row:
    model: str
    sparqc_ms: float
    ort_ms: float
    compile_ms: float

    @property
    def ratio(self) -> float:
        return self.sparqc_ms / self.ort_ms


def export(name: str, path: Path) -> np.ndarray:
    """Exports torchvision `name` to `path`; returns its seeded input."""
    import torch
    import torchvision

    builder = getattr(torchvision.models, name)
    torch.manual_seed(SEED)
    try:
        model = builder(weights=None)
    except TypeError:  # torchvision < 0.13
        model = builder(pretrained=False)
    # Batch-norm statistics and affine parameters as training leaves them,
    # not the fresh (0, 1) ones: each folds into a non-zero bias per channel,
    # as in a trained model.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), str(path), input_names=["input"],
                      output_names=["logits"], opset_version=13)
    return x.numpy()


def time_sparqc(sparqc: Path, model: Path, x: np.ndarray, repeat: int,
                work: Path, timeout: float) -> tuple[float, float, np.ndarray]:
    """(median run ms, compile ms, output) as reported by sparqc itself."""
    np.save(work / "input.npy", x)
    timing = work / "timing.json"
    out = work / "out"
    cmd = [str(sparqc), "run", str(model), "-i", f"input={work / 'input.npy'}",
           "-o", str(out), "--repeat", str(repeat), "--timing-json", str(timing)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"sparqc failed on {model.name} ({proc.returncode}):\n"
                           f"{proc.stderr}")
    report = json.loads(timing.read_text())
    runs = report["run_ms"]
    if len(runs) != repeat:
        raise RuntimeError(f"sparqc reported {len(runs)} runs, asked for {repeat}")
    return statistics.median(runs), float(report["compile_ms"]), np.load(out / "logits.npy")


def time_ort(model: Path, x: np.ndarray, repeat: int) -> tuple[float, np.ndarray]:
    """(median run ms, output) of onnxruntime after one warm-up run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feeds = {"input": x}
    result = session.run(None, feeds)[0]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, feeds)
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs), result


def markdown(rows: list[Row], repeat: int) -> str:
    lines = [f"Median of {repeat} runs after one warm-up, batch 1, 224x224;"
             " onnxruntime with 2 intra-op threads.", "",
             "| model | sparqc median ms | ORT median ms | sparqc/ORT | sparqc compile ms |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.model} | {r.sparqc_ms:.2f} | {r.ort_ms:.2f} | {r.ratio:.2f}"
                     f" | {r.compile_ms:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_sparqc = os.environ.get("SPARQC", str(REPO / "build" / "bin" / "sparqc"))
    parser.add_argument("--sparqc", type=Path, default=Path(default_sparqc),
                        help="sparqc binary (default: $SPARQC or build/bin/sparqc)")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed runs per model after one warm-up (default: 20)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated torchvision models (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds per sparqc invocation (default: 1800)")
    parser.add_argument("--markdown-out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    try:
        import onnxruntime  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as exc:
        print(f"error: {exc}; set up the venv as in bench/e2e_latency.py's docstring",
              file=sys.stderr)
        return 2
    if not args.sparqc.is_file():
        print(f"error: sparqc not found: {args.sparqc}", file=sys.stderr)
        return 2

    rows = []
    with tempfile.TemporaryDirectory(prefix="sparq-bench-") as tmp:
        for name in [m for m in args.models.split(",") if m]:
            work = Path(tmp) / name
            work.mkdir()
            model = work / f"{name}.onnx"
            x = export(name, model)
            sparqc_ms, compile_ms, got = time_sparqc(args.sparqc, model, x, args.repeat,
                                                     work, args.timeout)
            ort_ms, want = time_ort(model, x, args.repeat)
            if got.shape != want.shape or not np.allclose(got, want, CHECK_RTOL, CHECK_ATOL):
                print(f"warning: {name}: sparqc and onnxruntime outputs differ",
                      file=sys.stderr)
            rows.append(Row(name, sparqc_ms, ort_ms, compile_ms))
            print(f"{name}: sparqc {sparqc_ms:.2f} ms, ORT {ort_ms:.2f} ms",
                  file=sys.stderr, flush=True)

    table = markdown(rows, args.repeat)
    print(table, end="")
    if args.markdown_out:
        args.markdown_out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
