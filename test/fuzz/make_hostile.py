#!/usr/bin/python3
"""Writes hostile variants of the ONNX backend node models.

Random byte mutation rarely turns a parsing model into one with a pads of
2^62: the damage that matters lives in values that parse. For the first
models of each operator in the conformance pass list, this writes one variant
per integer attribute element, integer initializer element and graph input
dimension, set to each of a few hostile values (0, -1, 2^31, 2^62, INT64_MAX,
INT64_MIN), per small float initializer element (0, -1, 1e30, inf, NaN:
scales, roi, bounds), and per graph input and initializer given another rank
(a scalar, a dim dropped or a 1 added). The importer must turn each into a model or a clean error.

    /usr/bin/python3 test/fuzz/make_hostile.py OUTDIR [--per-op 2] [--max N]

scripts/fuzz.sh runs the variants through the libFuzzer harness (under ASan
and UBSan) and seeds the fuzzer with a sample of them.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

REPO = Path(__file__).resolve().parents[2]
DATA = Path("/usr/share/libonnx-testdata/data")
PASS_LIST = REPO / "test" / "onnx-backend" / "pass_list.txt"
HOSTILE = (0, -1, 1 << 31, 1 << 62, (1 << 63) - 1, -(1 << 63))
# Input dimensions: a zero or absurd size (negative ones are rejected early).
HOSTILE_DIMS = (0, 1 << 31, 1 << 62)
INT_TENSORS = (TensorProto.INT64, TensorProto.INT32)
# Float initializers (Resize's scales and roi, Range's bounds, ...).
HOSTILE_FLOATS = (0.0, -1.0, 1e30, float("inf"), float("nan"))
MAX_INIT_ELEMENTS = 16


def node_models(per_op: int) -> list[Path]:
    """The first `per_op` passing node tests of each operator."""
    seen: dict[str, int] = {}
    paths = []
    for line in PASS_LIST.read_text().splitlines():
        if not line.startswith("node/"):
            continue
        path = DATA / line / "model.onnx"
        if not path.is_file():
            continue
        model = onnx.load(str(path))
        ops = tuple(sorted({n.op_type for n in model.graph.node}))
        if seen.get(ops, 0) >= per_op:
            continue
        seen[ops] = seen.get(ops, 0) + 1
        paths.append(path)
    return paths


def with_small_inputs_as_initializers(path: Path) -> onnx.ModelProto:
    """The model with its small inputs (shapes, scales, pads, k, ...) made
    initializers holding the test's own values: the importer needs them at
    compile time, and only then do their values reach the op builders."""
    model = onnx.load(str(path))
    data = path.parent / "test_data_set_0"
    keep = []
    for k, inp in enumerate(model.graph.input):
        pb = data / f"input_{k}.pb"
        tensor = onnx.TensorProto()
        if pb.is_file():
            tensor.ParseFromString(pb.read_bytes())
            values = numpy_helper.to_array(tensor)
            if (values.size <= MAX_INIT_ELEMENTS and tensor.data_type in
                    INT_TENSORS + (TensorProto.FLOAT,) and inp.name):
                tensor.name = inp.name
                model.graph.initializer.append(tensor)
                continue
        keep.append(inp)
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return model


def variants(model: onnx.ModelProto):
    """Yields (label, mutated copy) pairs."""
    for ni, node in enumerate(model.graph.node):
        for ai, attr in enumerate(node.attribute):
            if attr.type == AttributeProto.INT:
                for v in HOSTILE:
                    m = onnx.ModelProto()
                    m.CopyFrom(model)
                    m.graph.node[ni].attribute[ai].i = v
                    yield f"{node.op_type}.{attr.name}={v}", m
            elif attr.type == AttributeProto.INTS:
                for k in range(len(attr.ints)):
                    for v in HOSTILE:
                        m = onnx.ModelProto()
                        m.CopyFrom(model)
                        m.graph.node[ni].attribute[ai].ints[k] = v
                        yield f"{node.op_type}.{attr.name}[{k}]={v}", m
    for ii, init in enumerate(model.graph.initializer):
        if init.data_type == TensorProto.FLOAT:
            hostile = HOSTILE_FLOATS
        elif init.data_type == TensorProto.INT32:
            hostile = tuple(v for v in HOSTILE if -(1 << 31) <= v < (1 << 31))
        elif init.data_type == TensorProto.INT64:
            hostile = HOSTILE
        else:
            continue
        values = numpy_helper.to_array(init)
        if values.size > MAX_INIT_ELEMENTS:
            continue
        for k in range(values.size):
            for v in hostile:
                m = onnx.ModelProto()
                m.CopyFrom(model)
                flat = values.copy().reshape(-1)
                flat[k] = v
                t = numpy_helper.from_array(flat.reshape(values.shape), init.name)
                m.graph.initializer[ii].CopyFrom(t)
                yield f"init {init.name}[{k}]={v}", m
    for ii, inp in enumerate(model.graph.input):
        dims = inp.type.tensor_type.shape.dim
        for k in range(len(dims)):
            for v in HOSTILE_DIMS:
                m = onnx.ModelProto()
                m.CopyFrom(model)
                m.graph.input[ii].type.tensor_type.shape.dim[k].dim_value = v
                yield f"input {inp.name}[{k}]={v}", m
        # Another rank: builders that index dims by position must check it.
        shape = [d.dim_value for d in dims]
        for label, other in (("rank 0", []), ("first dim dropped", shape[1:]),
                             ("last dim dropped", shape[:-1]),
                             ("1 prepended", [1] + shape),
                             ("1 appended", shape + [1])):
            if other == shape or not inp.type.tensor_type.HasField("shape"):
                continue
            m = onnx.ModelProto()
            m.CopyFrom(model)
            new_dims = m.graph.input[ii].type.tensor_type.shape.dim
            del new_dims[:]
            for v in other:
                new_dims.add().dim_value = v
            yield f"input {inp.name} {label}", m
    # Every input and initializer at once: a scalar, or a dim dropped (rank
    # checks that compare two operands pass when both change).
    for label, cut in (("scalar", lambda s: []), ("first dim", lambda s: s[1:]),
                       ("last dim", lambda s: s[:-1])):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        for inp in m.graph.input:
            if inp.type.tensor_type.HasField("shape"):
                dims = inp.type.tensor_type.shape.dim
                other = cut([d.dim_value for d in dims])
                del dims[:]
                for v in other:
                    dims.add().dim_value = v
        for k, init in enumerate(m.graph.initializer):
            values = numpy_helper.to_array(init)
            if values.ndim == 0 or values.size == 0:
                continue
            shape = list(values.shape)
            if label == "scalar":
                v = values.reshape(-1)[:1].reshape(())
            else:
                n = math.prod(cut(shape))
                v = values.reshape(-1)[:n].reshape(cut(shape))
            m.graph.initializer[k].CopyFrom(numpy_helper.from_array(v, init.name))
        yield f"all operands: {label}", m
    # Initializers of another rank (axes, shapes, scales as scalars or
    # matrices; weights without their leading dim).
    for ii, init in enumerate(model.graph.initializer):
        values = numpy_helper.to_array(init)
        if values.size > MAX_INIT_ELEMENTS * 64:
            continue
        reshaped = []
        if values.ndim != 0 and values.size >= 1:
            reshaped.append(("scalar", values.reshape(-1)[:1].reshape(())))
        reshaped.append(("1 prepended", values.reshape((1,) + values.shape)))
        if values.ndim >= 2:
            reshaped.append(("flattened", values.reshape(-1)))
        for label, v in reshaped:
            m = onnx.ModelProto()
            m.CopyFrom(model)
            m.graph.initializer[ii].CopyFrom(numpy_helper.from_array(v, init.name))
            yield f"init {init.name} {label}", m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--per-op", type=int, default=2,
                        help="models per operator set (default 2)")
    parser.add_argument("--max", type=int, default=0,
                        help="keep every k-th variant to stay under N (0: all)")
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in node_models(args.per_op):
        model = with_small_inputs_as_initializers(path)
        written.append((path.parent.name, "as is", model.SerializeToString()))
        for label, m in variants(model):
            data = m.SerializeToString()
            written.append((path.parent.name, label, data))
    step = max(1, len(written) // args.max) if args.max else 1
    index = []
    for test, label, data in written[::step]:
        name = hashlib.sha1(data).hexdigest()[:16]
        (args.outdir / name).write_bytes(data)
        index.append(f"{name}\t{test}\t{label}")
    (args.outdir.parent / (args.outdir.name + ".index")).write_text(
        "\n".join(index) + "\n")
    print(f"{len(index)} hostile variants in {args.outdir}")


if __name__ == "__main__":
    main()
