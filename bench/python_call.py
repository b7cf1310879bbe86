"""What calling a model from Python adds: ResNet-18 at batch 1, compiled by
sparq.compile and called with a NumPy array, against the same model run by
`sparqc run --repeat` (its own timer around the executable's run), in
interleaved rounds in one process tree. Prints the medians and the ratio.

    PYTHONPATH=build/python .venv/bin/python bench/python_call.py [--rounds 5]
"""

import argparse
import io
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

import sparq

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20, help="timed calls per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sparqc", default=str(ROOT / "build/bin/sparqc"))
    args = ap.parse_args()

    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 224, 224)
    tmp = Path(tempfile.mkdtemp())
    buffer = io.BytesIO()
    torch.onnx.export(net, (x,), buffer, input_names=["x"], output_names=["y"], opset_version=13)
    (tmp / "r18.onnx").write_bytes(buffer.getvalue())
    np.save(tmp / "x.npy", x.numpy())

    sparq.set_num_threads(args.threads)
    model = sparq.compile(tmp / "r18.onnx")
    xa = x.numpy()
    for _ in range(3):
        model(xa)

    py_ms, cli_ms = [], []
    for _ in range(args.rounds):
        for _ in range(args.calls):
            start = time.perf_counter()
            model(xa)
            py_ms.append((time.perf_counter() - start) * 1e3)
        subprocess.run([args.sparqc, "run", str(tmp / "r18.onnx"), "-i", f"x={tmp / 'x.npy'}",
                        "--repeat", str(args.calls + 3), "--threads", str(args.threads),
                        "--timing-json", str(tmp / "t.json")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli_ms += json.loads((tmp / "t.json").read_text())["run_ms"][3:]
    p, c = statistics.median(py_ms), statistics.median(cli_ms)
    print(f"ResNet-18 batch 1, {args.threads} threads, {args.rounds} rounds x {args.calls} calls")
    print(f"  sparq.compile(...)(x)  median {p:.2f} ms")
    print(f"  sparqc run --repeat    median {c:.2f} ms")
    print(f"  Python call / sparqc run = {p / c:.3f}")


if __name__ == "__main__":
    main()
