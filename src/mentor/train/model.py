"""The model training updates: the base (+ the lineage's adapter, or a new LoRA adapter), LoRA
or QLoRA or a full fine-tune, and whether it trains in bf16 on this device."""

from __future__ import annotations

from typing import Any

from mentor.config import Config
from mentor.errors import ConfigError
from mentor.paths import Workspace
from mentor.train.dropout import share_lora_dropout


def resolve_bf16(cfg: Config, device: str) -> bool:
    """``training.bf16``: on, off, or auto: a CUDA device that supports it. Never by constant on
    a CPU, where bf16 doubles or halves throughput depending on the chip (DESIGN pitfalls): a
    single-process CPU run with auto decides by measurement (``trainer.cpu_bf16``)."""
    import torch

    if cfg.training.bf16 == "on":
        return True
    if cfg.training.bf16 == "off":
        return False
    return device.startswith("cuda") and torch.cuda.is_bf16_supported()


def _load_4bit(cfg: Config, base: Any, device: str) -> Any:
    import torch

    if not device.startswith("cuda"):
        raise ConfigError(
            "training.method=qlora needs a CUDA GPU (bitsandbytes 4-bit)",
            hint="use training.method=lora on the CPU",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            "training.method=qlora needs bitsandbytes", hint="pip install 'mentor[qlora]'"
        ) from None
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from mentor.models.loader import check_model_dir

    check_model_dir(base)
    model = AutoModelForCausalLM.from_pretrained(
        str(base),
        local_files_only=True,
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        ),
        attn_implementation=cfg.model.attn_implementation,
        device_map={"": 0},
    )
    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=cfg.training.gradient_checkpointing
    )


def build_model(ws: Workspace, cfg: Config, resume: bool, device: str) -> Any:
    """The trainable model. A resumed LoRA lineage loads its adapter from ``ws.current``; a full
    fine-tune's weights are loaded there by the Trainer on resume."""
    from transformers import set_seed

    from mentor.models.loader import load_model

    t = cfg.training
    base = cfg.model_path(ws.home)
    set_seed(t.seed)
    if t.method == "qlora":
        model = _load_4bit(cfg, base, device)
    else:
        dtype = cfg.model.dtype
        if t.method == "full" and dtype == "auto":
            dtype = "float32"  # master weights in fp32; bf16 comes from autocast
        model = load_model(
            base,
            dtype=dtype,
            device=device,
            attn_implementation=cfg.model.attn_implementation,
            trainable=True,
        )
    model.config.use_cache = False
    if t.method == "full":
        return model
    from peft import LoraConfig, PeftModel, get_peft_model

    peft: Any
    if resume and (ws.current / "adapter_config.json").is_file():
        peft = PeftModel.from_pretrained(model, str(ws.current), is_trainable=True)
    else:
        lora = LoraConfig(
            r=t.lora_r,
            lora_alpha=t.lora_alpha,
            lora_dropout=t.lora_dropout,
            target_modules=t.lora_targets,
            task_type="CAUSAL_LM",
        )
        peft = get_peft_model(model, lora)
    if t.lora_dropout_shared:
        share_lora_dropout(peft)
    return peft
