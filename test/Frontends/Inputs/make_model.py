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


MODELS = {"conv_bn_relu": conv_bn_relu, "shape_chain": shape_chain, "lstm": lstm,
          "unknown_op": unknown_op, "quantize_roundtrip": quantize_roundtrip}

if __name__ == "__main__":
    onnx.save(MODELS[sys.argv[1]](), sys.argv[2])
