"""ESE's speech model as ONNX, and a numpy reference of it.

An ONNX LSTM with peepholes (gates i, o, f, c) over a sequence of one
utterance's frames, then a projection: the MatMul that follows, as ESE's
Google LSTM has it (1024 cells, 512 projection). Built with onnx.helper
because PyTorch's nn.LSTM has no peepholes. Also an FC stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def ese_lstm(path: Path, steps: int = 8, inputs: int = 153, hidden: int = 1024,
             projection: int = 512, seed: int = 0, density: float = 1.0,
             row_spread: float = 0.5, balance_pes: int = 0) -> dict:
    """Writes the model; returns its weights by name. Each row's weights are
    scaled by exp(row_spread * N(0, 1)): trained rows differ in norm, which
    is what makes plain magnitude pruning uneven across PEs. With density
    < 1 every matrix is magnitude-pruned to it: per matrix, or with
    `balance_pes` per PE's rows (i, i + P, ...), as ESE's load-balance-aware
    pruning does."""
    rng = np.random.default_rng(seed)

    def rows(n: int, k: int) -> np.ndarray:
        scale = np.exp(row_spread * rng.standard_normal((n, 1)))
        return rng.standard_normal((n, k)) * scale / np.sqrt(k)

    w = {
        "W": rows(4 * hidden, inputs)[None],
        "R": rows(4 * hidden, hidden)[None],
        "B": 0.1 * rng.standard_normal((1, 8 * hidden)),
        "P": 0.1 * rng.standard_normal((1, 3 * hidden)),
        "proj": rows(projection, hidden).T,
    }
    w = {k: v.astype(np.float32) for k, v in w.items()}
    if density < 1:
        w["W"], w["R"] = prune(w["W"][0], density, balance_pes)[None], \
            prune(w["R"][0], density, balance_pes)[None]
        w["proj"] = prune(w["proj"].T, density, balance_pes).T.copy()
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B", "", "", "", "P"], ["y"],
                         name="lstm", hidden_size=hidden),
        helper.make_node("Squeeze", ["y", "axes"], ["s"], name="squeeze"),
        helper.make_node("MatMul", ["s", "proj"], ["out"], name="projection"),
    ]
    inits = [numpy_helper.from_array(v, k) for k, v in w.items()]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axes"))
    graph = helper.make_graph(
        nodes, "ese",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, 1, inputs])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [steps, 1, projection])],
        inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]),
              str(path))
    return w


def prune(m: np.ndarray, density: float, pes: int = 0) -> np.ndarray:
    """The largest magnitudes of m [outputs, inputs] kept: `density` of the
    matrix, or of each PE's rows when `pes`."""
    out = np.zeros_like(m)
    for rows in ([slice(p, None, pes) for p in range(pes)] if pes else [slice(None)]):
        part = m[rows]
        keep = int(round(part.size * density))
        if keep == 0:  # a PE with no rows (or too few to keep one)
            continue
        cut = np.sort(np.abs(part), axis=None)[::-1][keep - 1]
        out[rows] = np.where(np.abs(part) >= cut, part, 0)
    return out.astype(np.float32)


def fc_stack(path: Path, sizes: list[int], batch: int = 1, seed: int = 0,
             density: float = 1.0, balance_pes: int = 0) -> dict:
    """Gemm + Relu layers (the last one plain): sizes[0] inputs, then each
    layer's outputs; pruned as prune() does."""
    rng = np.random.default_rng(seed)
    w, nodes, prev = {}, [], "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        m = (rng.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32)
        if density < 1:
            m = prune(m, density, balance_pes)
        w[f"w{i}"], w[f"b{i}"] = m, (0.1 * rng.standard_normal(b)).astype(np.float32)
        last = i == len(sizes) - 2
        out = "y" if last else f"h{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"],
                                      [out if last else f"g{i}"], name=f"fc{i}", transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out], name=f"relu{i}"))
        prev = out
    graph = helper.make_graph(
        nodes, "fc_stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, sizes[-1]])],
        [numpy_helper.from_array(v, k) for k, v in w.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(path))
    return w


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def ese_reference(w: dict, x: np.ndarray) -> np.ndarray:
    """The ONNX LSTM (peepholes, zero states) and the projection, in float64."""
    W, R, B, P = (w[k][0].astype(np.float64) for k in ("W", "R", "B", "P"))
    hidden = R.shape[1]
    h, c = np.zeros(hidden), np.zeros(hidden)
    out = []
    for t in range(x.shape[0]):
        g = W @ x[t, 0] + R @ h + B[:4 * hidden] + B[4 * hidden:]
        gi, go, gf, gc = np.split(g, 4)
        i = sigmoid(gi + P[:hidden] * c)
        f = sigmoid(gf + P[2 * hidden:] * c)
        c = f * c + i * np.tanh(gc)
        o = sigmoid(go + P[hidden:2 * hidden] * c)
        h = o * np.tanh(c)
        out.append(h @ w["proj"].astype(np.float64))
    return np.stack(out)[:, None, :]


def fc_reference(w: dict, x: np.ndarray) -> np.ndarray:
    n = len(w) // 2
    h = x.astype(np.float64)
    for i in range(n):
        h = h @ w[f"w{i}"].T.astype(np.float64) + w[f"b{i}"]
        if i < n - 1:
            h = np.maximum(h, 0)
    return h
