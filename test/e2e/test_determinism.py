"""Outputs do not depend on the thread count, at every SIMD level.

A model with each kernel family (dense convolution on stride phases and by
im2col, depthwise, max pool, a batch-1 linear layer as a GEMV, a MatMul on a
transposed operand), run by `sparqc run --threads N` for N = 1, 2, 3 with
SPARQ_SIMD capping the kernels at each level this CPU has: every run must
give the bits of the 1-thread run, dense and compressed (int4 groups with
int8 activations, ternary, element-pruned CSR). The numerics themselves are
checked against PyTorch in test_models.py.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs Debian's /usr/bin/python3")
from torch import nn  # noqa: E402

from test_models import export  # noqa: E402


def cpu_levels() -> list[str]:
    """The SPARQ_SIMD levels this CPU has (/proc/cpuinfo's flags)."""
    flags: set[str] = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    levels = ["portable"]
    if {"avx2", "fma", "bmi2"} <= flags:
        levels.append("avx2")
    if {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= flags:
        levels.append("avx512")
        if {"avx512_vnni", "avx512vbmi"} <= flags:
            levels.append("avx512vnni")
    return levels


class EveryKernel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, stride=2, padding=1)   # phase split
        self.wide = nn.Conv2d(24, 32, (1, 7), padding=(0, 3))  # im2col
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)   # depthwise
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.pw = nn.Conv2d(32, 64, 1)                          # 1x1 in place
        self.grp = nn.Conv2d(64, 64, 3, padding=1, groups=8)    # grouped
        self.fc = nn.Linear(64 * 8 * 8, 320)                    # GEMV
        self.head = nn.Linear(320, 129)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = torch.relu(self.wide(y))
        y = torch.clamp(self.dw(y), 0, 6)
        y = self.grp(self.pw(self.pool(y)))
        y = torch.relu(self.fc(y.flatten(1)))
        return self.head(y)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.manual_seed(0)
    work = tmp_path_factory.mktemp("determinism")
    x = torch.randn(1, 3, 32, 32)
    path = export(EveryKernel(), (x,), work / "every_kernel.onnx", ["x"], ["y"])
    np.save(work / "x.npy", x.numpy())
    return path, work / "x.npy"


def run(sparqc: Path, model: Path, x: Path, out: Path, level: str, threads: int,
        recipe: list[str]) -> bytes:
    env = dict(os.environ, SPARQ_SIMD=level)
    env.pop("SPARQ_NUM_THREADS", None)
    cmd = [str(sparqc), "run", str(model), "-i", f"x={x}", "-o", str(out),
           "--threads", str(threads), *recipe]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"$ {' '.join(cmd)}\n{proc.stderr}"
    return (out / "y.npy").read_bytes()


@pytest.mark.parametrize("recipe", [[], ["--int4", "group=64", "--int8-activations",
                                     "--layers", "*fc*,*head*"],
                                    ["--ternary"], ["--prune", "element:0.8"]],
                         ids=["dense", "int4-w4a8", "ternary", "csr"])
def test_outputs_do_not_depend_on_thread_count(sparqc: Path, model: tuple[Path, Path],
                                               tmp_path: Path, recipe: list[str]) -> None:
    path, x = model
    for level in cpu_levels():
        first = run(sparqc, path, x, tmp_path / f"{level}-1", level, 1, recipe)
        for threads in (2, 3):
            got = run(sparqc, path, x, tmp_path / f"{level}-{threads}", level,
                      threads, recipe)
            assert got == first, (f"SPARQ_SIMD={level} {' '.join(recipe)}: "
                                  f"{threads} threads differ from 1")
