#!/usr/bin/env python3
"""The arm target's Halide pipelines built for this x86 machine, against the
host target and onnxruntime, side by side in one run.

qemu's timings mean nothing, so the arm target's speed is judged by building
the very same generator (`sparqc compile --target arm --halide-target host`:
the same Funcs and schedules, compiled by Halide for x86 instead of aarch64)
and timing its package's runner here (`sparq_run --repeat N`: the pipeline's
own time), beside `sparqc run` (the host target) and onnxruntime on the same
ONNX file and input. All three use 2 threads. Models: ResNet-18 and
MobileNetV2 (bench/e2e_latency.py's seeded exports) and the PatchNet-like
head of test/e2e/patchnet_model.py. Medians, printed as markdown with the
ratios; the outputs are checked against each other.

    .venv/bin/python bench/arm_x86.py [--repeat 20] [--markdown-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "test" / "e2e"))
import e2e_latency  # noqa: E402

CHECK_RTOL, CHECK_ATOL = 1e-2, 1e-3


def export(name: str, path: Path) -> dict[str, np.ndarray]:
    if name != "patchnet":
        return {"input": e2e_latency.export(name, path)}
    import torch
    import patchnet_model
    torch.manual_seed(0)
    search, template = patchnet_model.export(patchnet_model.PatchNetHead(), path)
    return {"search": search.numpy(), "template": template.numpy()}


def save_inputs(inputs: dict[str, np.ndarray], work: Path) -> list[Path]:
    files = []
    for name, value in inputs.items():
        files.append(work / f"{name}.npy")
        np.save(files[-1], value)
    return files


def time_halide(sparqc: Path, model: Path, files: list[Path], repeat: int,
                work: Path) -> tuple[float, float, np.ndarray]:
    """(median pipeline ms, build s, first output) of the arm target's
    generator built for this machine."""
    pkg = work / "halide-pkg"
    start = time.perf_counter()
    proc = subprocess.run([str(sparqc), "compile", str(model), "--target", "arm",
                           "--halide-target", "host", "-o", str(pkg)],
                          capture_output=True, text=True)
    build = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"building {model.name} failed:\n{proc.stderr[-4000:]}")
    out = work / "halide-out"
    out.mkdir(exist_ok=True)
    env = dict(os.environ, HL_NUM_THREADS="2")
    run = subprocess.run([str(pkg / "sparq_run"), str(pkg), *map(str, files), "-o",
                          str(out), "--repeat", str(repeat)],
                         capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"sparq_run failed on {model.name}:\n{run.stderr}")
    m = re.search(r"on the device ([0-9.]+) ms", run.stdout + run.stderr)
    if not m:
        raise RuntimeError(f"no timing from sparq_run:\n{run.stdout}{run.stderr}")
    name = json.loads((pkg / "model.json").read_text())["outputs"][0]["name"]
    return float(m.group(1)), build, np.load(out / f"{name}.npy")


def time_host(sparqc: Path, model: Path, inputs: dict[str, np.ndarray],
              files: list[Path], repeat: int, work: Path) -> tuple[float, np.ndarray]:
    timing, out = work / "host.json", work / "host-out"
    cmd = [str(sparqc), "run", str(model), "-o", str(out), "--threads", "2",
           "--repeat", str(repeat), "--timing-json", str(timing)]
    for name, f in zip(inputs, files):
        cmd += ["-i", f"{name}={f}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sparqc run failed on {model.name}:\n{proc.stderr}")
    outs = sorted(out.glob("*.npy"))
    return statistics.median(json.loads(timing.read_text())["run_ms"]), np.load(outs[0])


def time_ort(model: Path, inputs: dict[str, np.ndarray],
             repeat: int) -> tuple[float, np.ndarray]:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    out = session.run(None, inputs)[0]
    ms = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, inputs)
        ms.append((time.perf_counter() - start) * 1e3)
    return statistics.median(ms), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--models", default="resnet18,mobilenet_v2,patchnet")
    parser.add_argument("--sparqc", type=Path, default=REPO / "build" / "bin" / "sparqc")
    parser.add_argument("--markdown-out", type=Path)
    args = parser.parse_args()
    lines = [f"CPU: {e2e_latency.cpu_description()}", "",
             "| model | Halide pipeline (x86) ms | host target ms | onnxruntime ms "
             "| Halide / host | Halide / onnxruntime | generator build s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            work = Path(tmp) / name
            work.mkdir()
            model = work / f"{name}.onnx"
            inputs = export(name, model)
            files = save_inputs(inputs, work)
            halide_ms, build_s, halide_out = time_halide(args.sparqc, model, files,
                                                         args.repeat, work)
            host_ms, host_out = time_host(args.sparqc, model, inputs, files,
                                          args.repeat, work)
            ort_ms, ort_out = time_ort(model, inputs, args.repeat)
            np.testing.assert_allclose(halide_out, ort_out, rtol=CHECK_RTOL,
                                       atol=CHECK_ATOL)
            np.testing.assert_allclose(host_out, ort_out, rtol=CHECK_RTOL,
                                       atol=CHECK_ATOL)
            lines.append(f"| {name} | {halide_ms:.2f} | {host_ms:.2f} | {ort_ms:.2f} | "
                         f"{halide_ms / host_ms:.2f} | {halide_ms / ort_ms:.2f} | "
                         f"{build_s:.1f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    print("\n" + text)
    if args.markdown_out:
        args.markdown_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
