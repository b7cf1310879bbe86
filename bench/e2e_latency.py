#!/usr/bin/env python3
"""End-to-end latency: `sparqc run` against onnxruntime on the same ONNX models.

ResNet-18, MobileNetV2 and ResNet-50 from torchvision (seeded random
weights, batch 1, 224x224; `--models encoder` adds two transformer blocks of
128 tokens) are exported once and run by all, side by side in one process
tree; IREE too where its venv exists (bench/iree_latency.py). `--simd avx512,avx2` runs sparqc once per SIMD level
(SPARQ_SIMD caps its kernels and JIT code), so one AVX-512 machine measures
the AVX2 paths too; onnxruntime always runs at the CPU's own level. The CPU's
model and SIMD flags are printed with the table.
sparqc reports its own timings (--repeat N --timing-json: one warm-up, then N
runs); onnxruntime runs with 2 intra-op threads, sequentially, all graph
optimizations, timed here the same way. Medians are printed as markdown.

Setup (onnxruntime comes from PyPI, torch from Debian):
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/e2e_latency.py [--repeat 20] [--markdown-out FILE]
IREE, optional, in a venv of its own (bench/iree_latency.py):
    /usr/bin/python3 -m venv .venv-iree
    .venv-iree/bin/pip install -r bench/requirements-iree.txt
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
MODELS = ("resnet18", "mobilenet_v2", "resnet50")
# Also known to --models: "encoder", two BERT-style transformer blocks
# (d 256, 4 heads, feed-forward 1024, 128 tokens), where the weighted
# MatMuls, not convolutions, are the work.
ENCODER_SHAPE = (1, 128, 256)
SEED = 0
# Loose on purpose: a check that both ran the same model, not a numerics test.
CHECK_RTOL, CHECK_ATOL = 1e-2, 1e-3


@dataclass
class Row:
    model: str
    sparqc_ms: dict[str, float]  # by SIMD level ("" for the CPU's own)
    ort_ms: float
    compile_ms: float
    iree_ms: Optional[float] = None


QUANTIZE = """
import sys, numpy as np
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat,
                                      QuantType, quantize_static)
seed = int(sys.argv[3])
shape = tuple(int(d) for d in sys.argv[4].split(","))
class Reader(CalibrationDataReader):
    def __init__(self): self.i = 0
    def get_next(self):
        self.i += 1
        if self.i > 4:
            return None
        rng = np.random.default_rng(seed + self.i)
        return {"input": rng.normal(0, 1, shape).astype(np.float32)}
quantize_static(sys.argv[1], sys.argv[2], Reader(), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8)
"""


def quantize_qdq(model: Path, out: Path, shape: tuple, seed: int = SEED) -> None:
    """onnxruntime's own quantizer: QDQ, uint8 activations per tensor, int8
    weights per channel, calibrated on 4 seeded random inputs of `shape`. In
    a fresh interpreter: after torch's export, importing the quantizer's onnx
    here failed."""
    proc = subprocess.run([sys.executable, "-c", QUANTIZE, str(model), str(out),
                           str(seed), ",".join(map(str, shape))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"quantizing {model.name} failed:\n{proc.stderr[-4000:]}")


def cpu_description() -> str:
    """The CPU's model name and its SIMD flags, from /proc/cpuinfo."""
    model, flags = "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = [x for x in value.split()
                             if x.startswith(("avx", "fma", "amx"))]
    except OSError:
        pass
    return f"{model}; {os.cpu_count()} CPUs; flags: {' '.join(sorted(flags))}"


def encoder_module():
    """Two post-norm transformer blocks written out in plain ops (the ONNX
    export of nn.TransformerEncoderLayer depends on torch's fast path)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d: int = 256, heads: int = 4, ff: int = 1024) -> None:
            super().__init__()
            self.heads = heads
            self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.up, self.down = nn.Linear(d, ff), nn.Linear(ff, d)
            self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, d = x.shape
            q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads) \
                .permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, -1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = self.norm1(x + self.out(y))
            return self.norm2(x + self.down(torch.relu(self.up(x))))

    return nn.Sequential(Block(), Block())


def export(name: str, path: Path) -> np.ndarray:
    """Exports torchvision `name` (or the encoder) to `path`; returns its
    seeded input."""
    import torch
    import torchvision

    if name == "encoder":
        torch.manual_seed(SEED)
        x = torch.randn(*ENCODER_SHAPE)
        torch.onnx.export(encoder_module().eval(), (x,), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=13)
        return x.numpy()

    builder = getattr(torchvision.models, name)
    torch.manual_seed(SEED)
    try:
        model = builder(weights=None)
    except TypeError:  # torchvision < 0.13
        model = builder(pretrained=False)
    # Batch-norm statistics and affine parameters as training leaves them,
    # not the fresh (0, 1) ones: each folds into a non-zero bias per channel,
    # as in a trained model.
    sys.path.insert(0, str(REPO / "test" / "e2e"))
    from torch_modules import trained_batchnorm
    trained_batchnorm(model)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), str(path), input_names=["input"],
                      output_names=["logits"], opset_version=13)
    return x.numpy()


def time_sparqc(sparqc: Path, model: Path, x: np.ndarray, repeat: int,
                work: Path, timeout: float,
                simd: str = "") -> tuple[float, float, np.ndarray]:
    """(median run ms, compile ms, output) as reported by sparqc itself, with
    SPARQ_SIMD=simd unless it is empty."""
    np.save(work / "input.npy", x)
    timing = work / "timing.json"
    out = work / "out"
    cmd = [str(sparqc), "run", str(model), "-i", f"input={work / 'input.npy'}",
           "-o", str(out), "--repeat", str(repeat), "--timing-json", str(timing)]
    env = dict(os.environ)
    env.pop("SPARQ_SIMD", None)
    if simd:
        env["SPARQ_SIMD"] = simd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=env)
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


def time_iree(python: Path, model: Path, x: np.ndarray, repeat: int, work: Path,
              timeout: float) -> tuple[float, np.ndarray]:
    """(median run ms, output) of IREE, run by bench/iree_latency.py in its venv."""
    np.save(work / "iree-input.npy", x)
    cmd = [str(python), str(REPO / "bench" / "iree_latency.py"), str(model),
           str(work / "iree-input.npy"), "--repeat", str(repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"IREE failed on {model.name} ({proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(report["median_ms"]), np.load(report["output"])


def markdown(rows: list[Row], repeat: int, levels: list[str]) -> str:
    names = [level or "native" for level in levels]
    iree = any(r.iree_ms is not None for r in rows)
    lines = [f"CPU: {cpu_description()}", "",
             f"Median of {repeat} runs after one warm-up, batch 1, 224x224;"
             " onnxruntime with 2 intra-op threads, at the CPU's own level"
             + ("; IREE llvm-cpu for the host CPU, 2 workers" if iree else "") + ".", "",
             "| model | ORT ms | " + ("IREE ms | " if iree else "")
             + " | ".join(f"sparqc {n} ms | {n}/ORT" for n in names)
             + " | sparqc compile ms |",
             "|---|---:|" + ("---:|" if iree else "") + "---:|---:|" * len(names) + "---:|"]
    for r in rows:
        cells = " | ".join(f"{r.sparqc_ms[level]:.2f} | {r.sparqc_ms[level] / r.ort_ms:.2f}"
                           for level in levels)
        iree_cell = (f"{r.iree_ms:.2f} | " if r.iree_ms is not None else "- | ") if iree else ""
        lines.append(f"| {r.model} | {r.ort_ms:.2f} | {iree_cell}{cells} | "
                     f"{r.compile_ms:.0f} |")
    # A QDQ model against the fp32 model it was quantized from, per level.
    by_name = {r.model: r for r in rows}
    ratios = [f"{r.model}: sparqc fp32/QDQ "
              + ", ".join(f"{level or 'native'} {by_name[r.model[:-4]].sparqc_ms[level] / r.sparqc_ms[level]:.2f}x"
                          for level in levels)
              + f"; ORT fp32/QDQ {by_name[r.model[:-4]].ort_ms / r.ort_ms:.2f}x"
              for r in rows if r.model.endswith("-qdq") and r.model[:-4] in by_name]
    if ratios:
        lines += ["", "QDQ speed-up over the same model in fp32 (higher is better):", ""]
        lines += [f"- {line}" for line in ratios]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_sparqc = os.environ.get("SPARQC", str(REPO / "build" / "bin" / "sparqc"))
    parser.add_argument("--sparqc", type=Path, default=Path(default_sparqc),
                        help="sparqc binary (default: $SPARQC or build/bin/sparqc)")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed runs per model after one warm-up (default: 20)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated torchvision models, or encoder "
                             "(default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds per sparqc invocation (default: 1800)")
    parser.add_argument("--simd", default="",
                        help="comma-separated SPARQ_SIMD levels to run sparqc at, e.g. "
                             "avx512,avx2 (default: the CPU's own)")
    parser.add_argument("--iree-python", type=Path, default=REPO / ".venv-iree" / "bin" / "python",
                        help="python of IREE's venv (default: .venv-iree); IREE is left "
                             "out where it does not exist")
    parser.add_argument("--qdq", action="store_true",
                        help="also quantize each model with onnxruntime's quantizer (QDQ, "
                             "uint8/int8 per channel) and time both on that file")
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

    levels = [level.strip() for level in args.simd.split(",")] if args.simd else [""]
    known = {"portable", "avx2", "avx512", "avx512vnni"}
    if not set(levels) - {""} <= known:
        print(f"error: --simd takes levels of {sorted(known)}", file=sys.stderr)
        return 2
    iree = args.iree_python if args.iree_python.is_file() else None
    if iree is None:
        print(f"note: no IREE venv at {args.iree_python}: IREE is left out "
              "(see bench/iree_latency.py)", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sparq-bench-") as tmp:
        names = [m for m in args.models.split(",") if m]
        for name in names + ([f"{m}-qdq" for m in names] if args.qdq else []):
            work = Path(tmp) / name
            work.mkdir()
            model = work / f"{name}.onnx"
            if name.endswith("-qdq"):
                fp32 = Path(tmp) / name[:-4] / f"{name[:-4]}.onnx"
                x = np.load(Path(tmp) / name[:-4] / "input.npy")
                quantize_qdq(fp32, model, x.shape)
            else:
                x = export(name, model)
            ort_ms, want = time_ort(model, x, args.repeat)
            sparqc_ms, compile_ms = {}, 0.0
            for level in levels:
                ms, compile_ms, got = time_sparqc(args.sparqc, model, x, args.repeat,
                                                  work, args.timeout, level)
                sparqc_ms[level] = ms
                # A QDQ model's outputs may differ by a quantization step.
                atol = 0.1 if name.endswith("-qdq") else CHECK_ATOL
                if got.shape != want.shape or not np.allclose(got, want, CHECK_RTOL,
                                                              atol):
                    print(f"warning: {name} ({level or 'native'}): sparqc and "
                          "onnxruntime outputs differ", file=sys.stderr)
                print(f"{name}: sparqc {level or 'native'} {ms:.2f} ms, ORT {ort_ms:.2f} ms",
                      file=sys.stderr, flush=True)
            iree_ms = None
            if iree is not None and not name.endswith("-qdq"):
                iree_ms, iree_out = time_iree(iree, model, x, args.repeat, work,
                                              args.timeout)
                if iree_out.shape != want.shape or not np.allclose(iree_out, want,
                                                                   CHECK_RTOL, CHECK_ATOL):
                    print(f"warning: {name}: IREE and onnxruntime outputs differ",
                          file=sys.stderr)
                print(f"{name}: IREE {iree_ms:.2f} ms", file=sys.stderr, flush=True)
            rows.append(Row(name, sparqc_ms, ort_ms, compile_ms, iree_ms))

    table = markdown(rows, args.repeat, levels)
    print(table, end="")
    if args.markdown_out:
        args.markdown_out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
