"""Asserts that `sparqc compile`'s object holds code only: no 64-byte piece
of the weights payload (model.weights past its 64-byte header) appears in
model.o, and the payload is as large as the model's weights.

    weights_out_of_code.py MODEL.onnx OUTDIR
"""
import sys
from pathlib import Path

import onnx
from onnx import numpy_helper

model, out = Path(sys.argv[1]), Path(sys.argv[2])
obj = (out / "model.o").read_bytes()
payload = (out / "model.weights").read_bytes()[64:]
init_bytes = sum(numpy_helper.to_array(t).nbytes
                 for t in onnx.load(str(model)).graph.initializer)
# Folding (BatchNorm into Conv) may shrink the weights, never below half.
assert len(payload) >= init_bytes // 2, (len(payload), init_bytes)
pieces = [payload[i:i + 64] for i in range(0, len(payload) - 63, 64)]
pieces = [p for p in pieces if len(set(p)) > 8]  # skip padding and splats
assert pieces, "no weight bytes in the payload"
found = [i for i, p in enumerate(pieces) if p in obj]
assert not found, f"{len(found)} of {len(pieces)} weight pieces are in model.o"
print(f"weights out of code: {len(pieces)} pieces, none in model.o "
      f"({len(obj)} bytes of object, {len(payload)} of weights)")
