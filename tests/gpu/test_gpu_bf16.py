"""bf16 correctness on a CUDA GPU (skipped without one): packing isolation, the varlen kernel, a short training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mentor.data.packing import PackedCollator

pytestmark = pytest.mark.gpu


def test_packed_examples_stay_apart_in_bf16(tiny_model_dir: Path) -> None:
    from mentor.models.loader import load_model

    model = load_model(tiny_model_dir, dtype="bfloat16", device="cuda", attn_implementation="sdpa")
    g = torch.Generator().manual_seed(0)
    a = torch.randint(10, 1000, (301,), generator=g).tolist()
    b = torch.randint(10, 1000, (157,), generator=g).tolist()
    collate = PackedCollator(pad_id=0)

    def pack(*seqs: list[int]) -> dict:
        segs = [(s, [-100] * len(s)) for s in seqs]
        return collate(
            [{"segments": segs, "rows": tuple(range(len(seqs))), "start": 0, "end": len(seqs)}]
        )

    alone, packed = pack(b), pack(a, b)
    with torch.no_grad():
        iso = (
            model(
                input_ids=alone["input_ids"].cuda(),
                position_ids=alone["position_ids"].cuda(),
                use_cache=False,
            )
            .logits[0]
            .float()
        )
        got = (
            model(
                input_ids=packed["input_ids"].cuda(),
                position_ids=packed["position_ids"].cuda(),
                use_cache=False,
            )
            .logits[0, len(a) :]
            .float()
        )
        leak = (
            model(
                input_ids=packed["input_ids"].cuda(),
                position_ids=packed["position_ids"].cuda(),
                attention_mask=torch.ones_like(packed["input_ids"]).cuda(),
                use_cache=False,
            )
            .logits[0, len(a) :]
            .float()
        )
    n = len(b)  # the collator pads each pack to a multiple of 8
    iso, got, leak = iso[:n], got[:n], leak[:n]
    isolated_gap = (iso - got).abs().max().item()
    leaked_gap = (iso - leak).abs().max().item()
    print(
        f"bf16 packed-vs-alone max |dlogit| {isolated_gap:.4f}; with an all-ones mask {leaked_gap:.4f}"
    )
    assert isolated_gap < 0.1 * leaked_gap


def test_short_bf16_training_on_gpu(workspace, tmp_path: Path) -> None:
    from mentor import config as config_mod
    from mentor.tasks.syllo import generate
    from mentor.train import train_file

    data = tmp_path / "easy.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in generate(64, 5, tier="easy")))
    cfg = config_mod.load(
        workspace.config_file,
        [
            "training.max_length=1024",
            "training.lora_r=8",
            "training.grad_accum=1",
            "eval.val_every=0",
        ],
    )
    out = train_file(workspace, cfg, data)
    assert out.status == "completed", out.message
    assert out.global_step > 0
    assert out.metrics["loss"] == out.metrics["loss"]  # finite, not NaN
    print("gpu training metrics:", json.dumps(out.metrics))


def test_varlen_kernel_matches_per_example_attention() -> None:
    from mentor.models.attention import _per_example_attention, _varlen, _varlen_attention

    if _varlen() is None:
        pytest.skip("this PyTorch has no torch.nn.attention.varlen")
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 8, 96, 64, generator=g)
    k = torch.randn(2, 4, 96, 64, generator=g)
    v = torch.randn(2, 4, 96, 64, generator=g)
    cu = torch.tensor([0, 40, 96, 150, 192], dtype=torch.int32)
    want = _per_example_attention(q, k, v, cu, 0.125)
    dev = {"device": "cuda", "dtype": torch.bfloat16}
    got = _varlen_attention(q.to(**dev), k.to(**dev), v.to(**dev), cu, 56, 0.125)
    assert got.shape == want.shape
    assert (got.float().cpu() - want).abs().max() < 3e-2
