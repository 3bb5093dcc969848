"""The size of a reliability run: ``MENTOR_RELIABILITY=full`` (``make reliability``) or the
subset the default suite runs."""

from __future__ import annotations

import os

FULL = os.environ.get("MENTOR_RELIABILITY", "").lower() == "full"


def size(subset: int, full: int) -> int:
    """``full`` under ``MENTOR_RELIABILITY=full``, else ``subset``."""
    return full if FULL else subset
