"""The inference surface: REST API (FastAPI app factory) and the model pool behind it.

``serve`` is a leaf: it imports the core (engine, models, store) and never the daemon or the CLI.
FastAPI and uvicorn are imported only by :mod:`mentor.serve.app` and :mod:`mentor.serve.server`, so
the CLI's ``generate``/``chat`` can use :mod:`mentor.serve.models` without loading them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    from mentor.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)
