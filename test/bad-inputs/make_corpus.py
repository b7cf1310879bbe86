#!/usr/bin/python3
"""Writes the corpus of broken ONNX models that sparqc must reject cleanly.

Each model is built with onnx.helper and never passes through onnx.checker:
most are invalid on purpose. The output is deterministic, so rerunning this
script leaves the checked-in corpus unchanged.

    /usr/bin/python3 test/bad-inputs/make_corpus.py

Writes models/*.onnx and expected.txt (`file.onnx<TAB>substring`: the error
message must contain the substring, case-insensitively).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, external_data_helper, helper, numpy_helper

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
OPSET = 13
FLOAT = TensorProto.FLOAT


def model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
          outputs: list[onnx.ValueInfoProto],
          initializers: Sequence[TensorProto] = ()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "bad", inputs, outputs, list(initializers))
    m = helper.make_model(graph, producer_name="sparq make_corpus",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8  # fixed, so the bytes do not follow the onnx version
    return m


def tensor(name: str, shape: list[int] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, FLOAT, shape)


def weight(name: str, shape: list[int]) -> TensorProto:
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 10
    return numpy_helper.from_array(values, name)


def valid_matmul() -> onnx.ModelProto:
    """x[2,4] @ W[4,3]: the healthy model the damaged ones start from."""
    return model([helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")],
                 [tensor("x", [2, 4])], [tensor("y", [2, 3])], [weight("W", [4, 3])])


def truncated() -> bytes:
    data = valid_matmul().SerializeToString()
    cut = data[: len(data) // 2]
    # Half of the bytes ends inside the graph field, so it cannot parse.
    try:
        onnx.ModelProto().ParseFromString(cut)
    except Exception:  # google.protobuf.message.DecodeError
        return cut
    raise AssertionError("truncated model still parses")


def not_protobuf() -> bytes:
    # 'O' (0x4f) is a tag of wire type 7, which no protobuf parser accepts.
    text = b"ONNX? No: this is a plain text file, not a protobuf-encoded model.\n"
    try:
        onnx.ModelProto().ParseFromString(text)
    except Exception:
        return text
    raise AssertionError("text parses as a model")


def unknown_op() -> onnx.ModelProto:
    node = helper.make_node("FrobnicateOp", ["x"], ["y"], name="mystery_node")
    return model([node], [tensor("x", [2, 3])], [tensor("y", [2, 3])])


def bad_initializer_size() -> onnx.ModelProto:
    m = valid_matmul()
    w = m.graph.initializer[0]
    w.raw_data = w.raw_data[:8]  # 2 floats where dims [4, 3] need 12
    return m


def shape_mismatch() -> onnx.ModelProto:
    node = helper.make_node("Add", ["a", "b"], ["y"], name="bad_add")
    return model([node], [tensor("a", [2, 3]), tensor("b", [4, 5])], [tensor("y", None)])


def cycle() -> onnx.ModelProto:
    nodes = [helper.make_node("Add", ["x", "b_out"], ["a_out"], name="loop_a"),
             helper.make_node("Relu", ["a_out"], ["b_out"], name="loop_b")]
    return model(nodes, [tensor("x", [2, 3])], [tensor("a_out", [2, 3])])


def missing_input() -> onnx.ModelProto:
    node = helper.make_node("Add", ["x", "ghost"], ["y"], name="uses_ghost")
    return model([node], [tensor("x", [2, 3])], [tensor("y", [2, 3])])


def external(location: str) -> onnx.ModelProto:
    """W's 48 bytes live in an external file at `location`."""
    m = valid_matmul()
    w = m.graph.initializer[0]
    external_data_helper.set_external_data(w, location=location, offset=0, length=48)
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    return m


def absurd_dims() -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    huge = [1_000_000_000] * 3  # 1e27 elements: overflows int64 as well
    return model([node], [tensor("x", huge)], [tensor("y", huge)])


def negative_dim() -> onnx.ModelProto:
    shape = numpy_helper.from_array(np.array([-2, 3], dtype=np.int64), "target_shape")
    node = helper.make_node("Reshape", ["x", "target_shape"], ["y"], name="bad_reshape")
    return model([node], [tensor("x", [2, 3])], [tensor("y", None)], [shape])


def wrong_rank_conv() -> onnx.ModelProto:
    node = helper.make_node("Conv", ["x", "W"], ["y"], name="bad_conv",
                            kernel_shape=[3, 3])
    return model([node], [tensor("x", [3, 4])], [tensor("y", None)],
                 [weight("W", [1, 1, 3, 3])])


# file name -> (builder, substring the error must contain)
HUGE = 1 << 62


def depth_to_space_huge_blocksize() -> onnx.ModelProto:
    """blocksize 2^62: its square overflows (SIGFPE in `c % (bs * bs)`)."""
    return model([helper.make_node("DepthToSpace", ["x"], ["y"], name="d2s",
                                   blocksize=HUGE)],
                 [tensor("x", [1, 4, 2, 2])], [tensor("y", None)])


def avgpool(name: str, **attrs) -> onnx.ModelProto:
    return model([helper.make_node("AveragePool", ["x"], ["y"], name=name, **attrs)],
                 [tensor("x", [1, 1, 4, 4])], [tensor("y", None)])


def garbled_name() -> bytes:
    """An unknown op whose node name holds bytes that are not UTF-8, a
    control character, and 300 bytes in all: the error escapes the bytes
    and cuts the name. Python's protobuf sets only valid strings, so a
    placeholder of the same length is replaced in the serialized bytes."""
    placeholder = "N" * 300
    node = helper.make_node("Mystery", ["x"], ["y"], name=placeholder)
    data = model([node], [tensor("x", [2])], [tensor("y", [2])]).SerializeToString()
    garbled = (b"bad\xff\xfe\x07" + b"N" * 294)
    assert len(garbled) == 300 and data.count(placeholder.encode()) == 1
    return data.replace(placeholder.encode(), garbled)


INT64_MIN = -(1 << 63)


def conv_transpose_huge_strides() -> onnx.ModelProto:
    """strides 2^62: the output size strides * (in - 1) overflowed."""
    return model([helper.make_node("ConvTranspose", ["x", "W"], ["y"], name="deconv",
                                   strides=[HUGE, 1])],
                 [tensor("x", [1, 1, 3, 3])], [tensor("y", None)],
                 [weight("W", [1, 1, 2, 2])])


def pad_int64_min() -> onnx.ModelProto:
    """A pad of INT64_MIN: negating it to crop overflowed."""
    pads = numpy_helper.from_array(np.array([0, 0, INT64_MIN, 0, 0, 0, 0, 0], np.int64),
                                   "pads")
    return model([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad")],
                 [tensor("x", [1, 1, 4, 4])], [tensor("y", None)], [pads])


def scatternd_bad_indices() -> onnx.ModelProto:
    """Indices whose last dimension (5) exceeds the data's rank (2): the
    importer read past the data's shape."""
    indices = numpy_helper.from_array(np.zeros((1, 5), np.int64), "indices")
    return model([helper.make_node("ScatterND", ["x", "indices", "u"], ["y"],
                                   name="scatter")],
                 [tensor("x", [4, 4]), tensor("u", [1])], [tensor("y", None)],
                 [indices])


def gather_elements_wide_indices() -> onnx.ModelProto:
    """Indices wider than the data off the gather axis: the compiled code
    read past the data's end."""
    indices = numpy_helper.from_array(np.zeros((2, 9), np.int64), "indices")
    return model([helper.make_node("GatherElements", ["x", "indices"], ["y"],
                                   name="gather", axis=0)],
                 [tensor("x", [4, 4])], [tensor("y", None)], [indices])


def missing_required_input() -> onnx.ModelProto:
    """A Shrink whose one input is the empty name: builders read input 0."""
    return model([helper.make_node("Shrink", [""], ["y"], name="shrink")],
                 [tensor("x", [2])], [tensor("y", None)])


def lrn_huge_size() -> onnx.ModelProto:
    """size 2^62: the channel padding size - 1 overflowed the padded shape."""
    return model([helper.make_node("LRN", ["x"], ["y"], name="lrn", size=HUGE)],
                 [tensor("x", [1, 4, 2, 2])], [tensor("y", None)])


def lstm_huge_hidden() -> onnx.ModelProto:
    """hidden_size 2^62: gates * hidden_size overflowed."""
    return model([helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm",
                                   hidden_size=HUGE)],
                 [tensor("x", [2, 1, 3])], [tensor("y", None)],
                 [weight("W", [1, 8, 3]), weight("R", [1, 8, 2])])


def resize_huge_scale() -> onnx.ModelProto:
    """A scale of 1e30: the output size did not convert to an integer."""
    scales = numpy_helper.from_array(np.array([1, 1, 1e30, 1], np.float32), "scales")
    return model([helper.make_node("Resize", ["x", "", "scales"], ["y"], name="resize")],
                 [tensor("x", [1, 1, 4, 4])], [tensor("y", None)], [scales])


def range_nan_start() -> onnx.ModelProto:
    """A NaN start: the element count did not convert to an integer."""
    start = numpy_helper.from_array(np.array(np.nan, np.float32), "start")
    limit = numpy_helper.from_array(np.array(4, np.float32), "limit")
    delta = numpy_helper.from_array(np.array(1, np.float32), "delta")
    return model([helper.make_node("Range", ["start", "limit", "delta"], ["y"],
                                   name="range")],
                 [], [tensor("y", None)], [start, limit, delta])


CORPUS: dict[str, tuple[Callable[[], onnx.ModelProto | bytes], str]] = {
    "truncated.onnx": (truncated, "failed to parse"),
    "not_protobuf.onnx": (not_protobuf, "failed to parse"),
    "unknown_op.onnx": (unknown_op, "mystery_node"),
    "bad_initializer_size.onnx": (bad_initializer_size, "'W'"),
    "shape_mismatch.onnx": (shape_mismatch, "bad_add"),
    "cycle.onnx": (cycle, "cycle"),
    "missing_input.onnx": (missing_input, "ghost"),
    "external_outside.onnx": (lambda: external("../../outside.bin"), "outside the model"),
    "external_absolute.onnx": (lambda: external("/etc/passwd"), "outside the model"),
    "absurd_dims.onnx": (absurd_dims, "too large"),
    "negative_dim.onnx": (negative_dim, "bad_reshape"),
    "wrong_rank_conv.onnx": (wrong_rank_conv, "bad_conv"),
    # Hostile values that parse: each once crashed or hung the importer.
    "depth_to_space_huge_blocksize.onnx": (depth_to_space_huge_blocksize,
                                           "blocksize"),
    "avgpool_huge_kernel.onnx": (
        lambda: avgpool("huge_kernel", kernel_shape=[HUGE, 1],
                        pads=[HUGE, 0, HUGE, 0]), "kernel_shape"),
    "garbled_name.onnx": (garbled_name, "bad\\xff\\xfe\\x07NNN"),
    "avgpool_huge_pads.onnx": (
        lambda: avgpool("huge_pads", kernel_shape=[2, 2],
                        pads=[1 << 40, 0, 1 << 40, 0], count_include_pad=1), "pads"),
    # Found by UBSan, ASan and the fuzzer (session 13).
    "conv_transpose_huge_strides.onnx": (conv_transpose_huge_strides, "strides"),
    "pad_int64_min.onnx": (pad_int64_min, "pads"),
    "scatternd_bad_indices.onnx": (scatternd_bad_indices, "indices"),
    "gather_elements_wide_indices.onnx": (gather_elements_wide_indices,
                                          "exceed data [4, 4] in dimension 1"),
    "missing_required_input.onnx": (missing_required_input, "('input') is required"),
    "lrn_huge_size.onnx": (lrn_huge_size, "size"),
    "lstm_huge_hidden.onnx": (lstm_huge_hidden, "hidden_size"),
    "resize_huge_scale.onnx": (resize_huge_scale, "out of range"),
    "range_nan_start.onnx": (range_nan_start, "range of nan elements"),
}


# Inputs the fuzzer found (scripts/fuzz.sh), kept as it wrote them: each
# crashed the importer or tripped a sanitizer before its fix.
FUZZ_FINDINGS: dict[str, str] = {
    "fuzz_gru_scalar_input.onnx": "expects X of rank 3",
    "fuzz_loss_without_inputs.onnx": "expects 2 to 3 inputs",
    "fuzz_reshape_overflow.onnx": "is too large",
    "fuzz_concat_of_scalars.onnx": "rank 0",
    "fuzz_argmax_of_scalar.onnx": "axis is out of range for rank 0",
    "fuzz_qlinearconv_zero_point_rank.onnx": "w_zero_point (input 5)",
    "fuzz_gathernd_scalar_indices.onnx": "batch_dims 0 must be in [0, min(",
    "fuzz_resize_wide_nearest.onnx": "needs resize tables past 2^22 entries",
    "fuzz_nllloss_rank1_input.onnx": "input [5] and target [] do not match",
    # Session 16: hostile extents read as run-time dim ids (DimTable.h).
    "fuzz_pad_huge_negative.onnx": "pads crop more than the input has",
    "fuzz_expand_int64_min.onnx": "of shape [-9223372036854775808, 3, 6] is too large",
    # Session 22: a per-channel weight zero point reshaped to 4-D for a
    # rank-2 weight (read out of bounds before the rank check).
    "fuzz_qlinearconv_rank2_weight.onnx": "expects input and weight of one rank >= 3",
}


def main() -> None:
    MODELS.mkdir(exist_ok=True)
    lines = []
    for name, (build, substring) in CORPUS.items():
        built = build()
        data = built if isinstance(built, bytes) else built.SerializeToString()
        (MODELS / name).write_bytes(data)
        lines.append(f"{name}\t{substring}\n")
    for name, substring in FUZZ_FINDINGS.items():
        assert (MODELS / name).is_file(), f"missing fuzzer finding {name}"
        lines.append(f"{name}\t{substring}\n")
    (HERE / "expected.txt").write_text("".join(lines))
    print(f"wrote {len(CORPUS)} models to {MODELS}")


if __name__ == "__main__":
    main()
