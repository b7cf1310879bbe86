#!/usr/bin/python3
"""ONNX backend conformance runner for `sparqc run`.

Runs the ONNX backend node tests shipped by Debian's libonnx-testdata through
`sparqc run` and compares the outputs with numpy, as the ONNX backend test
runner does. A checked-in pass list names the tests that must pass: a listed
test that fails is a regression and makes the run fail; a passing test that is
not listed is reported so it can be added with --update.

    /usr/bin/python3 test/onnx-backend/run_backend.py [--jobs 2] [--filter RE]
    /usr/bin/python3 test/onnx-backend/run_backend.py --update
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_DATA = Path("/usr/share/libonnx-testdata/data")
DEFAULT_SUITES = ("node", "pytorch-converted", "pytorch-operator")
DEFAULT_PASS_LIST = HERE / "pass_list.txt"
FAILURES_NAME = "failures.txt"

# The tolerances of the ONNX backend test runner.
RTOL = 1e-3
ATOL = 1e-7

PASS_LIST_HEADER = (
    "# ONNX backend tests (libonnx-testdata) that `sparqc run` must pass.\n"
    "# One suite/test per line, sorted. Regenerate with:\n"
    "#   /usr/bin/python3 test/onnx-backend/run_backend.py --update\n"
)
FAILURES_HEADER = (
    "# ONNX backend tests that fail, with the first error or mismatch.\n"
    "# Written by test/onnx-backend/run_backend.py --update; do not edit.\n"
)


@dataclasses.dataclass(frozen=True)
class TestCase:
    suite: str
    name: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Result:
    key: str
    passed: bool
    reason: str = ""


def sanitize(name: str) -> str:
    """File stem that sparqc uses for an output: [A-Za-z0-9_.-], rest '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def default_sparqc() -> Path:
    env = os.environ.get("SPARQC")
    return Path(env) if env else REPO / "build" / "bin" / "sparqc"


def discover(data: Path, suites: list[str],
             pattern: Optional[re.Pattern[str]]) -> list[TestCase]:
    tests = []
    for suite in suites:
        root = data / suite
        if not root.is_dir():
            raise SystemExit(f"error: no test suite '{suite}' under {data}")
        for d in sorted(root.iterdir()):
            if not (d / "model.onnx").is_file():
                continue
            case = TestCase(suite, d.name, d)
            if pattern is None or pattern.search(case.key):
                tests.append(case)
    return tests


def read_list(path: Path) -> list[str]:
    """Lines of a pass list or failures file, without comments and blanks."""
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_reason(stderr: str, returncode: int) -> str:
    """sparqc's first `error:` line, else the tail of stderr."""
    for line in stderr.splitlines():
        idx = line.find("error:")
        if idx >= 0:
            return one_line(line[idx:])
    lines = [line for line in stderr.splitlines() if line.strip()]
    tail = f": {one_line(lines[-1])}" if lines else " (no message on stderr)"
    return f"exit code {returncode}{tail}"


def load_tensor(path: Path) -> np.ndarray:
    proto = onnx.TensorProto()
    proto.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(proto)


def compare(name: str, actual: np.ndarray, expected: np.ndarray) -> str:
    """Empty string when equal under the backend's rules, else why not."""
    if actual.shape != expected.shape:
        return (f"output '{name}': shape {list(actual.shape)}"
                f" != expected {list(expected.shape)}")
    if expected.dtype == object or expected.dtype.kind in "US":
        # Strings cannot go through .npy as object arrays; compare text.
        if actual.dtype.kind not in "US" or not np.array_equal(
                actual.astype(str), expected.astype(str)):
            return f"output '{name}': string values differ"
        return ""
    if actual.dtype != expected.dtype:
        return f"output '{name}': dtype {actual.dtype} != expected {expected.dtype}"
    if expected.dtype.kind in "fc":
        close = np.isclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True)
    else:
        close = actual == expected
    if close.all():
        return ""
    bad = np.argwhere(~close)
    first = tuple(int(i) for i in bad[0])
    msg = (f"output '{name}': {len(bad)}/{close.size} elements differ,"
           f" first at {list(first)}: {actual[first]!r} vs expected {expected[first]!r}")
    if expected.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            diff = np.abs(actual.astype(np.complex128 if expected.dtype.kind == "c"
                                        else np.float64) - expected)
        finite = diff[np.isfinite(diff)]
        if finite.size:
            msg += f", max abs diff {float(finite.max()):.3g}"
    return msg


def non_tensor(values: list[onnx.ValueInfoProto]) -> Optional[onnx.ValueInfoProto]:
    for v in values:
        kind = v.type.WhichOneof("value")
        if kind != "tensor_type":
            return v
    return None


def run_data_set(sparqc: Path, case: TestCase, model: onnx.ModelProto,
                 data_set: Path, timeout: float) -> str:
    """Runs one data set; returns the failure reason, or '' on success."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    outputs = list(model.graph.output)

    cmd = [str(sparqc), "run", str(case.path / "model.onnx")]
    # Pair input_K.pb with the K-th non-initializer graph input: the model's
    # order is authoritative, some .pb files carry no name.
    for k, value in enumerate(inputs):
        pb = data_set / f"input_{k}.pb"
        if pb.is_file():
            cmd += ["-i", f"{value.name}={pb}"]

    with tempfile.TemporaryDirectory(prefix="sparq-backend-") as tmp:
        out_dir = Path(tmp) / "out"
        cmd += ["-o", str(out_dir)]
        # A new session lets a timeout kill sparqc and anything it started.
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                errors="replace", start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended just now
                pass
            proc.communicate()
            return "timeout"
        if proc.returncode < 0:
            try:
                sig = signal.Signals(-proc.returncode).name
            except ValueError:
                sig = f"signal {-proc.returncode}"
            return f"crashed ({sig})" + (
                f": {error_reason(stderr, proc.returncode)}" if "error:" in stderr else "")
        if proc.returncode != 0:
            return error_reason(stderr, proc.returncode)

        for k, value in enumerate(outputs):
            ref_path = data_set / f"output_{k}.pb"
            if not ref_path.is_file():
                continue
            out_path = out_dir / (sanitize(value.name) + ".npy")
            if not out_path.is_file():
                return f"output '{value.name}' not written ({out_path.name} missing)"
            try:
                actual = np.load(out_path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                return f"output '{value.name}': unreadable .npy: {one_line(str(exc))}"
            reason = compare(value.name, actual, load_tensor(ref_path))
            if reason:
                return reason
    return ""


def run_test(sparqc: Path, case: TestCase, timeout: float) -> Result:
    # One odd test (unreadable reference data, ...) must not end the run.
    try:
        return _run_test(sparqc, case, timeout)
    except Exception as exc:
        return Result(case.key, False,
                      f"harness: {type(exc).__name__}: {one_line(str(exc))}")


def _run_test(sparqc: Path, case: TestCase, timeout: float) -> Result:
    try:
        model = onnx.load(str(case.path / "model.onnx"), load_external_data=False)
    except Exception as exc:  # a broken test model is a harness problem
        return Result(case.key, False, f"harness: cannot load model: {one_line(str(exc))}")
    initializers = {t.name for t in model.graph.initializer}
    odd = non_tensor([v for v in model.graph.input if v.name not in initializers]
                     + list(model.graph.output))
    if odd is not None:
        kind = odd.type.WhichOneof("value")
        return Result(case.key, False,
                      f"harness: '{odd.name}' is {kind}; sparqc run exchanges tensors only")
    data_sets = sorted((d for d in case.path.glob("test_data_set_*") if d.is_dir()),
                       key=lambda d: int(d.name.rsplit("_", 1)[1]))
    if not data_sets:
        return Result(case.key, False, "harness: no test_data_set_* directory")
    # The timeout is for the whole test, shared by its data sets.
    deadline = time.monotonic() + timeout
    for data_set in data_sets:
        left = deadline - time.monotonic()
        reason = (run_data_set(sparqc, case, model, data_set, left) if left > 0
                  else "timeout")
        if reason == "timeout":
            reason = f"timeout after {timeout:g} s"
        if reason:
            if len(data_sets) > 1:
                reason = f"{data_set.name}: {reason}"
            return Result(case.key, False, reason)
    return Result(case.key, True)


def write_update(pass_list: Path, failures: Path, results: dict[str, Result],
                 covered: Callable[[str], bool]) -> None:
    """Rewrites both files; entries outside this run's suites and filter stay."""
    passed = {k for k in read_list(pass_list) if not covered(k)}
    passed |= {k for k, r in results.items() if r.passed}
    pass_list.write_text(PASS_LIST_HEADER + "".join(f"{k}\n" for k in sorted(passed)))

    failed: dict[str, str] = {}
    for line in read_list(failures):
        key, _, reason = line.partition(": ")
        if not covered(key):
            failed[key] = reason
    failed.update({k: r.reason for k, r in results.items() if not r.passed})
    failures.write_text(FAILURES_HEADER + "".join(
        f"{k}: {failed[k]}\n" for k in sorted(failed)))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparqc", type=Path, default=default_sparqc(),
                        help="sparqc binary (default: $SPARQC or build/bin/sparqc)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"libonnx-testdata directory (default: {DEFAULT_DATA})")
    parser.add_argument("--suites", default=",".join(DEFAULT_SUITES),
                        help="comma-separated suites (default: %(default)s)")
    parser.add_argument("--filter", help="run only suite/test names matching this regex")
    parser.add_argument("--pass-list", type=Path, default=DEFAULT_PASS_LIST,
                        help="tests that must pass (default: %(default)s)")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the pass list and failures.txt from this run")
    parser.add_argument("--jobs", type=int, default=2, help="parallel tests (default: 2)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per test (default: 60)")
    parser.add_argument("--verbose", action="store_true", help="print every test result")
    args = parser.parse_args(argv)

    args.sparqc = args.sparqc.resolve()  # tests run in temp dirs
    if not (args.sparqc.is_file() and os.access(args.sparqc, os.X_OK)):
        print(f"error: sparqc not found or not executable: {args.sparqc}"
              " (build it or pass --sparqc / set SPARQC)", file=sys.stderr)
        return 2
    suites = [s for s in args.suites.split(",") if s]
    pattern = re.compile(args.filter) if args.filter else None
    tests = discover(args.data, suites, pattern)
    pass_list = args.pass_list
    failures = pass_list.parent / FAILURES_NAME

    results: dict[str, Result] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_test, args.sparqc, t, args.timeout): t for t in tests}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[result.key] = result
            if args.verbose:
                status = "PASS" if result.passed else "FAIL"
                tail = f": {result.reason}" if result.reason else ""
                print(f"{status} {result.key}{tail}", flush=True)

    def covered(key: str) -> bool:
        """Whether this run selected the test, found in the data or not."""
        return (key.split("/", 1)[0] in suites
                and (pattern is None or pattern.search(key) is not None))

    # Listed tests that this run selected must pass; one missing from the
    # data counts as a regression too.
    expected = {key for key in read_list(pass_list) if covered(key)}
    regressions = {}
    for key in sorted(expected):
        result = results.get(key)
        if result is None:
            regressions[key] = "listed in the pass list but not in the test data"
        elif not result.passed:
            regressions[key] = result.reason
    newly = sorted(k for k, r in results.items() if r.passed and k not in expected)

    for key, reason in regressions.items():
        print(f"REGRESSION {key}: {reason}")
    if newly and not args.update:
        print("newly passing (add with --update):")
        for key in newly:
            print(f"  {key}")
    for suite in suites:
        in_suite = [r for r in results.values() if r.key.startswith(suite + "/")]
        print(f"{suite}: {sum(r.passed for r in in_suite)}/{len(in_suite)} passed")
    if args.update:
        write_update(pass_list, failures, results, covered)
        print(f"updated {pass_list} and {failures}")
    n_passed = sum(r.passed for r in results.values())
    print(f"{n_passed} passed, {len(regressions)} failed")
    return 1 if regressions and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
