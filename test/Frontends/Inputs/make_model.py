#!/usr/bin/python3
"""Writes small ONNX models for the importer's lit tests:
    make_model.py NAME OUT.onnx
Built with onnx.helper so each test states exactly what it imports."""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_bn_relu() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
        numpy_helper.from_array(np.ones(8, np.float32), "scale"),
        numpy_helper.from_array(np.zeros(8, np.float32), "shift"),
        numpy_helper.from_array(np.zeros(8, np.float32), "mean"),
        numpy_helper.from_array(np.ones(8, np.float32), "var"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1", pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"],
                         name="bn1"),
        helper.make_node("Relu", ["n"], ["y"], name="relu1"),
    ]
    graph = helper.make_graph(
        nodes, "conv_bn_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def shape_chain() -> onnx.ModelProto:
    """Flatten the way PyTorch exports x.view(x.size(0), -1)."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Constant", [], ["zero"], name="zero",
                         value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["shape2"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "shape2"], ["y"], name="flatten"),
    ]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    graph = helper.make_graph(
        nodes, "shape_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 20])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def lstm() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    h, i = 4, 3
    inits = [numpy_helper.from_array(rng.standard_normal((2, 4 * h, i)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((2, 4 * h, h)).astype(np.float32), "R")]
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y", "yh"], name="lstm1",
                            hidden_size=h, direction="bidirectional")
    graph = helper.make_graph(
        [node], "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 2, i])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 2, 2, h]),
         helper.make_tensor_value_info("yh", TensorProto.FLOAT, [2, 2, h])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def ese_lstm() -> onnx.ModelProto:
    """A forward LSTM with peepholes over 4 steps, then a projection MatMul:
    ESE's model, small."""
    rng = np.random.default_rng(0)
    h, i, p = 8, 6, 4
    inits = [numpy_helper.from_array(0.5 * rng.standard_normal((1, 4 * h, i)).astype(np.float32), "W"),
             numpy_helper.from_array(0.5 * rng.standard_normal((1, 4 * h, h)).astype(np.float32), "R"),
             numpy_helper.from_array(0.1 * rng.standard_normal((1, 8 * h)).astype(np.float32), "B"),
             numpy_helper.from_array(0.1 * rng.standard_normal((1, 3 * h)).astype(np.float32), "P"),
             numpy_helper.from_array(0.5 * rng.standard_normal((h, p)).astype(np.float32), "proj"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B", "", "", "", "P"], ["y"], name="lstm",
                              hidden_size=h),
             helper.make_node("Squeeze", ["y", "axes"], ["s"], name="squeeze"),
             helper.make_node("MatMul", ["s", "proj"], ["out"], name="projection")]
    graph = helper.make_graph(
        nodes, "ese_lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1, i])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4, 1, p])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def roi_align() -> onnx.ModelProto:
    """RoiAlign at opset 10, whose only behaviour is output_half_pixel."""
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], name="pool",
                            mode="max", output_height=2, output_width=3, sampling_ratio=2,
                            spatial_scale=0.5)
    graph = helper.make_graph(
        [node], "roi_align",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, [5, 4]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 4, 2, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])


def nms_regions() -> onnx.ModelProto:
    """NonMaxSuppression, then the kept boxes' first 4 (Gather, Slice) pooled
    by RoiAlign: sizes the model computes, flowing downstream."""
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou"], ["sel"],
                              name="nms"),
             helper.make_node("Gather", ["sel", "two"], ["keep"], axis=1),
             helper.make_node("Slice", ["keep", "s0", "s4"], ["top"]),
             helper.make_node("Squeeze", ["boxes", "s0"], ["all"]),
             helper.make_node("Gather", ["all", "top"], ["rois"], axis=0),
             helper.make_node("Mul", ["top", "s0"], ["zeros"]),
             helper.make_node("RoiAlign", ["x", "rois", "zeros"], ["y"], name="pool",
                              output_height=2, output_width=2)]
    inits = [numpy_helper.from_array(np.array([6], np.int64), "max"),
             numpy_helper.from_array(np.array([0.5], np.float32), "iou"),
             numpy_helper.from_array(np.array(2, np.int64), "two"),
             numpy_helper.from_array(np.array([0], np.int64), "s0"),
             numpy_helper.from_array(np.array([4], np.int64), "s4")]
    graph = helper.make_graph(
        nodes, "nms_regions",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8]),
         helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 6, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def gru() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    h, i = 4, 3
    inits = [numpy_helper.from_array(rng.standard_normal((1, 3 * h, i)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 3 * h, h)).astype(np.float32), "R")]
    node = helper.make_node("GRU", ["x", "W", "R"], ["y"], name="gru1", hidden_size=h)
    graph = helper.make_graph(
        [node], "gru", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 2, i])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 2, h])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def lstm_peepholes() -> onnx.ModelProto:
    """A bidirectional LSTM with biases, peepholes, initial states and clip."""
    rng = np.random.default_rng(0)
    h, i, d = 8, 5, 2
    inits = [numpy_helper.from_array(0.5 * rng.standard_normal((d, 4 * h, i)).astype(np.float32), "W"),
             numpy_helper.from_array(0.5 * rng.standard_normal((d, 4 * h, h)).astype(np.float32), "R"),
             numpy_helper.from_array(0.5 * rng.standard_normal((d, 8 * h)).astype(np.float32), "B"),
             numpy_helper.from_array(0.5 * rng.standard_normal((d, 3 * h)).astype(np.float32), "P")]
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0", "P"], ["y", "yh", "yc"],
                            name="bilstm", hidden_size=h, direction="bidirectional", clip=1.5)
    graph = helper.make_graph(
        [node], "lstm_peepholes",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 3, i]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [d, 3, h]),
         helper.make_tensor_value_info("c0", TensorProto.FLOAT, [d, 3, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6, d, 3, h]),
         helper.make_tensor_value_info("yh", TensorProto.FLOAT, [d, 3, h]),
         helper.make_tensor_value_info("yc", TensorProto.FLOAT, [d, 3, h])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def unknown_op() -> onnx.ModelProto:
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="mystery")
    graph = helper.make_graph(
        [node], "unknown",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def quantize_roundtrip() -> onnx.ModelProto:
    """QuantizeLinear then DequantizeLinear of [1, 128, 256]: one elementwise
    loop of the generated code, with a rounding in it."""
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(128, np.uint8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    graph = helper.make_graph(
        nodes, "roundtrip",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 256])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def lift_splat(variant: str) -> onnx.ModelProto:
    """A lift-splat as small as it gets: 2 depth bins x 3 pixels = 6 frustum
    points, 2 channels, a 2x2 BEV grid. Point 3 leaves the grid (the Gather
    drops it); the kept points fall in cells [3, 0, 3, 1, 3].

    elements: features NCHW, ScatterElements into [4, 2] with the cells
      broadcast over channels by Expand, as PyTorch's scatter_add exports.
    nd: features NHWC, ScatterND into a [2, 2, 2] grid by (x, y) pairs.
    dynamic: the elements variant with cells from a graph input: no plan
      can be made at compile time."""
    kept = np.array([0, 1, 2, 4, 5], np.int64)
    cells = np.array([3, 0, 3, 1, 3], np.int64)
    channels_last = variant == "nd"
    feat_shape = [1, 1, 3, 2] if channels_last else [1, 2, 1, 3]
    inputs = [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 2, 1, 3]),
              helper.make_tensor_value_info("feat", TensorProto.FLOAT, feat_shape)]
    inits = [numpy_helper.from_array(kept, "kept"),
             numpy_helper.from_array(np.array([-1, 2], np.int64), "points_x_c")]
    if channels_last:  # [N, D, H, W, 1] * [N, 1, H, W, C]
        nodes = [helper.make_node("Unsqueeze", ["depth", "ax_last"], ["d5"]),
                 helper.make_node("Unsqueeze", ["feat", "ax1"], ["f5"]),
                 helper.make_node("Mul", ["d5", "f5"], ["frustum"]),
                 helper.make_node("Reshape", ["frustum", "points_x_c"], ["points"])]
        inits += [numpy_helper.from_array(np.array([4], np.int64), "ax_last"),
                  numpy_helper.from_array(np.array([1], np.int64), "ax1")]
    else:  # [N, 1, D, H, W] * [N, C, 1, H, W], then channels last
        nodes = [helper.make_node("Unsqueeze", ["depth", "ax1"], ["d5"]),
                 helper.make_node("Unsqueeze", ["feat", "ax2"], ["f5"]),
                 helper.make_node("Mul", ["d5", "f5"], ["frustum"]),
                 helper.make_node("Transpose", ["frustum"], ["t"], perm=[0, 2, 3, 4, 1]),
                 helper.make_node("Reshape", ["t", "points_x_c"], ["points"])]
        inits += [numpy_helper.from_array(np.array([1], np.int64), "ax1"),
                  numpy_helper.from_array(np.array([2], np.int64), "ax2")]
    nodes.append(helper.make_node("Gather", ["points", "kept"], ["kept_points"], axis=0))
    if variant == "nd":
        xy = np.stack([cells // 2, cells % 2], axis=1)
        inits += [numpy_helper.from_array(np.zeros((2, 2, 2), np.float32), "grid"),
                  numpy_helper.from_array(xy, "cells")]
        nodes.append(helper.make_node("ScatterND", ["grid", "cells", "kept_points"], ["bev"],
                                      name="splat", reduction="add"))
        out_shape = [2, 2, 2]
    else:
        inits += [numpy_helper.from_array(np.zeros((4, 2), np.float32), "grid"),
                  numpy_helper.from_array(np.array([5, 2], np.int64), "shape")]
        if variant == "dynamic":
            inputs.append(helper.make_tensor_value_info("cells", TensorProto.INT64, [5, 1]))
        else:
            inits.append(numpy_helper.from_array(cells.reshape(5, 1), "cells"))
        nodes += [helper.make_node("Expand", ["cells", "shape"], ["index"]),
                  helper.make_node("ScatterElements", ["grid", "index", "kept_points"],
                                   ["bev"], name="splat", axis=0, reduction="add")]
        out_shape = [4, 2]
    graph = helper.make_graph(
        nodes, "lift_splat_" + variant, inputs,
        [helper.make_tensor_value_info("bev", TensorProto.FLOAT, out_shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def mlp() -> onnx.ModelProto:
    """Three Gemm layers with ReLUs, batch 1: matrix-vector products."""
    rng = np.random.default_rng(0)
    sizes = [64, 256, 128, 10]
    nodes, inits, x = [], [], "x"
    for i in range(3):
        inits += [
            numpy_helper.from_array(
                (rng.standard_normal((sizes[i + 1], sizes[i])) / 8).astype(np.float32),
                f"w{i}"),
            numpy_helper.from_array(rng.standard_normal(sizes[i + 1]).astype(np.float32),
                                    f"b{i}")]
        y = "y" if i == 2 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [y + "_"], name=f"fc{i}",
                                      transB=1))
        nodes.append(helper.make_node("Identity" if i == 2 else "Relu", [y + "_"], [y],
                                      name=f"act{i}"))
        x = y
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


MODELS = {"conv_bn_relu": conv_bn_relu, "mlp": mlp, "ese_lstm": ese_lstm,
          "roi_align": roi_align, "nms_regions": nms_regions, "shape_chain": shape_chain, "lstm": lstm,
          "unknown_op": unknown_op, "quantize_roundtrip": quantize_roundtrip,
          "gru": gru, "lstm_peepholes": lstm_peepholes,
          "lift_splat_elements": lambda: lift_splat("elements"),
          "lift_splat_nd": lambda: lift_splat("nd"),
          "lift_splat_dynamic": lambda: lift_splat("dynamic")}

if __name__ == "__main__":
    onnx.save(MODELS[sys.argv[1]](), sys.argv[2])
