"""Export a version for use outside mentor (issue 13 item 14).

* **Adapter** (default): the PEFT adapter (``adapter_config.json``, ``adapter_model.safetensors``)
  with the tokenizer and a README naming the base model and the version's metrics; PEFT,
  vLLM (``--enable-lora``) and LLaMA-Factory load it on top of the same base.
* **Merged** (``merged=True``): the base with the adapter merged in (``merge_and_unload``), saved
  as a plain Hugging Face model directory: ``config.json``, ``model*.safetensors``,
  ``generation_config.json``, the tokenizer and its chat template, the README. ``transformers``
  and vLLM load it as any model, and llama.cpp's ``convert_hf_to_gguf.py`` converts it.

The merge runs in float32 and the weights are saved in the base's own dtype (its
``config.json``), so a bf16 base gives a bf16 export of the same size.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.errors import ConfigError, ModelError
from mentor.models.loader import load_model, load_tokenizer
from mentor.models.refs import ModelRef, resolve
from mentor.paths import Workspace, atomic_write_json
from mentor.store import connect
from mentor.store import versions as version_rows

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


@dataclass
class Exported:
    """What :func:`export_version` wrote."""

    version: str
    out: str
    merged: bool
    base: str
    files: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prepare_out(out: Path) -> Path:
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not empty", hint="name a new directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _version_info(ws: Workspace, ref: ModelRef) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics from the versions table, the version's manifest); empty when unknown."""
    metrics: dict[str, Any] = {}
    manifest: dict[str, Any] = {}
    if ref.version is None:
        return metrics, manifest
    if ws.db.is_file():
        conn = connect(ws.db)
        try:
            metrics = dict(version_rows.resolve(conn, ref.version).metrics or {})
        except Exception:  # a version directory the table does not know: no metrics
            metrics = {}
        finally:
            conn.close()
    path = ws.version_dir(ref.version) / "manifest.json"
    if path.is_file():
        manifest = json.loads(path.read_text(encoding="utf-8"))
    return metrics, manifest


def _readme(
    name: str, base: Path, merged: bool, metrics: dict[str, Any], man: dict[str, Any]
) -> str:
    kind = "merged model (base + adapter)" if merged else "LoRA adapter (PEFT)"
    lines = [
        f"# {name}",
        "",
        f"Exported by mentor on {time.strftime('%Y-%m-%d %H:%M:%S')}: {kind}.",
        "",
        f"- base model: `{base}`",
        f"- lineage: {man.get('lineage_id', '-')}, optimizer steps: {man.get('steps', '-')}",
        f"- parent version: {man.get('parent') or '-'}",
    ]
    data = man.get("data") or []
    if data:
        lines.append("- trained on: " + ", ".join(str(d.get("file", d)) for d in data))
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [
            f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in sorted(metrics.items())
        ]
    else:
        lines.append("No evaluation recorded for this version.")
    lines += ["", "## Loading", "", "```python"]
    if merged:
        lines += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            'model = AutoModelForCausalLM.from_pretrained("<this directory>")',
            'tokenizer = AutoTokenizer.from_pretrained("<this directory>")',
        ]
    else:
        lines += [
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM",
            f'base = AutoModelForCausalLM.from_pretrained("{base}")',
            'model = PeftModel.from_pretrained(base, "<this directory>")',
        ]
    return "\n".join([*lines, "```", ""])


def export_version(
    ws: Workspace, cfg: Config, ref: str, out: Path, *, merged: bool = False
) -> Exported:
    """Write version ``ref`` (``vNNN``, ``current``, a version directory) to ``out``."""
    t0 = time.perf_counter()
    model_ref = resolve(ws, cfg, ref, allow_paths=False)
    if model_ref.adapter is None:
        raise ModelError(
            f"{ref}: holds a full model, not an adapter ({model_ref.base})",
            hint="copy that directory as it is: it is already a merged model",
        )
    out = _prepare_out(out)
    metrics, man = _version_info(ws, model_ref)
    tokenizer = load_tokenizer(model_ref.base)
    if merged:
        _write_merged(model_ref, out)
    else:
        for name in ADAPTER_FILES:
            if (model_ref.adapter / name).is_file():
                shutil.copy2(model_ref.adapter / name, out / name)
    tokenizer.save_pretrained(str(out))
    name = model_ref.version or model_ref.name
    (out / "README.md").write_text(
        _readme(name, model_ref.base, merged, metrics, man), encoding="utf-8"
    )
    atomic_write_json(
        out / "mentor_export.json",
        {"version": name, "base": str(model_ref.base), "merged": merged, "metrics": metrics},
    )
    return Exported(
        name,
        str(out),
        merged,
        str(model_ref.base),
        sorted(p.name for p in out.iterdir()),
        metrics,
        round(time.perf_counter() - t0, 2),
    )


def _write_merged(model_ref: ModelRef, out: Path) -> None:
    """Base + adapter merged in float32 on the CPU, saved in the base's dtype as safetensors."""
    import torch

    model = load_model(model_ref.base, adapter=model_ref.adapter, dtype="float32", device="cpu")
    merged = model.merge_and_unload()
    declared = getattr(merged.config, "dtype", None) or getattr(merged.config, "torch_dtype", None)
    if isinstance(declared, str):
        declared = getattr(torch, declared, None)
    if isinstance(declared, torch.dtype) and declared != torch.float32:
        merged = merged.to(declared)
    merged.config.use_cache = True
    merged.save_pretrained(str(out), safe_serialization=True)
    if not (out / "generation_config.json").is_file() and merged.generation_config is not None:
        merged.generation_config.save_pretrained(str(out))
