"""Fixtures of the end-to-end tests: find sparqc and run ONNX models with it.

sparqc is $SPARQC, else <repo>/build/bin/sparqc; without it every test here
is skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
# Compiling ResNet-18 from scratch on a small CI machine can take a while.
TIMEOUT_S = float(os.environ.get("SPARQ_E2E_TIMEOUT", "600"))

RunSparqc = Callable[..., dict[str, np.ndarray]]


def sanitize(name: str) -> str:
    """File stem that sparqc uses for an output: [A-Za-z0-9_.-], rest '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def find_sparqc() -> Path:
    env = os.environ.get("SPARQC")
    return Path(env) if env else REPO / "build" / "bin" / "sparqc"


@pytest.fixture(scope="session", autouse=True)
def sparqc() -> Path:
    path = find_sparqc()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"sparqc not found at {path} (build it or set SPARQC)")
    return path


def _write_inputs(inputs: Mapping[str, np.ndarray], fmt: str, dest: Path) -> list[str]:
    """The `-i` arguments that hand `inputs` to sparqc in format `fmt`."""
    dest.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        path = dest / "inputs.npz"
        np.savez(path, **inputs)
        return ["-i", str(path)]
    args = []
    for k, (name, value) in enumerate(inputs.items()):
        if fmt == "npy":
            path = dest / f"input_{k}.npy"
            np.save(path, value)
        elif fmt == "pb":
            from onnx import numpy_helper
            path = dest / f"input_{k}.pb"
            path.write_bytes(numpy_helper.from_array(value, name).SerializeToString())
        else:
            raise ValueError(f"unknown input format {fmt!r}")
        args += ["-i", f"{name}={path}"]
    return args


@pytest.fixture
def run_sparqc(sparqc: Path, tmp_path: Path) -> RunSparqc:
    """Returns run(model, inputs, output_names, input_format=, extra_args=).

    It runs `sparqc run` on the model with the inputs and returns the outputs
    by name, failing the test with sparqc's stderr if it does not succeed.
    """
    calls = itertools.count()

    def run(model: Path, inputs: Mapping[str, np.ndarray], output_names: Sequence[str],
            input_format: str = "npy",
            extra_args: Sequence[str] = ()) -> dict[str, np.ndarray]:
        work = tmp_path / f"run{next(calls)}"
        args = _write_inputs(inputs, input_format, work / "inputs")
        out = work / "out"
        cmd = [str(sparqc), "run", str(model), *args, "-o", str(out), *extra_args]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                              errors="replace", timeout=TIMEOUT_S)
        if proc.returncode != 0:
            pytest.fail(f"sparqc exited with {proc.returncode}\n$ {' '.join(cmd)}\n"
                        f"{proc.stderr}")
        outputs = {}
        for name in output_names:
            path = out / (sanitize(name) + ".npy")
            assert path.is_file(), f"sparqc wrote no {path.name} for output '{name}'"
            outputs[name] = np.load(path, allow_pickle=False)
        return outputs

    return run
