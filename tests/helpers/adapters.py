"""A LoRA adapter with random, non-zero B weights for the tiny model (so it changes outputs)."""

from __future__ import annotations

from pathlib import Path


def make_adapter(model_dir: Path, out: Path, seed: int, r: int = 8) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    lora = LoraConfig(r=r, lora_alpha=4 * r, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(str(out))
    return out
