"""The `sparq` Python package: compile from nn.Module, path, bytes and
ModelProto, call with NumPy and torch, recipes, reports, errors.

References are PyTorch's own outputs and, for recipes, the model with the
same compression applied in the test (a plain NumPy reimplementation of
magnitude pruning as docs/design.md defines it).
"""

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sparq

# Modules shared with the sparqc end-to-end tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from torch_modules import PreNormBlock, TwoLayerLSTM  # noqa: E402

RTOL, ATOL = 1e-3, 1e-4
SEED = 0


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def reference(model: nn.Module, *args: torch.Tensor):
    model.eval()
    with torch.no_grad():
        return model(*args)


def trained_cnn() -> SmallCNN:
    torch.manual_seed(SEED)
    model = SmallCNN()
    # Batch-norm statistics that are not the identity.
    with torch.no_grad():
        bn = model.features[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def onnx_bytes(model: nn.Module, x: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, input_names=["x"], output_names=["y"],
                      opset_version=13)
    return buffer.getvalue()


def test_cnn_from_module_matches_torch() -> None:
    model = trained_cnn()
    x = torch.randn(2, 3, 16, 16)
    compiled = sparq.compile(model, (x,))
    got = compiled(x)
    assert isinstance(got, torch.Tensor) and got.shape == (2, 10)
    np.testing.assert_allclose(got.numpy(), reference(model, x).numpy(), rtol=RTOL, atol=ATOL)
    # NumPy in, NumPy out; by name too.
    got_np = compiled(x=x.numpy())
    assert isinstance(got_np, np.ndarray)
    np.testing.assert_array_equal(got_np, got.numpy())
    assert model.training is False and compiled.input_names == ["x"]


def test_cnn_from_path_bytes_and_modelproto(tmp_path: Path) -> None:
    model = trained_cnn()
    x = torch.randn(1, 3, 16, 16)
    data = onnx_bytes(model, x)
    path = tmp_path / "cnn.onnx"
    path.write_bytes(data)
    want = reference(model, x).numpy()
    import onnx
    for source in (str(path), path, data, bytearray(data), onnx.load_from_string(data)):
        got = sparq.compile(source)(x.numpy())
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL,
                                   err_msg=f"from {type(source).__name__}")


def test_lstm_outputs_nest_as_the_module_returns_them() -> None:
    torch.manual_seed(SEED)
    model = TwoLayerLSTM().eval()
    x = torch.randn(5, 2, 16)
    out, (h, c) = sparq.compile(model, x)(x)
    want_out, (want_h, want_c) = reference(model, x)
    for got, want in ((out, want_out), (h, want_h), (c, want_c)):
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=RTOL, atol=ATOL)


def test_transformer_block_matches_torch() -> None:
    torch.manual_seed(SEED)
    model = PreNormBlock().eval()
    x = torch.randn(2, 10, 64)
    got = sparq.compile(model, (x,))(x)
    np.testing.assert_allclose(got.numpy(), reference(model, x).numpy(), rtol=RTOL, atol=ATOL)


def test_run_time_axis_takes_any_extent_up_to_its_bound() -> None:
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)).eval()
    # Tokens as the run-time axis ([batch, tokens, features]: MatMuls).
    compiled = sparq.compile(model, torch.randn(1, 3, 16), dynamic={"input": {1: 8}})
    assert compiled.inputs[0].runtime_axes == (1,)
    for tokens in (1, 5, 8):
        x = torch.randn(1, tokens, 16)
        np.testing.assert_allclose(compiled(x).numpy(), reference(model, x).numpy(),
                                   rtol=RTOL, atol=ATOL)
    with pytest.raises(sparq.InputError):
        compiled(torch.randn(1, 9, 16))


def kernel_prune(data: bytes, ratio: float) -> bytes:
    """The reference, on the exported ONNX model (where batch norms are
    already folded into the convolutions): every Conv weight loses the
    round(ratio * kernels) kernels of smallest L1 norm, every Gemm weight
    that share of its smallest weights (on a matrix, kernel groups are single
    weights)."""
    import onnx
    from onnx import numpy_helper
    proto = onnx.load_from_string(data)
    weights = {n.input[1] for n in proto.graph.node if n.op_type in ("Conv", "Gemm")}
    for init in proto.graph.initializer:
        if init.name not in weights:
            continue
        w = numpy_helper.to_array(init)
        groups = np.abs(w).reshape(w.shape[0] * w.shape[1], -1).sum(1)
        cut = np.argsort(groups, kind="stable")[:int(round(ratio * groups.size))]
        keep = np.ones(groups.size, np.float32)
        keep[cut] = 0
        pruned = w * keep.reshape(w.shape[:2] + (1,) * (w.ndim - 2))
        init.CopyFrom(numpy_helper.from_array(pruned.astype(np.float32), init.name))
    return proto.SerializeToString()


def test_recipe_matches_the_model_pruned_the_same_way() -> None:
    model = trained_cnn()
    x = torch.randn(2, 3, 16, 16)
    data = onnx_bytes(model, x)
    compressed = sparq.compile(data, recipe="prune=kernel:0.5")(x.numpy())
    pruned = kernel_prune(data, 0.5)
    # The same compression applied before compiling: the weights' zeros are
    # detected and stored the same way.
    np.testing.assert_allclose(compressed, sparq.compile(pruned)(x.numpy()),
                               rtol=1e-5, atol=1e-6)
    import onnxruntime
    session = onnxruntime.InferenceSession(pruned, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(compressed, session.run(None, {"x": x.numpy()})[0],
                               rtol=RTOL, atol=ATOL)
    # The dict form is the same recipe.
    again = sparq.compile(data, recipe={"prune": "kernel:0.5"})(x.numpy())
    np.testing.assert_array_equal(again, compressed)


def test_report_rows_have_the_json_fields(tmp_path: Path) -> None:
    model = trained_cnn()
    x = torch.randn(1, 3, 16, 16)
    page = tmp_path / "report.html"
    rows = sparq.report(model, "ternary", example_inputs=(x,), html=page)
    convs = [r for r in rows if r.op == "Conv"]
    assert len(convs) == 2 and convs[0].parameters == 16 * 3 * 9 + 16
    # TTQ leaves the first and last layers in fp32.
    formats = [r.weights[0].format for r in rows if r.weights]
    assert formats[0] == "dense" and formats[-1] == "dense", formats
    assert any("ternary" in f for f in formats), formats
    assert rows.totals.stored_bytes < rows.totals.bytes
    assert "Conv" in rows.table and page.read_text().startswith("<!DOCTYPE html>")


def test_report_lists_the_bev_pool_fusion() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    import bev_model
    cells = bev_model.frustum_cells(2, 4, 2, 6, 8)
    model = bev_model.LiftSplat(cells, 8, 8).eval()
    inputs = (torch.rand(2, 4, 2, 6), torch.randn(2, 8, 2, 6))
    rows = sparq.report(model, example_inputs=inputs)
    assert [f.op for f in rows.fusions] == ["bev_pool"], rows.table
    assert rows.fusions[0].unfused_bytes > rows.fusions[0].fused_bytes > 0
    assert "fused bev_pool" in rows.table
    assert sparq.report(model, {"fuse": False}, example_inputs=inputs).fusions == []
    # Fused or not, the model computes what PyTorch does.
    expected = model(*inputs).detach().numpy()
    for recipe in (None, "no-fuse"):
        got = sparq.compile(model, inputs, recipe=recipe)(*(t.numpy() for t in inputs))
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_recipe_words_are_checked_by_the_compiler() -> None:
    assert "sparq-fuse-bev-pool" in sparq.recipe_pipeline("")
    assert "sparq-fuse-bev-pool" not in sparq.recipe_pipeline({"fuse": False})
    assert "sparq-prune" in sparq.recipe_pipeline("prune=kernel:0.7")
    assert "layers=conv1,conv2" in sparq.recipe_pipeline(
        {"int8": True, "layers": ["conv1", "conv2"]})
    with pytest.raises(sparq.CompileError, match="recipe word 'prun'"):
        sparq.recipe_pipeline("prun=kernel:0.7")
    with pytest.raises(sparq.CompileError, match="ratio in"):
        sparq.recipe_pipeline("prune=kernel:1.5")


def test_bad_inputs_raise_input_error() -> None:
    model = trained_cnn()
    compiled = sparq.compile(model, torch.randn(1, 3, 16, 16))
    with pytest.raises(sparq.InputError, match="'x'"):
        compiled(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(sparq.InputError, match="float32"):
        compiled(np.zeros((1, 3, 16, 16), np.float64))
    with pytest.raises(sparq.InputError, match="missing input 'x'"):
        compiled()
    with pytest.raises(sparq.InputError, match="no input named 'y'"):
        compiled(y=np.zeros((1, 3, 16, 16), np.float32))
    assert issubclass(sparq.InputError, ValueError)
    # Not C-contiguous: read through a copy, still right.
    x = torch.randn(1, 16, 16, 3)
    got = compiled(x.permute(0, 3, 1, 2))
    np.testing.assert_allclose(got.numpy(), reference(model, x.permute(0, 3, 1, 2)).numpy(),
                               rtol=RTOL, atol=ATOL)


def test_bad_models_raise_compile_error_naming_the_node(tmp_path: Path) -> None:
    import onnx
    from onnx import helper, TensorProto
    node = helper.make_node("NoSuchOp", ["x"], ["y"], name="mystery")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(sparq.CompileError, match="mystery"):
        sparq.compile(proto)
    with pytest.raises(sparq.CompileError, match="not a valid ONNX"):
        sparq.compile(b"\x08\x07garbage")
    with pytest.raises(sparq.CompileError, match="no such file"):
        sparq.compile(tmp_path / "missing.onnx")
    with pytest.raises(sparq.CompileError, match="example_inputs"):
        sparq.compile(trained_cnn())
    with pytest.raises(TypeError):
        sparq.compile(42)


def test_threads_do_not_change_outputs() -> None:
    model = trained_cnn()
    x = torch.randn(2, 3, 16, 16)
    compiled = sparq.compile(model, (x,))
    before = sparq.get_num_threads()
    try:
        sparq.set_num_threads(1)
        one = compiled(x).numpy()
        sparq.set_num_threads(2)
        assert sparq.get_num_threads() == 2
        np.testing.assert_array_equal(compiled(x).numpy(), one)
    finally:
        sparq.set_num_threads(before)
    with pytest.raises(ValueError):
        sparq.set_num_threads(0)


def test_help_is_useful() -> None:
    doc = sparq.compile.__doc__
    assert "example_inputs" in doc and "recipe" in doc and "CompileError" in doc


def test_example_gives_the_static_extents_beside_a_run_time_axis() -> None:
    """A run-time batch and an example for the rest (an ONNX model whose
    height and width are symbolic): the example fixes them."""
    torch.manual_seed(SEED)
    net = nn.Conv2d(3, 4, 3, padding=1).eval()
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.randn(1, 3, 8, 8),), buffer, input_names=["x"],
                      output_names=["y"], opset_version=14,
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    model = sparq.compile(buffer.getvalue(), (np.zeros((1, 3, 12, 10), np.float32),),
                          dynamic={"x": {0: 4}})
    assert model.inputs[0].shape == (4, 3, 12, 10) and model.inputs[0].runtime_axes == (0,)
    x = torch.randn(3, 3, 12, 10)
    torch.testing.assert_close(model(x), net(x).detach(), rtol=RTOL, atol=ATOL)


def test_outputs_sized_by_the_data() -> None:
    """torchvision's NMS: each call returns as many boxes as it keeps, up to
    the first 5 (a count the model computes), as PyTorch does."""
    torchvision = pytest.importorskip("torchvision")

    class Keep(nn.Module):
        def forward(self, boxes, scores):
            keep = torchvision.ops.nms(boxes, scores, 0.5)[:5]
            return boxes[keep], scores[keep]

    def boxes(seed: int, spread: float):
        g = torch.Generator().manual_seed(seed)
        xy = torch.rand(12, 2, generator=g) * spread
        return torch.cat([xy, xy + 8], 1), torch.rand(12, generator=g)

    compiled = sparq.compile(Keep(), boxes(0, 40))
    counts = set()
    for seed, spread in [(1, 4), (2, 400), (3, 20)]:
        b, s = boxes(seed, spread)
        got, want = compiled(b, s), Keep()(b, s)
        counts.add(len(want[0]))
        for g, w in zip(got, want):
            assert g.shape == w.shape
            assert torch.equal(g, w)
    assert len(counts) > 1, counts


def test_dim_param_bound_by_name() -> None:
    torch.manual_seed(SEED)
    net = nn.Linear(16, 4).eval()
    buffer = io.BytesIO()
    # 3-D: exported as MatMul, which takes run-time dimensions (Gemm does not yet).
    torch.onnx.export(net, (torch.randn(2, 5, 16),), buffer, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}},
                      opset_version=14)
    model = sparq.compile(buffer.getvalue(), dynamic={"batch": 8})
    assert model.inputs[0].shape == (8, 5, 16) and model.inputs[0].runtime_axes == (0,)
    for rows in (3, 8):
        x = torch.randn(rows, 5, 16)
        torch.testing.assert_close(model(x), net(x).detach(), rtol=RTOL, atol=ATOL)
    with pytest.raises(sparq.InputError):
        model(torch.randn(9, 5, 16))


def test_small_float_example_is_a_compile_time_value() -> None:
    # Resize's scales as a graph input: the compiler needs them at compile
    # time, and takes them from the example, as `sparqc run -i` does.
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
        "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3]),
         helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.arange(18, dtype=np.float32).reshape(1, 2, 3, 3)
    scales = np.array([1, 1, 2, 2], dtype=np.float32)
    model = sparq.compile(proto.SerializeToString(), {"x": x, "scales": scales})
    y = model(x, scales)
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(2, axis=3))


def test_build_writes_a_target_package(tmp_path: Path) -> None:
    import json
    torch.manual_seed(SEED)
    net = SmallCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    assert "host" in sparq.targets()
    out = Path(sparq.build(net, tmp_path / "pkg", (x,), recipe="prune=element:0.5"))
    assert sorted(p.name for p in out.iterdir()) == [
        "model.json", "model.mlir", "model.o", "model.weights"]
    signature = json.loads((out / "model.json").read_text())
    assert signature["inputs"][0]["shape"] == [1, 3, 16, 16]
    assert 0 < signature["weights"]["bytes"] <= (out / "model.weights").stat().st_size
    # Targets are reached through the one table: an unknown one lists it.
    with pytest.raises(sparq.CompileError, match=r"not built in \(built in: host"):
        sparq.build(net, tmp_path / "other", (x,), target="nope")
    assert not (tmp_path / "other").exists()
    # The cuda target from Python: the same package sparqc writes.
    assert "cuda" in sparq.targets()
    gpu = Path(sparq.build(net, tmp_path / "gpu", (x,), target="cuda",
                           recipe="prune=element:0.5"))
    assert {"model.cu", "sparq_model.h", "CMakeLists.txt", "model.weights"} <= {
        p.name for p in gpu.iterdir()}
    assert "// packed convolution, csr weight" in (gpu / "model.cu").read_text()
    # A format it has no kernel for is an error naming the layer; no package.
    with pytest.raises(sparq.CompileError, match=r"node '.*': weight format icsc"):
        sparq.build(net, tmp_path / "icsc", (x,), target="cuda", recipe="pe-balance=4")
    assert not (tmp_path / "icsc").exists()


def test_build_arm_package(tmp_path: Path) -> None:
    """sparq.build(target="arm"): the Halide pipeline built for aarch64 with
    the packed weights, as `sparqc compile --target arm` writes it."""
    import shutil
    if shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("make") is None:
        pytest.skip("aarch64-linux-gnu-g++ or make not found: arm packages are not "
                    "built here (scripts/setup.sh installs them)")
    torch.manual_seed(SEED)
    net = SmallCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    assert "arm" in sparq.targets()
    try:
        out = Path(sparq.build(net, tmp_path / "arm", (x,), target="arm",
                               recipe="ternary"))
    except sparq.CompileError as e:
        if "needs Halide" in str(e):
            pytest.skip(str(e))
        raise
    assert {"pipeline.cpp", "libsparq_model.a", "sparq_run", "model.weights",
            "schedule.txt"} <= {p.name for p in out.iterdir()}
    assert "dense+ternary weight (tile)" in (out / "schedule.txt").read_text()
    assert (out / "sparq_run").read_bytes()[18] == 183  # EM_AARCH64


def test_build_hls_package(tmp_path: Path) -> None:
    """sparq.build(target="hls") on a PyTorch LSTM pruned while training:
    the engine for it, the pruned weights found by detection and stored
    interleaved; the testbench C-simulates bit-exact."""
    import shutil
    import subprocess
    torch.manual_seed(SEED)

    class Lstm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(12, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)[0]

    net = Lstm().eval()
    with torch.no_grad():
        for p in (net.rnn.weight_ih_l0, net.rnn.weight_hh_l0):
            p.mul_((p.abs() > p.abs().flatten().kthvalue(int(0.8 * p.numel())).values)
                   .float())
    assert "hls" in sparq.targets()
    out = Path(sparq.build(net, tmp_path / "hls", (torch.randn(5, 1, 12),), target="hls"))
    source = (out / "model.cpp").read_text()
    assert "sparq_lstm<SPARQ_PES, 16, 12, SPARQ_STEPS>" in source
    kept = int((net.rnn.weight_ih_l0 != 0).sum())
    assert kept < 0.21 * 64 * 12
    assert "W 64x12 icsc32/4b+q" in source and f"({kept} non-zeros" in source
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the package is written but not C-simulated")
    subprocess.run(["g++", "-O2", "-std=c++11", "-I.", "csim.cpp", "model.cpp", "-o", "csim"],
                   cwd=out, check=True)
    run = subprocess.run([str(out / "csim"), str(out)], capture_output=True, text=True)
    assert run.returncode == 0 and "bit-exact" in run.stdout, run.stdout + run.stderr
