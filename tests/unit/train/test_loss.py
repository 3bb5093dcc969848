"""Chunked cross-entropy (training.chunked_loss): the same loss and gradients as the model's own
loss, without the full logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mentor.config import Config
from mentor.data.packing import PackedCollator, flatten_trained_positions
from mentor.models.attention import register_packed_sdpa
from mentor.train.loss import chunked_cross_entropy, chunked_lm_loss
from mentor.train.trainer import loss_chunk, optimizer_name


def test_chunks_give_the_plain_loss_and_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(37, 16, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (37,), generator=g)
    targets[[0, 5, 36]] = -100  # ignored positions count for nothing

    plain = (
        torch.nn.functional.cross_entropy(
            hidden @ weight.T, targets, ignore_index=-100, reduction="sum"
        )
        / 29.0
    )
    gh, gw = torch.autograd.grad(plain * 3, (hidden, weight))
    chunked = chunked_cross_entropy(hidden, weight, targets, num_items_in_batch=29, chunk=8)
    ch, cw = torch.autograd.grad(chunked * 3, (hidden, weight))  # the outer scale flows through
    assert chunked.item() == pytest.approx(plain.item(), rel=1e-12)
    assert torch.allclose(ch, gh, atol=1e-12) and torch.allclose(cw, gw, atol=1e-12)
    mean = chunked_cross_entropy(hidden, weight, targets, chunk=5)  # no count: the mean
    assert mean.item() == pytest.approx(plain.item() * 29 / 34, rel=1e-12)  # 34 targets kept


def _batch() -> dict:
    g = torch.Generator().manual_seed(3)
    a, b, c = (torch.randint(10, 1000, (n,), generator=g).tolist() for n in (30, 19, 44))
    items = [
        {"segments": [(a, a), (b, b)], "rows": (0, 1), "start": 0, "end": 2},
        {"segments": [(c, [-100] * 20 + c[20:])], "rows": (2,), "start": 0, "end": 1},
    ]
    batch = PackedCollator(pad_id=0)(items)
    return {k: v for k, v in batch.items() if not k.startswith("mentor_")}


@pytest.mark.parametrize("flat", [True, False])
def test_tiny_model_loss_and_gradients_match_the_models_own(tiny_model_dir: Path, flat) -> None:
    """The real tiny model (every parameter trained, the head included): the decoder + chunked
    head gives the loss and all gradients of ``model(...).loss``, on flat packs (positions kept,
    shift_labels) and on a plain packed batch (labels shifted here)."""
    from mentor.models.loader import load_model

    model = load_model(tiny_model_dir, dtype="float32", device="cpu", attn_implementation="sdpa")
    model.set_attn_implementation(register_packed_sdpa())
    model.train()  # dropout is 0 in the tiny config: forwards are deterministic
    batch = _batch()
    n_items = int((batch["labels"][:, 1:] != -100).sum())
    inputs = {**(flatten_trained_positions(batch) if flat else batch), "use_cache": False}

    def grads(loss_fn) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    own, g_own = grads(lambda: model(**inputs, num_items_in_batch=n_items).loss)
    chunk = {**inputs, "num_items_in_batch": n_items}
    mine, g_mine = grads(lambda: chunked_lm_loss(model, chunk, chunk=16))
    assert mine == pytest.approx(own, rel=1e-5)
    assert len(g_mine) == len(g_own) == sum(1 for _ in model.parameters())
    for x, y in zip(g_own, g_mine, strict=True):
        assert torch.allclose(x, y, atol=1e-5, rtol=1e-4)


def test_switches_follow_the_device() -> None:
    cfg = Config()
    assert loss_chunk(cfg, "cpu") == 0 and loss_chunk(cfg, "cuda") == 1024
    cfg.training.chunked_loss, cfg.training.loss_chunk_tokens = "on", 256
    assert loss_chunk(cfg, "cpu") == 256
    cfg.training.chunked_loss = "off"
    assert loss_chunk(cfg, "cuda") == 0
    assert optimizer_name(cfg, "cuda") == optimizer_name(cfg, "cpu") == "adamw_torch_fused"
    assert optimizer_name(cfg, "mps") == "adamw_torch"
    cfg.training.optimizer = "adamw_torch"
    assert optimizer_name(cfg, "cuda") == "adamw_torch"


def test_on_and_off_survive_yaml() -> None:
    """``--set training.chunked_loss=on``: YAML reads a bare on as true; the key takes it."""
    from mentor.config import build

    cfg = build({}, ["training.chunked_loss=on", "training.bf16=off"])
    assert (cfg.training.chunked_loss, cfg.training.bf16) == ("on", "off")
