#!/usr/bin/env python3
"""IREE's latency on one ONNX model, for bench/e2e_latency.py.

Runs in IREE's own venv (IREE needs a newer onnx and numpy than Debian's, which
sparq's tests use), so e2e_latency.py calls it as a program:

    /usr/bin/python3 -m venv .venv-iree
    .venv-iree/bin/pip install -r bench/requirements-iree.txt
    .venv-iree/bin/python bench/iree_latency.py MODEL.onnx INPUT.npy --repeat 20

It imports the model (iree-import-onnx), compiles it for the host CPU
(llvm-cpu, target-cpu=host, convolutions as im2col + matmul: without it IREE's
CPU code was ~7x slower on ResNet-18), runs it on the local-task driver with 2
workers: one warm-up, then `--repeat` timed runs. Prints one JSON line:
{"median_ms": .., "compile_ms": .., "output": "PATH.npy"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("input", type=Path, help="the model's one input, .npy")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        import iree.runtime as rt
    except ImportError as exc:
        print(f"error: {exc}; install bench/requirements-iree.txt", file=sys.stderr)
        return 2
    bin_dir = Path(sys.executable).parent
    work = args.model.parent
    mlir, vmfb = work / (args.model.stem + ".iree.mlir"), work / (args.model.stem + ".vmfb")
    start = time.perf_counter()
    subprocess.run([str(bin_dir / "iree-import-onnx"), str(args.model), "-o", str(mlir)],
                   check=True)
    subprocess.run([str(bin_dir / "iree-compile"), str(mlir),
                    "--iree-hal-target-backends=llvm-cpu",
                    "--iree-llvmcpu-target-cpu=host",
                    "--iree-global-opt-use-im2col-for-convs", "-o", str(vmfb)], check=True)
    compile_ms = (time.perf_counter() - start) * 1e3

    # The task system's worker count is a runtime flag, read when the driver
    # is created.
    rt.flags.parse_flags(f"--task_topology_group_count={args.threads}")
    config = rt.Config("local-task")
    ctx = rt.SystemContext(config=config)
    vm_module = rt.VmModule.mmap(config.vm_instance, str(vmfb))
    ctx.add_vm_module(vm_module)
    # The importer names the entry after the ONNX graph: the one public
    # function that is neither an initializer nor the $async variant.
    names = [n for n in vm_module.function_names
             if not n.startswith("__") and not n.endswith("$async")]
    if len(names) != 1:
        print(f"error: expected one entry function, found {names}", file=sys.stderr)
        return 1
    entry = getattr(ctx.modules.module, names[0])
    x = np.load(args.input)
    out = np.asarray(entry(x))
    runs = []
    for _ in range(args.repeat):
        begin = time.perf_counter()
        np.asarray(entry(x))
        runs.append((time.perf_counter() - begin) * 1e3)
    out_path = work / (args.model.stem + ".iree-out.npy")
    np.save(out_path, out)
    print(json.dumps({"median_ms": statistics.median(runs), "compile_ms": compile_ms,
                      "output": str(out_path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
