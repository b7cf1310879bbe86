"""A VILA-style vision-language model end to end: the vision tower and
projector compiled by `sparqc run`, the LLaMA-style decoder compiled with int4
weights by `sparqc generate`; image + prompt -> 16 greedy tokens, the same as
PyTorch running the same int4-dequantized weights, logits close at every step.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_vlm.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

try:
    import torch
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

from vila_model import VisionTower, VlmDecoder, dequantized_int4

RunSparqc = Callable[..., dict[str, np.ndarray]]
GROUP = 32
PROMPT = [5, 17, 2, 61]
NEW_TOKENS = 16


def greedy(decoder: VlmDecoder, image_embeds: torch.Tensor, prompt, new_tokens):
    tokens, logits = list(prompt), []
    cache = decoder.empty_cache()
    ids, image = torch.tensor([prompt]), image_embeds
    empty = image_embeds[:, :0]
    with torch.no_grad():
        for _ in range(new_tokens):
            out = decoder(ids, image, *cache)
            cache = list(out[1:])
            logits.append(out[0][0, -1].numpy())
            tokens.append(int(out[0][0, -1].argmax()))
            ids, image = torch.tensor([[tokens[-1]]]), empty
    return tokens, np.stack(logits)


def test_image_and_prompt_generate_as_pytorch_int4(sparqc: Path, run_sparqc: RunSparqc,
                                                   tmp_path):
    decoder = VlmDecoder().eval()
    vision = VisionTower(decoder.c.dim).eval()
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(7))

    # The vision tower and projector, fp32, against PyTorch.
    embeds = run_sparqc(vision.export(tmp_path / "vision.onnx"),
                        {"image": image.numpy()}, ["image_embeds"])["image_embeds"]
    with torch.no_grad():
        expected_embeds = vision(image).numpy()
    np.testing.assert_allclose(embeds, expected_embeds, rtol=1e-4, atol=1e-5)

    # The decoder with int4 weights, from the compiled tower's embeddings.
    np.save(tmp_path / "embeds.npy", embeds)
    np.save(tmp_path / "prompt.npy", np.array([PROMPT], np.int64))
    proc = subprocess.run(
        [str(sparqc), "generate", str(decoder.export(tmp_path / "decoder.onnx")),
         "--ids", str(tmp_path / "prompt.npy"), "-i", f"image_embeds={tmp_path}/embeds.npy",
         "--max-new-tokens", str(NEW_TOKENS), "--int4", f"group={GROUP}",
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    reference = dequantized_int4(decoder, GROUP).eval()
    tokens, logits = greedy(reference, torch.from_numpy(embeds), PROMPT, NEW_TOKENS)
    assert np.load(tmp_path / "out" / "tokens.npy").tolist() == [tokens]
    np.testing.assert_allclose(np.load(tmp_path / "out" / "logits.npy"), logits,
                               rtol=1e-4, atol=1e-5)
    # The int4 weights matter: the fp32 decoder's logits differ beyond that.
    _, fp32_logits = greedy(decoder, torch.from_numpy(embeds), PROMPT, NEW_TOKENS)
    assert np.abs(fp32_logits - logits).max() > 1e-2
