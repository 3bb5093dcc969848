"""One loader for a local Hugging Face model directory plus an optional PEFT adapter.

Always ``local_files_only``: nothing reaches a model hub. A missing or broken directory is a
:class:`ModelError` that names the path and what is missing.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from mentor.errors import ModelError

log = logging.getLogger(__name__)

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def check_model_dir(path: Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise ModelError(
            f"{path}: model directory not found", hint="give a local Hugging Face model directory"
        )
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(any(path.glob(p)) for p in WEIGHT_PATTERNS):
        missing.append("weights (*.safetensors)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append("tokenizer (tokenizer.json)")
    if missing:
        raise ModelError(
            f"{path}: not a complete model directory, missing {', '.join(missing)}",
            hint="point model.path at a directory saved with save_pretrained",
        )
    return path


def check_adapter_dir(path: Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: adapter directory not found")
    missing = []
    if not (path / "adapter_config.json").is_file():
        missing.append("adapter_config.json")
    if not any((path / f).is_file() for f in ADAPTER_WEIGHTS):
        missing.append("adapter_model.safetensors")
    if missing:
        raise ModelError(f"{path}: not a PEFT adapter, missing {', '.join(missing)}")
    return path


def is_adapter_dir(path: Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def resolve_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    check_model_dir(path) if not is_adapter_dir(path) else None
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: tokenizer does not load ({err})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        raise ModelError(
            f"{path}: tokenizer has no chat template", hint="set chat.template to a Jinja file"
        )
    return tok


def load_model(
    path: Path,
    *,
    adapter: Path | None = None,
    dtype: str = "auto",
    device: str | None = None,
    attn_implementation: str = "sdpa",
    trainable: bool = False,
) -> Any:
    """Load the base model from ``path`` and, if given, a PEFT adapter on top of it."""
    from transformers import AutoModelForCausalLM

    check_model_dir(path)
    device = device or default_device()
    model: Any
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path),
            local_files_only=True,
            dtype=resolve_dtype(dtype, device),
            attn_implementation=attn_implementation,
        )
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: model does not load ({err})") from None
    model.to(device)
    if adapter is not None:
        from peft import PeftModel

        check_adapter_dir(adapter)
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)
    if not trainable:
        model.eval()
    return model


def dir_hash(path: Path, patterns: tuple[str, ...] = ("*.json", "*.safetensors", "*.bin")) -> str:
    """sha256 over the names and bytes of a model or adapter directory's files (sorted)."""
    h = hashlib.sha256()
    path = Path(path)
    files = sorted({f for p in patterns for f in path.glob(p) if f.is_file()})
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
