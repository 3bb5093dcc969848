"""mentor_packed_sdpa: packs attend within each example, and everything else is plain sdpa."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mentor.data.packing import VARLEN_KEYS, PackedCollator, flatten_trained_positions
from mentor.models.attention import register_packed_sdpa


def _item(*segments: list[int], trained: bool = True) -> dict:
    segs = [(ids, ids if trained else [-100] * len(ids)) for ids in segments]
    return {"segments": segs, "rows": tuple(range(len(segs))), "start": 0, "end": len(segs)}


def _rows(seed: int, *lengths: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(10, 1000, (n,), generator=g).tolist() for n in lengths]


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path):
    from mentor.models.loader import load_model

    plain = load_model(tiny_model_dir, dtype="float32", device="cpu", attn_implementation="sdpa")
    packed = load_model(tiny_model_dir, dtype="float32", device="cpu", attn_implementation="sdpa")
    packed.set_attn_implementation(register_packed_sdpa())
    assert packed.config._attn_implementation == "mentor_packed_sdpa"
    return plain, packed


def test_packs_match_examples_alone_with_and_without_boundaries(models) -> None:
    plain, packed = models
    a, b, c, d = _rows(0, 37, 23, 41, 12)
    batch = PackedCollator(pad_id=0)([_item(a, b), _item(c, d)])
    assert batch["cu_seq_lens_q"].tolist() == [0, 37, 60, 64, 105, 117, 128]
    assert batch["max_length_q"] == 41
    args = {k: batch[k] for k in ("input_ids", "position_ids")}
    with torch.no_grad():
        given = packed(**args, **{k: batch[k] for k in VARLEN_KEYS}, use_cache=False).logits
        derived = packed(**args, use_cache=False).logits  # boundaries from position_ids
        masked = plain(**args, use_cache=False).logits  # sdpa's block-diagonal mask
        for row, at, ids in ((0, 0, a), (0, 37, b), (1, 0, c), (1, 41, d)):
            alone = plain(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
            n = len(ids)
            assert torch.allclose(given[row, at : at + n], alone, atol=1e-5)
            assert torch.allclose(derived[row, at : at + n], alone, atol=1e-5)
            assert torch.allclose(masked[row, at : at + n], alone, atol=1e-5)


def test_left_padded_generation_is_unchanged(models, tiny_model_dir: Path) -> None:
    """Live previews generate with the training model: batched, left-padded, with a cache."""
    from transformers import AutoTokenizer

    plain, packed = models
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tok.padding_side = "left"
    enc = tok(
        ["SYLLO puzzle", "a much longer prompt about syllables and words"],
        return_tensors="pt",
        padding=True,
    )
    kw = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": tok.pad_token_id}
    with torch.no_grad():
        want = plain.generate(**enc, **kw)
        got = packed.generate(**enc, **kw)
    assert torch.equal(want, got)


def test_flattened_batch_gives_the_same_loss_and_gradients(tiny_model_dir: Path) -> None:
    from mentor.models.loader import load_model

    model = load_model(tiny_model_dir, dtype="float32", device="cpu", attn_implementation="sdpa")
    model.set_attn_implementation(register_packed_sdpa())
    model.train()  # dropout is 0 in the tiny config: forwards are deterministic
    a, b, c = _rows(1, 30, 19, 44)
    batch = PackedCollator(pad_id=0)([_item(a, b), _item(c[:20], trained=False)])
    batch["labels"][1, 5:20] = batch["input_ids"][1, 5:20]  # part of a row trained
    batch = {k: v for k, v in batch.items() if not k.startswith("mentor_")}
    n_items = int((batch["labels"][:, 1:] != -100).sum())

    def grads(inputs: dict) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        loss = model(**inputs, use_cache=False, num_items_in_batch=n_items).loss
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    flat = flatten_trained_positions(batch)
    assert flat["input_ids"].shape == (1, batch["input_ids"].numel())
    assert len(flat["logits_to_keep"]) == n_items  # logits only where a label is trained
    loss_a, ga = grads(batch)
    loss_b, gb = grads(flat)
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert len(ga) == len(gb) == sum(1 for _ in model.parameters())
    for x, y in zip(ga, gb, strict=True):
        assert torch.allclose(x, y, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("causal", "gqa"), [({"window_size": (-1, 0)}, True), ({"is_causal": True}, False)]
)
def test_varlen_layout_on_both_spellings(monkeypatch, causal: dict, gqa: bool) -> None:
    """The flash varlen kernel needs CUDA (tests/gpu runs it); here a reference with the same
    contract, (T, H, D) tokens and cumulative boundaries, checks the layout around the call:
    flattening, grouped kv heads (native or repeated) and the way back to (B, S, H, D)."""
    from mentor.models import attention

    F = torch.nn.functional
    calls = []

    def reference(q, k, v, cu_q, cu_k, max_q, max_k, *, scale=None, **kw):
        calls.append(kw)
        assert torch.equal(cu_q, cu_k) and cu_q.dtype == torch.int32
        assert kw.get("window_size") == (-1, 0) or kw.get("is_causal") is True
        assert ("enable_gqa" in kw) == (k.shape[1] != q.shape[1])
        out = []
        for x, y in zip(cu_q[:-1].tolist(), cu_q[1:].tolist(), strict=True):
            assert y - x <= max_q
            seg = [t[x:y].transpose(0, 1)[None] for t in (q, k, v)]
            o = F.scaled_dot_product_attention(*seg, is_causal=True, scale=scale, enable_gqa=True)
            out.append(o[0].transpose(0, 1))
        return torch.cat(out)

    monkeypatch.setattr(attention, "_varlen", lambda: (reference, causal, gqa))
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 8, 48, 16, generator=g)
    k = torch.randn(2, 4, 48, 16, generator=g)
    v = torch.randn(2, 4, 48, 16, generator=g)
    cu = torch.tensor([0, 20, 48, 61, 90, 96], dtype=torch.int32)
    got = attention._varlen_attention(q, k, v, cu, 29, 0.25)
    want = attention._per_example_attention(q, k, v, cu, 0.25)
    assert got.shape == want.shape == (2, 48, 8, 16)
    assert torch.allclose(got, want, atol=1e-5)
    assert len(calls) == 1


def test_a_failing_varlen_kernel_falls_back_once(monkeypatch, caplog) -> None:
    from mentor.models import attention

    def broken(*args, **kwargs):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(attention, "_varlen", lambda: (broken, {"window_size": (-1, 0)}, True))
    monkeypatch.setattr(attention, "_VARLEN_FAILED", [])
    q = torch.randn(1, 4, 8, 16)
    k = v = torch.randn(1, 2, 8, 16)
    cu = torch.tensor([0, 8], dtype=torch.int32)
    with caplog.at_level("WARNING", logger="mentor.models.attention"):
        assert attention._try_varlen(q, k, v, cu, 8, None) is None
        assert attention._try_varlen(q, k, v, cu, 8, None) is None
    assert len(attention._VARLEN_FAILED) == 1
    assert sum("varlen attention unavailable" in r.message for r in caplog.records) == 1

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(attention, "_varlen", lambda: (out_of_memory, {"is_causal": True}, True))
    monkeypatch.setattr(attention, "_VARLEN_FAILED", [])
    with pytest.raises(torch.OutOfMemoryError):
        attention._try_varlen(q, k, v, cu, 8, None)
