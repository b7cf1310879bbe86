"""`sparqc generate`: greedy decoding with the KV cache kept in place, against
PyTorch running the same decoder token by token.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_generate.py
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

try:
    import torch
    from torch import nn
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

from llama_decoder import Decoder

PROMPT = [3, 7, 11, 42, 5]
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def decoder(tmp_path_factory) -> tuple[Decoder, Path]:
    model = Decoder().eval()
    return model, model.export(tmp_path_factory.mktemp("decoder") / "decoder.onnx")


def greedy(model: Decoder, prompt: list[int], new_tokens: int):
    """PyTorch's tokens and the logits each was chosen from."""
    tokens, logits = list(prompt), []
    cache = model.empty_cache()
    ids, pos = torch.tensor([prompt]), torch.arange(len(prompt))[None]
    with torch.no_grad():
        for _ in range(new_tokens):
            out = model(ids, pos, *cache)
            cache = list(out[1:])
            last = out[0][0, -1]
            logits.append(last.numpy())
            tokens.append(int(last.argmax()))
            ids, pos = torch.tensor([[tokens[-1]]]), torch.tensor([[len(tokens) - 1]])
    return tokens, np.stack(logits)


def generate(sparqc: Path, model: Path, tmp: Path, *extra: str,
             prompt=PROMPT, new_tokens=NEW_TOKENS) -> subprocess.CompletedProcess:
    ids = tmp / "prompt.npy"
    np.save(ids, np.array([prompt], dtype=np.int64))
    return subprocess.run([str(sparqc), "generate", str(model), "--ids", str(ids),
                           "--max-new-tokens", str(new_tokens), *extra],
                          capture_output=True, text=True, timeout=600)


def test_generate_matches_pytorch(decoder, sparqc: Path, tmp_path):
    model, path = decoder
    proc = generate(sparqc, path, tmp_path, "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    tokens, logits = greedy(model, PROMPT, NEW_TOKENS)
    got = np.load(tmp_path / "out" / "tokens.npy")
    assert got.tolist() == [tokens]
    np.testing.assert_allclose(np.load(tmp_path / "out" / "logits.npy"), logits,
                               rtol=1e-4, atol=1e-5)
    assert f"generated: {' '.join(map(str, tokens[len(PROMPT):]))}" in proc.stdout
    assert re.search(r"decode: [0-9.]+ ms per token", proc.stderr)


def test_caches_stay_in_place(decoder, sparqc: Path, tmp_path):
    _, path = decoder
    graph = generate(sparqc, path, tmp_path, "--emit", "mlir", new_tokens=2)
    assert graph.returncode == 0, graph.stderr
    signature = next(line for line in graph.stdout.splitlines() if "func.func @forward" in line)
    # Each past cache is a buffer of its bound, written by the model; present
    # is no result; the length is a scalar input.
    capacity = len(PROMPT) + 2
    for name in ("past_k_0", "past_v_0", "past_k_1", "past_v_1"):
        assert re.search(rf"tensor<1x4x{capacity}x16xf32> {{bufferization.writable = true, "
                         rf"onnx.name = \"{name}\"}}", signature), name
    assert '"kv_length.past"' in signature
    assert "present" not in signature
    appends = re.findall(r"tensor.insert_slice %\S+ into %arg\d\[0, 0, %\S+, 0\]", graph.stdout)
    assert len(appends) == 4
    # ... and the code copies no buffer.
    lowered = generate(sparqc, path, tmp_path, "--emit", "llvm", new_tokens=2)
    assert lowered.returncode == 0, lowered.stderr
    assert "memrefCopy" not in lowered.stdout and "memcpy" not in lowered.stdout


def test_prompt_of_one_token_and_short_cache(decoder, sparqc: Path, tmp_path):
    model, path = decoder
    proc = generate(sparqc, path, tmp_path, "-o", str(tmp_path / "out"), prompt=[9],
                    new_tokens=3)
    assert proc.returncode == 0, proc.stderr
    tokens, _ = greedy(model, [9], 3)
    assert np.load(tmp_path / "out" / "tokens.npy").tolist() == [tokens]
    # A cache bounded below what the tokens need is refused before running.
    short = generate(sparqc, path, tmp_path, "--dynamic", "past<=4", new_tokens=8)
    assert short.returncode == 1
    assert "the KV cache holds 4 entries; the prompt and new tokens need 12" in short.stderr


def test_generate_errors(decoder, sparqc: Path, tmp_path):
    _, path = decoder
    mlp = tmp_path / "mlp.onnx"
    torch.onnx.export(nn.Linear(4, 4).eval(), (torch.randn(1, 4),), str(mlp),
                      input_names=["ids"], output_names=["y"], opset_version=13)
    proc = generate(sparqc, mlp, tmp_path)
    assert proc.returncode == 1 and "keeps no KV cache" in proc.stderr
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros((1, 3), np.float32))
    proc = subprocess.run([str(sparqc), "generate", str(path), "--ids", str(floats)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "expected int64 token ids of shape [S] or [1, S], got f32" in proc.stderr
    proc = subprocess.run([str(sparqc), "generate", str(path)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1 and "generate needs the prompt: --ids FILE" in proc.stderr
