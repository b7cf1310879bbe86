"""Writes cuda-target packages for the GPU checks (scripts/device_check.sh):
for each model of test/e2e/test_cuda_target.py, OUT/<model>/ holds the
package, its inputs (input_<k>.npy) and the host target's outputs (ref/),
which the package's runner compares with (--compare).

    /usr/bin/python3 scripts/make_cuda_packages.py build/cuda-packages \\
        [--models small_cnn grouped_convs prenorm_block camera_bev]
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "e2e"))
from test_cuda_target import MODELS, build_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    # Small by default: the device machine gets at most 64 MiB carried.
    ap.add_argument("--models", nargs="+", default=["small_cnn", "grouped_convs",
                                                     "prenorm_block", "camera_bev"],
                    choices=MODELS)
    ap.add_argument("--sparqc", default=str(ROOT / "build/bin/sparqc"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    for name in args.models:
        model, inputs, names = build_model(name)
        model.eval()
        work = args.out / name
        work.mkdir(parents=True)
        onnx_path = work / f"{name}.onnx"
        torch.onnx.export(model, inputs, str(onnx_path), input_names=names,
                          output_names=["y"], opset_version=16)
        flags = []
        for k, (n, x) in enumerate(zip(names, inputs)):
            np.save(work / f"input_{k}.npy", x.numpy())
            flags += ["-i", f"{n}={work / f'input_{k}.npy'}"]
        subprocess.run([args.sparqc, "compile", str(onnx_path), "--target", "cuda", "-o",
                        str(work / "package")], check=True)
        subprocess.run([args.sparqc, "run", str(onnx_path), *flags, "-o", str(work / "ref")],
                       check=True, capture_output=True)
        onnx_path.unlink()
        print(f"{name}: {work}")


if __name__ == "__main__":
    main()
