"""Writes the cuda-target packages of the GPU GEMV benchmarks (issue 18):
one Gemm layer, batch 1, as sparqc compiles it with each recipe, and its
input. scripts/device_check.sh builds each with nvcc, runs it with
`sparq_run --repeat 50` (device time between the input and output copies)
and prints the bandwidth on the weight's packed bytes, beside
sparq-bench-gemv-baselines (cuBLAS fp16 GEMV, cuSPARSE SpMV).

    /usr/bin/python3 scripts/make_gpu_bench.py build/gpu-bench [--only gemv|csr]

Sizes: ternary and int4 at 8192 x 8192 (17 and 36 MB packed), CSR at 2048 x
2048 at 70, 90 and 95% sparsity: about 64 MB in all, what one device run
may carry; --only splits them.
"""

import argparse
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "gemv": [
        ("ternary_8192", 8192, ["--pass-pipeline", "builtin.module(sparq-ternarize{"
                                "skip-first=false skip-last=false},sparq-select-layout)"]),
        ("int4_8192", 8192, ["--int4"]),
    ],
    "csr": [(f"csr{int(s * 100)}_2048", 2048, ["--prune", f"element:{s}"])
            for s in (0.7, 0.9, 0.95)],
}


def gemm_model(n: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="gemv", transB=1)], "gemv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
        [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", choices=sorted(CASES))
    ap.add_argument("--sparqc", default=str(ROOT / "build/bin/sparqc"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    for group, cases in CASES.items():
        if args.only and group != args.only:
            continue
        for name, n, recipe in cases:
            work = args.out / name
            work.mkdir()
            model = work / "gemv.onnx"
            gemm_model(n, model)
            np.save(work / "x.npy",
                    np.random.default_rng(1).standard_normal((1, n)).astype(np.float32))
            subprocess.run([args.sparqc, "compile", str(model), "--target", "cuda", "-o",
                            str(work / "package"), *recipe], check=True)
            model.unlink()
            print(name, work)


if __name__ == "__main__":
    main()
