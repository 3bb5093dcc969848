"""The trainable model: the configured LoRA dropout acts in train mode (lessons item 4)."""

from __future__ import annotations

import pytest
import torch

from mentor import config as config_mod
from mentor.train.model import build_model


@pytest.mark.parametrize("shared", [True, False])
def test_configured_dropout_changes_outputs_in_train_mode_only(workspace, shared: bool) -> None:
    """Not just recorded in adapter_config.json: with lora_dropout > 0 two forwards of the same
    input differ in train mode (and agree in eval mode); with 0 they agree in train mode too."""
    ids = torch.randint(10, 500, (2, 24), generator=torch.Generator().manual_seed(0))

    def outputs(p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = config_mod.load(workspace.config_file)
        cfg.training.lora_r, cfg.training.lora_alpha = 4, 4
        cfg.training.lora_dropout, cfg.training.lora_dropout_shared = p, shared
        model = build_model(workspace, cfg, resume=False, device="cpu")
        with torch.no_grad():
            for name, w in model.named_parameters():
                if "lora_B" in name:  # B starts at 0: give the adapters a say
                    w.normal_(0.0, 0.5)
            model.train()
            a, b = (model(input_ids=ids).logits for _ in range(2))
            model.eval()
            return a, b, model(input_ids=ids).logits - model(input_ids=ids).logits

    a, b, still = outputs(0.3)
    assert (a - b).abs().max() > 1e-3 and still.abs().max() == 0
    a, b, _ = outputs(0.0)
    assert torch.equal(a, b)
