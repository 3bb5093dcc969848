"""Model references: ``base``, ``current``, ``vNNN`` (or a version directory name), or a PATH.

The one place that turns such a name into the directory loaded as the model and the adapter on
top of it; evaluation, the CLI tester and the REST API all resolve through it.
:func:`resolve_model` adds the content hashes evaluations are stored and paired under (a version
and the PATH of the same weights are one model; the untrained baseline is known by its hash).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from mentor.config import Config
from mentor.errors import ConfigError, ModelError, NotFoundError
from mentor.models.loader import check_adapter_dir, check_model_dir, dir_hash, is_adapter_dir
from mentor.paths import Workspace


@dataclass(frozen=True)
class ModelRef:
    name: str  # "base", "current", a version directory name, or a path
    base: Path  # the directory loaded as the model
    adapter: Path | None = None
    version: str | None = None  # the version directory name, for versions


def version_dir(ws: Workspace, name: str) -> Path:
    """``vNNN`` -> ``versions/vNNN_<timestamp>_<description>`` (or ``versions/vNNN``)."""
    root = ws.versions
    exact = root / name
    if exact.is_dir():
        return exact
    matches = sorted(p for p in root.glob(f"{name}_*") if p.is_dir()) if root.is_dir() else []
    if not matches:
        raise NotFoundError(
            f"version {name}: not found in {root}", hint="see `mentor versions list`"
        )
    if len(matches) > 1:
        raise NotFoundError(
            f"version {name}: ambiguous, matches {', '.join(p.name for p in matches)}"
        )
    return matches[0]


def from_version_dir(ws: Workspace, cfg: Config, vdir: Path) -> ModelRef:
    """A version holds ``adapter/`` (on the base its manifest names, else the workspace's base),
    ``model/`` (a consolidated full model), ``state/`` with the model in it (a full fine-tune's
    lineage, as ``current`` holds it), or is itself an adapter directory."""
    adapter, model = vdir / "adapter", vdir / "model"
    if is_adapter_dir(adapter):
        return ModelRef(vdir.name, _manifest_base(ws, cfg, vdir), adapter, vdir.name)
    if (model / "config.json").is_file():
        return ModelRef(vdir.name, model, None, vdir.name)
    if (vdir / "state" / "config.json").is_file():  # a full fine-tune's lineage: the model itself
        return ModelRef(vdir.name, vdir / "state", None, vdir.name)
    if is_adapter_dir(vdir):
        return ModelRef(vdir.name, cfg.model_path(ws.home), vdir, vdir.name)
    raise ModelError(f"{vdir}: version holds neither adapter/ nor model/")


def _manifest_base(ws: Workspace, cfg: Config, vdir: Path) -> Path:
    try:
        manifest = json.loads((vdir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        manifest = {}
    base = manifest.get("base") if isinstance(manifest, dict) else None
    if base:
        p = Path(str(base))
        p = p if p.is_absolute() else ws.home / p
        if (p / "config.json").is_file():
            return p
    return cfg.model_path(ws.home)


def current(ws: Workspace, cfg: Config) -> ModelRef:
    """The live lineage: its adapter on the base, or the model itself after a full fine-tune."""
    for cand in (ws.current, ws.current / "adapter"):
        if is_adapter_dir(cand):
            return ModelRef("current", cfg.model_path(ws.home), cand)
    if (ws.current / "config.json").is_file():
        return ModelRef("current", ws.current)
    raise NotFoundError(
        f"{ws.current}: nothing trained yet", hint="train a file first, or use base"
    )


def resolve(ws: Workspace, cfg: Config, ref: str, *, allow_paths: bool = True) -> ModelRef:
    """``base`` | ``current`` | ``vNNN`` | a version directory name | PATH (when allowed)."""
    base = cfg.model_path(ws.home)
    if ref == "base":
        return ModelRef("base", base)
    if ref == "current":
        return current(ws, cfg)
    looks_like_path = "/" in ref or "\\" in ref or ref.startswith((".", "~"))
    if not looks_like_path and ref.startswith("v"):
        try:
            return from_version_dir(ws, cfg, version_dir(ws, ref))
        except NotFoundError:
            if not allow_paths:
                raise
    if not allow_paths:
        raise ConfigError(
            f"model {ref!r}: a request cannot name a file",
            hint="use base, current, serving or vNNN",
        )
    path = Path(ref).expanduser()
    if not path.exists():
        raise ConfigError(f"--model {ref}: not base, current, vNNN or an existing path")
    path = path.resolve()
    if is_adapter_dir(path):
        check_adapter_dir(path)
        return ModelRef(str(path), base, path)
    if (path / "adapter").is_dir() or (path / "model").is_dir():
        return from_version_dir(ws, cfg, path)
    check_model_dir(path)
    return ModelRef(str(path), path)


@dataclass(frozen=True)
class ModelSpec:
    """A resolved reference with the hashes evaluations are keyed by."""

    ref: str
    base: Path  # the directory loaded as the model
    adapter: Path | None
    version: str | None  # ``vNNN`` (the short name) for versions
    hash: str  # identifies base + adapter
    baseline_hash: str  # hash of the workspace's untrained base model
    is_base: bool  # this *is* the untrained baseline


_HASHES: dict[tuple[str, tuple[tuple[str, int, float], ...]], str] = {}


def model_dir_hash(path: Path) -> str:
    """:func:`~mentor.models.loader.dir_hash`, cached per process while the directory's files
    keep their names, sizes and mtimes (hashing a real model's weights takes seconds)."""
    path = Path(path)
    stats = tuple(
        sorted((f.name, f.stat().st_size, f.stat().st_mtime) for f in path.iterdir() if f.is_file())
    )
    key = (str(path.resolve()), stats)
    if key not in _HASHES:
        _HASHES[key] = dir_hash(path)
    return _HASHES[key]


def resolve_model(ws: Workspace, cfg: Config, ref: str) -> ModelSpec:
    """:func:`resolve` plus the hashes: of this model (base + adapter) and of the workspace's
    untrained base, so a model that *is* the base is recognised whatever it was called."""
    base = cfg.model_path(ws.home)
    check_model_dir(base)
    base_hash = model_dir_hash(base)
    r = resolve(ws, cfg, ref)
    if r.adapter is not None:
        pair = f"{model_dir_hash(r.base)}+{model_dir_hash(r.adapter)}"
        h = hashlib.sha256(pair.encode()).hexdigest()
    else:
        h = model_dir_hash(r.base)
    version = r.version.split("_", 1)[0] if r.version else None
    is_base = r.adapter is None and h == base_hash
    return ModelSpec(ref, r.base, r.adapter, version, h, base_hash, is_base)
