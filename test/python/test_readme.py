"""The README's training-loop example runs as written."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section_code(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"'{title}' should hold one Python example"
    return blocks[0]


def test_training_loop_example_runs(tmp_path):
    code = _section_code("Use sparq from a training loop")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The sparq these tests import (the build tree's), not an installed one.
    import sparq
    path = [os.path.dirname(os.path.dirname(os.path.abspath(sparq.__file__)))]
    env = dict(os.environ, MASTER_PORT=str(port),
               PYTHONPATH=os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.splitlines()
    ternary = [l for l in lines if "ternary" in l]
    assert len(ternary) == 2, run.stdout
    assert all(float(l.split()[-2].rstrip("x")) >= 8 for l in ternary), run.stdout
    traffic = [l for l in lines if l.endswith("x less gradient traffic")]
    assert len(traffic) == 1 and float(traffic[0].split("x")[0]) > 1, run.stdout
    assert list(tmp_path.iterdir()) == [], "the example wrote files"
