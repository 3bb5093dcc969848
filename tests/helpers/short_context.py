"""The tiny model with a short context (``max_position_embeddings``), for context-length tests:
the same weights and tokenizer (symlinked), only ``config.json`` changed."""

from __future__ import annotations

import json
from pathlib import Path


def short_context_model(tiny_model_dir: Path, out: Path, context: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for f in tiny_model_dir.iterdir():
        if f.name != "config.json":
            (out / f.name).symlink_to(f.resolve())
    conf = json.loads((tiny_model_dir / "config.json").read_text())
    conf["max_position_embeddings"] = context
    (out / "config.json").write_text(json.dumps(conf))
    return out
