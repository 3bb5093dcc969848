"""Which weights a model name means, and the pool that keeps them loaded.

Used by everything that serves a model by name: the REST API (its batch worker) and the CLI's
``generate``/``chat``. It lives beside the engine, not in ``serve``, so the CLI needs neither
FastAPI nor the server to ask a model, and ``serve`` stays a leaf.

Names a client may use: ``base``, ``current`` (the live lineage's adapter), ``serving`` (the
version the daemon promoted, kv ``serving_version`` in state.db; the base until one is) and
``vNNN`` or a full version directory name. Nothing a client sends names a file: a name that looks
like a path is refused, and a version name only ever resolves to a directory inside
``versions/``; a refusal never echoes a server path. The CLI (a local user) may also pass a
directory path (``allow_paths=True``) and sees the full error.

A version has one canonical id, ``vNNN`` (what responses, ``/v1/models`` and :meth:`ModelPool.
loaded` report); its directory name ``vNNN_<stamp>_<desc>`` is an alias that resolves to the same
:class:`Resolved` and so to the same pool entry.

:func:`fit_context` is the context-length rule of every caller (API and CLI): a prompt that
leaves no room in the model's context (``max_position_embeddings``) is refused, and the new-token
limit is clipped to what is left, so generation stops there with ``finish_reason: length``.

The :class:`ModelPool` holds one base model in memory with an LRU of PEFT adapters on top of it,
each loaded under its own immutable name (the version directory name, or ``current@<stamp>``), so
a promoted version never overwrites the adapter a request in flight is using. An adapter is only
evicted when no request holds it. It is not thread-safe: in the server only the batch worker
thread touches it (``prepare``/``generate``); reference counts (``acquire``/``release``) are.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mentor.config import Config
from mentor.engine import build_engine
from mentor.engine.base import BASE_ADAPTER, Engine, GenRequest, GenResult
from mentor.errors import ConfigError, DataError, MentorError, ModelError, NotFoundError
from mentor.models import refs
from mentor.paths import Workspace
from mentor.store import connect_readonly, kv
from mentor.store.kv import Key

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION = re.compile(r"^(v\d+)(?:_|$)")


def canonical(name: str) -> str:
    """The canonical id of a version directory name (``v001_<stamp>_<desc>`` -> ``v001``);
    any other name as is."""
    m = _VERSION.match(name)
    return m.group(1) if m else name


class PromptTooLong(DataError):
    """The prompt alone fills the model's context: nothing can be generated."""


def context_length(model_dir: Path) -> int | None:
    """``max_position_embeddings`` of the model in ``model_dir`` (its ``config.json``)."""
    return _context_length(str(model_dir))


@functools.lru_cache(maxsize=32)
def _context_length(model_dir: str) -> int | None:
    try:
        conf = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        v = conf.get(key) if isinstance(conf, dict) else None
        if isinstance(v, int) and v > 0:
            return v
    text = conf.get("text_config") if isinstance(conf, dict) else None
    if isinstance(text, dict) and isinstance(text.get("max_position_embeddings"), int):
        return int(text["max_position_embeddings"])
    return None


def fit_context(prompt_tokens: int, max_new: int, context: int | None) -> int:
    """``max_new`` clipped so that prompt + new tokens fit in ``context``; raises
    :class:`PromptTooLong` when the prompt leaves no room (no context known: as asked)."""
    if context is None:
        return max_new
    if prompt_tokens >= context:
        raise PromptTooLong(
            f"the prompt is {prompt_tokens} tokens; the model's context is {context} tokens "
            "(max_position_embeddings), leaving no room to generate",
            hint="shorten the prompt",
        )
    return min(max_new, context - prompt_tokens)


@dataclass(frozen=True)
class Resolved:
    """A model name made concrete: which base directory and which adapter on it."""

    name: str  # what a response reports: base, vNNN_..., current@stamp, or a path
    base: Path
    adapter: Path | None = None
    key: str = BASE_ADAPTER  # the adapter's name inside the engine (immutable per weights)


def _files_stamp(path: Path) -> str:
    """A cheap identity of a mutable adapter directory: names, sizes and mtimes of its files."""
    parts = []
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


class ServingVersion:
    """kv ``serving_version`` of state.db, read at most once per ``ttl`` seconds (thread-safe)."""

    def __init__(self, db: Path, ttl: float = 0.5) -> None:
        self.db = db
        self.ttl = ttl
        self._value: str | None = None
        self._at = -1e18
        self._lock = threading.Lock()

    def read(self) -> str | None:
        try:
            conn = connect_readonly(self.db)
            if conn is None:
                return None
            try:
                return kv.get(conn, Key.SERVING_VERSION)
            finally:
                conn.close()
        except sqlite3.Error as err:  # a locked or half-migrated db: keep the last value
            log.warning("state.db: cannot read %s (%s)", Key.SERVING_VERSION, err)
            return self._value

    def get(self, *, fresh: bool = False) -> str | None:
        with self._lock:
            now = time.monotonic()
            if fresh or now - self._at >= self.ttl:
                self._value = self.read()
                self._at = now
            return self._value


class Resolver:
    """Model names -> :class:`Resolved`. Cheap enough to run on every request."""

    def __init__(self, ws: Workspace, cfg: Config, serving: ServingVersion | None = None) -> None:
        self.ws = ws
        self.cfg = cfg
        self.base = cfg.model_path(ws.home)
        self.serving = serving or ServingVersion(ws.db, ttl=cfg.serve.reload_seconds / 2)

    def version_dir(self, name: str) -> Path:
        """``vNNN`` -> ``versions/vNNN_*`` (or ``versions/vNNN``); a full directory name as is."""
        if not _NAME.match(name) or ".." in name:
            raise ConfigError(
                f"model {name!r}: not a model name", hint="use base, current, serving or vNNN"
            )
        return refs.version_dir(self.ws, name)

    def _resolved(self, r: refs.ModelRef, key: str | None = None) -> Resolved:
        name = canonical(r.version) if r.version else r.name
        if r.adapter is None:
            return Resolved(name, r.base)
        return Resolved(name, r.base, r.adapter, key=key or r.version or r.name)

    def from_version_dir(self, vdir: Path) -> Resolved:
        return self._resolved(refs.from_version_dir(self.ws, self.cfg, vdir))

    def current(self) -> Resolved:
        r = refs.current(self.ws, self.cfg)
        if r.adapter is None:  # a full fine-tune: the model itself, named by its files
            return Resolved(f"current@{_files_stamp(r.base)}", r.base)
        key = f"current@{_files_stamp(r.adapter)}"  # mutable: a new name whenever it changes
        return Resolved(key, r.base, r.adapter, key=key)

    def serving_name(self) -> str | None:
        return self.serving.get()

    def resolve(self, name: str | None, *, allow_paths: bool = False) -> Resolved:
        """The weights ``name`` means. For a request (``allow_paths=False``) a refusal names the
        model, never a directory of the server (the full error goes to the log)."""
        name = (name or "serving").strip()
        if allow_paths:
            return self._resolve(name, allow_paths=True)
        try:
            return self._resolve(name, allow_paths=False)
        except ConfigError:
            raise  # says only what the client sent
        except NotFoundError as err:
            if "/" not in str(err) and "\\" not in str(err):
                raise  # names no directory (an ambiguous vNNN lists folder names only)
            log.info("model %r: %s", name, err)
            what = "nothing trained yet" if name == "current" else "no such model or version"
            raise NotFoundError(
                f"model {name!r}: {what}", hint="GET /v1/models lists them"
            ) from None
        except MentorError as err:
            log.warning("model %r does not load: %s", name, err)
            raise ModelError(
                f"model {name!r}: its files do not load (see the server log)"
            ) from None

    def _resolve(self, name: str, *, allow_paths: bool) -> Resolved:
        if name == "base":
            return Resolved("base", self.base)
        if name == "current":
            return self.current()
        if name == "serving":
            version = self.serving.get()
            if not version:
                return Resolved("base", self.base)
            return self.from_version_dir(self.version_dir(version))
        if allow_paths and ("/" in name or name.startswith((".", "~"))):
            return self.path(Path(name).expanduser())
        if "/" in name or "\\" in name or name.startswith((".", "~")):
            raise ConfigError(
                f"model {name!r}: a request cannot name a file",
                hint="use base, current, serving or vNNN",
            )
        return self.from_version_dir(self.version_dir(name))

    def path(self, path: Path) -> Resolved:
        r = refs.resolve(self.ws, self.cfg, str(path))
        key = (
            f"path@{_files_stamp(r.adapter)}"
            if r.adapter is not None and r.version is None
            else None
        )
        return self._resolved(r, key)

    def versions(self) -> list[str]:
        """Version directory names (``vNNN_<stamp>_<desc>``), oldest first."""
        root = self.ws.versions
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name))


class ModelPool:
    """One base model (plus, rarely, a consolidated full-model version) and an LRU of adapters."""

    def __init__(self, cfg: Config, base: Path) -> None:
        self.cfg = cfg
        self.base = base
        self.engines: OrderedDict[Path, Engine] = OrderedDict()
        self.adapters: OrderedDict[tuple[Path, str], Resolved] = OrderedDict()
        self.capacity = cfg.serve.adapter_pool
        self._held: Counter[tuple[Path, str]] = Counter()
        self._lock = threading.Lock()

    # -- reference counts (any thread) ------------------------------------------------------
    def acquire(self, r: Resolved) -> None:
        with self._lock:
            self._held[(r.base, r.key)] += 1

    def release(self, r: Resolved) -> None:
        with self._lock:
            k = (r.base, r.key)
            self._held[k] -= 1
            if self._held[k] <= 0:
                del self._held[k]

    def loaded(self) -> list[str]:
        """Canonical ids (``vNNN``, ``current@<stamp>``) of the adapters in memory, LRU first."""
        with self._lock:
            return [r.name for r in self.adapters.values()]

    def context_length(self, r: Resolved) -> int | None:
        """The context of the model ``r`` runs on (its base's ``max_position_embeddings``)."""
        return context_length(r.base)

    # -- loading (one thread) ---------------------------------------------------------------
    def engine(self, base: Path) -> Engine:
        if base not in self.engines:
            log.info("loading model %s", base)
            self.engines[base] = build_engine(base, cfg=self.cfg)
            # besides the configured base, keep at most one full-model version loaded
            extra = [p for p in self.engines if p != self.base and p != base]
            for p in extra:
                if not any(b == p for b, _ in self._held):
                    del self.engines[p]
                    for k in [k for k in self.adapters if k[0] == p]:
                        del self.adapters[k]
        self.engines.move_to_end(base)
        return self.engines[base]

    def prepare(self, r: Resolved) -> Engine:
        """The engine that serves ``r``, with its adapter loaded; returns the engine."""
        engine = self.engine(r.base)
        if r.adapter is None:
            return engine
        k = (r.base, r.key)
        if k in self.adapters:
            with self._lock:
                self.adapters.move_to_end(k)
            self._evict(keep=k, limit=self.capacity)  # shrink back after an overflow
            return engine
        self._evict(keep=k, limit=self.capacity - 1)
        log.info("loading adapter %s from %s", r.key, r.adapter)
        engine.load_adapter(r.key, r.adapter)
        with self._lock:
            self.adapters[k] = r
        return engine

    def _evict(self, *, keep: tuple[Path, str], limit: int) -> None:
        """Evict least recently used adapters without requests in flight down to ``limit``."""
        with self._lock:
            while len(self.adapters) > max(limit, 0):
                idle = [k for k in self.adapters if k != keep and self._held.get(k, 0) <= 0]
                if not idle:
                    log.warning(
                        "adapter pool over capacity: the loaded adapters have requests in flight"
                    )
                    return
                k = idle[0]  # least recently used
                del self.adapters[k]
                engine = self.engines.get(k[0])
                if engine is not None:
                    engine.unload_adapter(k[1])
                log.info("evicted adapter %s", k[1])

    def generate(
        self, batch: list[tuple[Resolved, GenRequest]], seeds: list[int | None] | None = None
    ) -> list[GenResult]:
        """One engine call for a batch on one base model, each request on its own adapter.

        Every adapter the batch names is loaded first and held until the call returns, so
        loading a later one never evicts an earlier one (the pool goes over capacity instead);
        results come back in request order. A sampled request with its own seed runs alone,
        seeded: its text then depends on the seed and the request only, never on what else
        was batched with it.
        """
        bases = {r.base for r, _ in batch}
        if len(bases) != 1:
            raise ValueError(f"a batch runs on one base model, not {len(bases)}")
        seeds = seeds or [None] * len(batch)
        for r, _ in batch:
            self.acquire(r)
        try:
            for r, request in batch:
                self.prepare(r)
                request.adapter = r.key
            engine = self.engine(bases.pop())
            results: list[GenResult | None] = [None] * len(batch)
            shared = [i for i, (_, q) in enumerate(batch) if seeds[i] is None or q.temperature <= 0]
            if shared:
                out = engine.generate(
                    [batch[i][1] for i in shared], batch_size=self.cfg.serve.max_batch
                )
                for i, res in zip(shared, out, strict=True):
                    results[i] = res
            for i, seed in enumerate(seeds):
                if results[i] is None:
                    assert seed is not None
                    with seeded(engine, seed):
                        results[i] = engine.generate([batch[i][1]], batch_size=1)[0]
            return [r for r in results if r is not None]
        finally:
            for r, _ in batch:
                self.release(r)

    def start(self) -> Engine:
        """Load the base model now; returns its engine (its renderer templates every prompt)."""
        return self.engine(self.base)


@contextlib.contextmanager
def seeded(engine: Engine, seed: int | None) -> Iterator[None]:
    """The engine's sampling seed set to ``seed`` for the calls inside (the batch worker is the
    only thread that generates, so nothing else sees it); as it was when ``seed`` is None."""
    if seed is None or not hasattr(engine, "seed"):
        yield
        return
    before = getattr(engine, "seed")  # noqa: B009 (not in the Engine protocol)
    setattr(engine, "seed", seed)  # noqa: B010
    try:
        yield
    finally:
        setattr(engine, "seed", before)  # noqa: B010
