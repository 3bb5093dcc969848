"""LoRA dropout shared per input: same rate, one draw for the adapters that read the same tensor."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mentor.train.dropout import SharedInputDropout, cpu_dropout, share_lora_dropout


def test_cpu_dropout_rate_scale_and_gradient() -> None:
    torch.manual_seed(0)
    x = torch.ones(400, 500, requires_grad=True)
    y = cpu_dropout(x, 0.1)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(0.1, abs=0.005)
    assert torch.unique(y).tolist() == [0.0, pytest.approx(1 / 0.9)]
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # the gradient passes where the input was kept
    torch.manual_seed(0)
    assert torch.equal(cpu_dropout(x, 0.1), y)  # seeded by torch.manual_seed


def test_same_tensor_same_mask_new_tensor_new_mask() -> None:
    drop = SharedInputDropout(0.5).train()
    x = torch.randn(64, 32)
    first = drop(x)
    assert drop(x) is first
    assert not torch.equal(drop(x.clone()), first)
    x.add_(1.0)  # changed in place: a new draw
    assert not torch.equal((drop(x) == 0), (first == 0))
    drop.eval()
    assert drop(x) is x


def test_share_lora_dropout_on_a_peft_model(tiny_model_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from mentor.models.loader import load_model

    model = load_model(tiny_model_dir, dtype="float32", device="cpu", trainable=True)
    model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=4, lora_dropout=0.2, target_modules="all-linear")
    )
    layers = model.config.num_hidden_layers
    assert share_lora_dropout(model) == 7 * layers  # q k v o gate up down
    shared = {id(m) for m in model.modules() if isinstance(m, SharedInputDropout)}
    assert len(shared) == 1
    attn = model.base_model.model.model.layers[0].self_attn
    model.train()
    x = torch.randn(1, 5, model.config.hidden_size)
    dq = attn.q_proj.lora_dropout["default"](x)
    dk = attn.k_proj.lora_dropout["default"](x)
    assert dq is dk  # q and k read the same hidden states: one mask
