"""One resolver for model names: base, current (adapter or full fine-tune), vNNN, PATH."""

import json
import shutil
from pathlib import Path

import pytest

from mentor import config as config_mod
from mentor.errors import ConfigError, NotFoundError
from mentor.models import refs


def _adapter(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text("{}")
    (d / "adapter_model.safetensors").write_bytes(b"x")
    return d


def test_every_kind_of_reference(workspace, tiny_model_dir: Path, tmp_path: Path) -> None:
    cfg = config_mod.load(workspace.config_file)
    assert refs.resolve(workspace, cfg, "base") == refs.ModelRef("base", tiny_model_dir)
    with pytest.raises(NotFoundError, match="nothing trained yet"):
        refs.resolve(workspace, cfg, "current")
    # a full fine-tune leaves a whole model in current/: it is the model
    for f in tiny_model_dir.iterdir():
        shutil.copy(f, workspace.current / f.name)
    assert refs.resolve(workspace, cfg, "current") == refs.ModelRef("current", workspace.current)
    # a version by its short name; its adapter goes on the base its manifest names
    vdir = workspace.versions / "v001_20261128-120000_first"
    _adapter(vdir / "adapter")
    (vdir / "manifest.json").write_text(json.dumps({"base": str(tiny_model_dir)}))
    r = refs.resolve(workspace, cfg, "v001")
    assert (r.base, r.adapter, r.version) == (tiny_model_dir, vdir / "adapter", vdir.name)
    with pytest.raises(NotFoundError):
        refs.resolve(workspace, cfg, "v002", allow_paths=False)
    # a path is an adapter, a version-like folder or a model; never when paths are not allowed
    loose = _adapter(tmp_path / "loose")
    assert refs.resolve(workspace, cfg, str(loose)).adapter == loose
    with pytest.raises(ConfigError, match="cannot name a file"):
        refs.resolve(workspace, cfg, str(loose), allow_paths=False)


def test_resolve_model_hashes_weights_not_names(workspace, tiny_model_dir: Path, tmp_path: Path):
    """Evaluations are keyed by content: the base under any name is the untrained baseline; an
    adapter version is not, and its hash changes when its weights do."""
    cfg = config_mod.load(workspace.config_file)
    base = refs.resolve_model(workspace, cfg, "base")
    assert base.is_base and base.hash == base.baseline_hash and base.version is None
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert refs.resolve_model(workspace, cfg, str(copy)).is_base  # same bytes, other path
    vdir = workspace.versions / "v004_20261128-120000_x"
    _adapter(vdir / "adapter")
    v = refs.resolve_model(workspace, cfg, "v004")
    assert not v.is_base and v.version == "v004" and v.adapter == vdir / "adapter"
    assert v.hash != v.baseline_hash and v.baseline_hash == base.hash
    (vdir / "adapter" / "adapter_model.safetensors").write_bytes(b"other weights")
    assert refs.resolve_model(workspace, cfg, "v004").hash != v.hash  # the cache sees the change
