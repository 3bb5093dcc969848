"""Versions (daemon/versions.py) and backups (daemon/backups.py): create, diff, restore and
delete with verified backups; a deleted version's sole backup is never pruned; tampering is
caught."""

from __future__ import annotations

import pytest

from mentor.paths import Workspace


def test_versions_restore_delete_keep_backups(workspace: Workspace) -> None:
    from mentor.daemon import backups, versions
    from mentor.store import connect

    conn = connect(workspace.db)
    workspace.current.mkdir(parents=True, exist_ok=True)
    (workspace.current / "adapter_config.json").write_text("{}")
    (workspace.current / "adapter_model.safetensors").write_bytes(b"one")
    v1 = versions.create(
        workspace, conn, description="first", lineage_dir=workspace.current, steps=1
    )
    (workspace.current / "adapter_model.safetensors").write_bytes(b"two")
    v2 = versions.create(
        workspace, conn, description="second", lineage_dir=workspace.current, steps=2
    )
    assert v1.name.startswith("v001_") and v1.name.endswith("_first")
    d = versions.diff(workspace, conn, "v1", "v002")
    assert d["files_changed"] == ["adapter/adapter_model.safetensors"] and d["a_is_ancestor"]
    r = versions.restore(workspace, conn, "v001")
    assert (workspace.current / "adapter_model.safetensors").read_bytes() == b"one"
    b = backups.get(workspace, conn, r["backup"])
    assert (b.path / "files" / "current" / "adapter_model.safetensors").read_bytes() == b"two"
    with pytest.raises(Exception, match="serving"):
        versions.delete(workspace, conn, "v1")
    rd = versions.delete(workspace, conn, v2.short)
    assert (
        not workspace.version_dir(v2.name).exists() and not (workspace.versions / "v002").exists()
    )
    kept = backups.verify(workspace, conn, rd["backup"])
    assert (
        kept.path / "files" / v2.name / "adapter" / "adapter_model.safetensors"
    ).read_bytes() == b"two"
    # the sole copy of a deleted version is never pruned
    _, delete = backups.prune_plan(workspace, conn, keep_last=0, keep_daily_days=0)
    assert rd["backup"] not in {x.id for x in delete}
    # tampering is caught
    f = kept.path / "files" / v2.name / "manifest.json"
    f.chmod(0o644)
    f.write_text("{}")
    from mentor.errors import IntegrityError

    with pytest.raises(IntegrityError):
        backups.verify(workspace, conn, rd["backup"])
    conn.close()
