"""sparqc must reject broken models and bad command lines cleanly.

Clean means: a positive exit code (not a signal), a message on stderr with
`error:` that names what is wrong, and no file written anywhere, not even in
the output directory. The corpus is written by make_corpus.py.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/bad-inputs
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODELS = HERE / "models"
TIMEOUT_S = 60
MAX_INPUT_ELEMENTS = 1 << 20


def _sparqc() -> Path:
    env = os.environ.get("SPARQC")
    return Path(env) if env else REPO / "build" / "bin" / "sparqc"


SPARQC = _sparqc()
if not (SPARQC.is_file() and os.access(SPARQC, os.X_OK)):
    pytest.skip(f"sparqc not found at {SPARQC} (build it or set SPARQC)",
                allow_module_level=True)


def _read_expected() -> list[tuple[str, str]]:
    entries = []
    for line in (HERE / "expected.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, substring = line.split("\t", 1)
            entries.append((name, substring))
    return entries


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _np_dtype(elem_type: int) -> np.dtype:
    if hasattr(helper, "tensor_dtype_to_np_dtype"):  # onnx >= 1.13
        return helper.tensor_dtype_to_np_dtype(elem_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem_type]


def _make_inputs(model_path: Path, dest: Path) -> list[str]:
    """`-i NAME=FILE` for each graph input of a sane static shape.

    Feeding the inputs keeps the error about the model, not a missing input.
    Unparsable models and absurd or symbolic shapes get no input.
    """
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception:
        return []
    initializers = {t.name for t in model.graph.initializer}
    args = []
    for k, value in enumerate(model.graph.input):
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1
                for d in tensor_type.shape.dim]
        if any(d <= 0 for d in dims) or np.prod(dims, dtype=np.float64) > MAX_INPUT_ELEMENTS:
            continue
        dest.mkdir(exist_ok=True)
        path = dest / f"input_{k}.npy"
        np.save(path, np.ones(dims, dtype=_np_dtype(tensor_type.elem_type)))
        args += ["-i", f"{value.name}={path}"]
    return args


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SPARQC), *args], cwd=cwd, capture_output=True,
                          text=True, errors="replace", timeout=TIMEOUT_S)


def _assert_clean_error(proc: subprocess.CompletedProcess[str], substring: str,
                        root: Path, before: set[str]) -> None:
    # pytest.fail rather than assert: the rewritten asserts repeat stderr 5 times.
    detail = f"\nexit code {proc.returncode}\nstderr:\n{proc.stderr}"
    if proc.returncode < 0:
        pytest.fail("expected a non-zero exit, not a crash" + detail)
    if proc.returncode == 0:
        pytest.fail("expected a non-zero exit" + detail)
    if "error:" not in proc.stderr:
        pytest.fail("stderr has no 'error:'" + detail)
    if substring.lower() not in proc.stderr.lower():
        pytest.fail(f"the error does not mention {substring!r}" + detail)
    created = _snapshot(root) - before
    stray = sorted(p for p in created if p != "out" and not p.startswith("out/"))
    assert not stray, f"sparqc created files outside OUT: {stray}"
    out = root / "out"
    files = sorted(str(p.relative_to(root)) for p in out.rglob("*") if not p.is_dir())
    assert not files, f"sparqc wrote into OUT although it failed: {files}"


@pytest.mark.parametrize("name,substring", _read_expected(),
                         ids=[n for n, _ in _read_expected()])
def test_bad_model(name: str, substring: str, tmp_path: Path) -> None:
    # Two levels down, so that '../../outside.bin' resolves to tmp_path, where
    # a bait file waits: an importer that follows the path would succeed.
    model_dir = tmp_path / "models" / "bad"
    model_dir.mkdir(parents=True)
    model = model_dir / name
    shutil.copyfile(MODELS / name, model)
    np.arange(12, dtype=np.float32).tofile(tmp_path / "outside.bin")
    inputs = _make_inputs(model, tmp_path / "inputs")
    before = _snapshot(tmp_path)

    proc = _run(["run", str(model), *inputs, "-o", str(tmp_path / "out")], tmp_path)
    _assert_clean_error(proc, substring, tmp_path, before)


def _relu_model(path: Path) -> None:
    """A valid model: pixels[2,3] -> Relu -> activated."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["pixels"], ["activated"], name="relu")], "relu",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("activated", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def cli_dir(tmp_path: Path) -> Path:
    """tmp_path with relu.onnx, a good input and a wrongly shaped one."""
    _relu_model(tmp_path / "relu.onnx")
    values = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "good.npy", values)
    np.save(tmp_path / "wrong_shape.npy", np.zeros((5, 7), dtype=np.float32))
    return tmp_path


def test_valid_model_runs(cli_dir: Path) -> None:
    # Control: the bad-input tests mean nothing if sparqc rejects everything.
    proc = _run(["run", "relu.onnx", "-i", "pixels=good.npy", "-o", "out"], cli_dir)
    assert proc.returncode == 0, proc.stderr
    got = np.load(cli_dir / "out" / "activated.npy")
    np.testing.assert_array_equal(got, np.maximum(np.load(cli_dir / "good.npy"), 0))


# (id, arguments after `sparqc`, what the error must name)
CLI_CASES = [
    ("unknown_flag", ["run", "relu.onnx", "-i", "pixels=good.npy",
                      "--frobnicate-harder", "-o", "out"], "--frobnicate-harder"),
    ("missing_model_path", ["run", "-o", "out"], "model"),
    ("nonexistent_model", ["run", "no_such_model.onnx", "-o", "out"],
     "no_such_model.onnx"),
    ("nonexistent_input_file", ["run", "relu.onnx", "-i", "pixels=no_such_input.npy",
                                "-o", "out"], "no_such_input.npy"),
    ("unknown_input_name", ["run", "relu.onnx", "-i", "bogus_input=good.npy",
                            "-o", "out"], "bogus_input"),
    ("wrong_input_shape", ["run", "relu.onnx", "-i", "pixels=wrong_shape.npy",
                           "-o", "out"], "pixels"),
    # Compression recipe flags.
    ("prune_unknown_granularity", ["run", "relu.onnx", "--prune", "blob:0.5"],
     "'--prune'"),
    ("prune_ratio_out_of_range", ["run", "relu.onnx", "--prune", "kernel:1.5"],
     "ratio in [0, 1]"),
    ("prune_without_value", ["report", "relu.onnx", "--prune"], "'--prune'"),
    ("ternary_bad_threshold", ["run", "relu.onnx", "--ternary=2"], "--ternary"),
    ("codebook_bits", ["run", "relu.onnx", "--codebook", "9"], "--codebook"),
    ("int4_bad_group", ["run", "relu.onnx", "--int4", "group=x"], "--int4"),
    ("pe_balance_bad", ["run", "relu.onnx", "--pe-balance", "0"], "--pe-balance"),
    ("layers_with_braces", ["run", "relu.onnx", "--prune", "kernel:0.5",
                            "--layers", "a}b"], "--layers"),
    ("bad_pass_option", ["report", "relu.onnx", "--pass-pipeline",
                         "builtin.module(sparq-prune{granularity=blob})"],
     "unknown granularity 'blob'"),
]


@pytest.mark.parametrize("args,substring", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_bad_cli(args: list[str], substring: str, cli_dir: Path) -> None:
    before = _snapshot(cli_dir)
    proc = _run(args, cli_dir)
    _assert_clean_error(proc, substring, cli_dir, before)


def test_report_of_a_zero_sized_gemm(tmp_path: Path) -> None:
    """A Gemm whose batch is 0 is a valid model: the report counts 0
    multiply-adds (it once divided by the output's 0 rows: SIGFPE)."""
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], name="empty_gemm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [0, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [0, 3])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(tmp_path / "gemm0.onnx"))
    proc = _run(["report", "gemm0.onnx"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "empty_gemm" in proc.stdout


@pytest.mark.parametrize("target", ["host", "cuda"])
def test_names_with_quotes_keep_model_json_valid(target: str, tmp_path: Path) -> None:
    """Input and output names are arbitrary: model.json escapes them."""
    import json
    name_in, name_out = 'x "in" \\ 1', 'y\n"out"'
    graph = helper.make_graph(
        [helper.make_node("Relu", [name_in], [name_out])], "g",
        [helper.make_tensor_value_info(name_in, TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info(name_out, TensorProto.FLOAT, [2, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(tmp_path / "names.onnx"))
    proc = _run(["compile", "names.onnx", "--target", target, "-o", "pkg"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "pkg" / "model.json").read_text())
    assert [i["name"] for i in doc["inputs"]] == [name_in]
    assert [o["name"] for o in doc["outputs"]] == [name_out]
    if target == "cuda":
        # The C name tables too: compiled and printed, they give the names.
        tables = [line for line in (tmp_path / "pkg" / "model.cu").read_text().splitlines()
                  if line.startswith(("static const char *const kInNames",
                                      "static const char *const kOutNames"))]
        assert len(tables) == 2, tables
        src = tmp_path / "names.cpp"
        src.write_text("#include <cstdio>\n" + "\n".join(tables) + "\nint main() { "
                       "std::printf(\"%s|%s\", kInNames[0], kOutNames[0]); }\n")
        subprocess.run(["g++", str(src), "-o", str(tmp_path / "names")], check=True)
        out = subprocess.run([str(tmp_path / "names")], capture_output=True).stdout
        assert out.decode() == f"{name_in}|{name_out}"


def _one_node_model(path: Path, node: onnx.NodeProto, shape: list[int]) -> None:
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


# Valid models whose sizes are huge: importing them must not allocate or loop
# over those sizes (an EyeLike was tabulated, an AveragePool's divisors too).
HUGE_VALID = [
    ("eyelike_2^31_rows", helper.make_node("EyeLike", ["x"], ["y"], k=1),
     [1 << 31, 4]),
    ("averagepool_2^31_wide", helper.make_node("AveragePool", ["x"], ["y"],
                                               kernel_shape=[3], pads=[1, 1]),
     [1, 1, 1 << 31]),
]
MAX_REPORT_RSS_KB = 1 << 20  # 1 GiB; the tables would have been 16-64 GiB


@pytest.mark.parametrize("node,shape", [c[1:] for c in HUGE_VALID],
                         ids=[c[0] for c in HUGE_VALID])
def test_huge_valid_model_reports_without_allocating(node: onnx.NodeProto,
                                                     shape: list[int],
                                                     tmp_path: Path) -> None:
    _one_node_model(tmp_path / "huge.onnx", node, shape)
    # A child Python runs sparqc and prints its peak RSS (its only child).
    probe = ("import resource, subprocess, sys; "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(p.stderr); "
             "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    proc = subprocess.run(["/usr/bin/python3", "-c", probe, str(SPARQC), "report",
                           "huge.onnx"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    code, rss_kb = (int(v) for v in proc.stdout.split())
    assert code == 0, proc.stderr
    assert rss_kb < MAX_REPORT_RSS_KB, f"sparqc report peaked at {rss_kb} KB"
