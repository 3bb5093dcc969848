"""JSONL files the pages poll (``metrics.jsonl``, ``previews.jsonl``), read incrementally."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mentor.monitor import alerts as alerts_mod

#: the most points one chart series is sent (longer series are evenly thinned, last kept)
MAX_POINTS = 2000

_JSONL_CACHE: dict[str, tuple[int, int, list[dict[str, Any]]]] = {}
_CACHE_LOCK = threading.Lock()


def read_jsonl(path: Path, limit: int = 0) -> list[dict[str, Any]]:
    """The records of a JSONL file (the last ``limit`` when given).

    Whole reads are cached per file and extended with only the bytes appended since the last
    call, so polling a long ``metrics.jsonl`` every second stays cheap; a file that shrank or was
    replaced is read again. A torn last line waits for the next call.
    """
    if limit:
        return alerts_mod.tail_jsonl(path, limit)
    key = str(path)
    try:
        st = path.stat()
    except OSError:
        _JSONL_CACHE.pop(key, None)
        return []
    with _CACHE_LOCK:
        ino, offset, recs = _JSONL_CACHE.get(key, (st.st_ino, 0, []))
        if ino != st.st_ino or st.st_size < offset:
            offset, recs = 0, []
        if st.st_size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(st.st_size - offset)
            end = chunk.rfind(b"\n") + 1
            text = chunk[:end].decode("utf-8", errors="replace")
            recs = recs + alerts_mod.parse_records(text.splitlines())
            offset += end
        _JSONL_CACHE[key] = (st.st_ino, offset, recs)
        return list(recs)


def downsample(rows: list[dict[str, Any]], n: int = MAX_POINTS) -> list[dict[str, Any]]:
    """At most ``n`` rows, evenly spaced, the last one kept (a chart needs no more)."""
    if len(rows) <= n:
        return rows
    stride = len(rows) / n
    return [rows[int(i * stride)] for i in range(n - 1)] + [rows[-1]]
