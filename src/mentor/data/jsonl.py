"""Read a JSONL file of objects strictly: the first bad line is an error naming ``file:line``.

Training files go through ``data.tokenize.read_jsonl``, which collects every bad line instead;
this is for the tools that need the objects themselves (evaluation data, ``mentor syllo``,
``mentor augment``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mentor.errors import DataError


def read_objects(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file", hint="check the path")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{path}:{n}: not valid JSON ({err.msg}, column {err.colno})",
                    hint="one JSON object per line",
                ) from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{n}: not a JSON object", hint="one JSON object per line")
            rows.append((n, obj))
    return rows
