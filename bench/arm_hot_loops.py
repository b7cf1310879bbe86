#!/usr/bin/env python3
"""Instructions per multiply-accumulate in the hot loops of the arm target's
aarch64 code, against a plain NEON reference.

qemu cannot time aarch64 code, but the assembly says what each inner loop
costs. The arm target's packages keep the assembly of their pipeline
(sparq_pipeline.s); bench/neon/reference_conv.c is a direct 3x3 convolution
written with intrinsics (one fmla per tap, four outputs at a time), compiled
with aarch64-linux-gnu-gcc -O2 and -O3. For every innermost loop (a backward branch
with no loop inside) that multiplies floats, this counts its instructions
and the lanes of its fmla (4 multiply-accumulates each), and prints the
loops that do most of the work: instructions per multiply-accumulate, and
for int8 loops (sdot: 16 each) the same.

    /usr/bin/python3 bench/arm_hot_loops.py [--models small_cnn,resnet18,mlp_int8]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "e2e"))

INSTR = re.compile(r"^\s+([a-z][a-z0-9.]*)\s*(.*)$")
LABEL = re.compile(r"^([.A-Za-z_$][\w.$]*):")
# b, b.ne (LLVM), bne (GCC), cbz/cbnz, tbz/tbnz.
BRANCH = re.compile(r"^(b(\.?(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le))?"
                    r"|cbn?z|tbn?z)$")


def inner_loops(asm: str) -> list[dict]:
    """Innermost loops of an assembly listing: their instructions, fmla
    (.4s) and sdot/udot counts."""
    lines = asm.splitlines()
    labels, body = {}, []
    for line in lines:
        m = LABEL.match(line)
        if m:
            labels[m.group(1)] = len(body)
            continue
        m = INSTR.match(line)
        if m and not m.group(1).startswith("."):
            body.append((m.group(1), m.group(2)))
    loops = []
    for i, (op, args) in enumerate(body):
        if not BRANCH.match(op):
            continue
        target = args.split(",")[-1].strip()
        start = labels.get(target)
        if start is None or start > i:
            continue
        span = body[start:i + 1]
        # Innermost: no other backward branch inside.
        inner = any(BRANCH.match(o) and labels.get(a.split(",")[-1].strip(), 1 << 60)
                    < start + k and k < len(span) - 1
                    for k, (o, a) in enumerate(span))
        if inner:
            continue
        fmla = sum(1 for o, a in span if o == "fmla" and ".4s" in a)
        dots = sum(1 for o, a in span if o in ("sdot", "udot") and ".4s" in a)
        loops.append({"instructions": len(span), "fmla": fmla, "dot": dots})
    return loops


def summary(name: str, loops: list[dict]) -> list[str]:
    rows = []
    f32 = sorted((l for l in loops if l["fmla"]), key=lambda l: -l["fmla"])
    for l in f32[:3]:
        macs = 4 * l["fmla"]
        rows.append(f"| {name} | f32 | {l['instructions']} | {l['fmla']} fmla | {macs} | "
                    f"{l['instructions'] / macs:.3f} |")
    i8 = sorted((l for l in loops if l["dot"]), key=lambda l: -l["dot"])
    for l in i8[:2]:
        macs = 16 * l["dot"]
        rows.append(f"| {name} | int8 | {l['instructions']} | {l['dot']} sdot | {macs} | "
                    f"{l['instructions'] / macs:.3f} |")
    return rows


def build(name: str, work: Path, sparqc: Path) -> str:
    import numpy as np  # noqa: F401
    import torch
    from test_models import small_cnn
    from torch_modules import Mlp
    import torchvision
    torch.manual_seed(0)
    flags: list[str] = []
    if name == "small_cnn":
        model, x = small_cnn(), torch.randn(1, 3, 32, 32)
    elif name == "resnet18":
        model, x = torchvision.models.resnet18(), torch.randn(1, 3, 224, 224)
    elif name == "mlp_int8":
        model, x = Mlp(), torch.randn(1, 64)
        flags = ["--int4", "group=8", "--int8-activations"]
    else:
        raise KeyError(name)
    path = work / f"{name}.onnx"
    torch.onnx.export(model.eval(), (x,), str(path), input_names=["x"],
                      output_names=["y"], opset_version=16)
    pkg = work / name
    subprocess.run([str(sparqc), "compile", str(path), "--target", "arm", "-o", str(pkg),
                    *flags], check=True, capture_output=True)
    asm = sorted(pkg.glob("sparq_pipeline*.s"))[0]
    return asm.read_text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="small_cnn,resnet18,mlp_int8")
    parser.add_argument("--sparqc", type=Path, default=REPO / "build" / "bin" / "sparqc")
    args = parser.parse_args()
    rows = ["| code | type | loop instructions | multiplies | MACs per iteration "
            "| instructions per MAC |", "|---|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for level in ("-O2", "-O3"):
            ref = Path(tmp) / f"reference{level}.s"
            subprocess.run(["aarch64-linux-gnu-gcc", level, "-S", "-o", str(ref),
                            str(REPO / "bench" / "neon" / "reference_conv.c")],
                           check=True)
            rows += summary(f"plain NEON 3x3 conv (gcc {level})",
                            inner_loops(ref.read_text()))
        for name in args.models.split(","):
            rows += summary(f"arm target: {name}",
                            inner_loops(build(name, Path(tmp), args.sparqc)))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
