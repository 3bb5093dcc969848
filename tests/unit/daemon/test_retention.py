"""Retention (daemon/retention.py): the policy keeps last, best, daily, serving and base
versions and deletes others only over the disk budget; the daemon applies it when idle, once
per new version."""

from __future__ import annotations

from mentor.paths import Workspace
from mentor.store import versions as version_rows


def test_retention_keeps_policy_under_budget(workspace: Workspace) -> None:
    from mentor import config as config_mod
    from mentor.daemon import retention, versions
    from mentor.store import connect

    conn = connect(workspace.db)
    workspace.current.mkdir(parents=True, exist_ok=True)
    (workspace.current / "adapter_config.json").write_text("{}")
    for i in range(6):
        (workspace.current / "adapter_model.safetensors").write_bytes(b"x" * 1000)
        versions.create(
            workspace,
            conn,
            description=f"n{i}",
            lineage_dir=workspace.current,
            metrics={"heldout_solved": [0.1, 0.9, 0.2, 0.3, 0.4, 0.5][i]},
            now=1e9 + i,
        )
    cfg = config_mod.load(
        workspace.config_file,
        [
            "daemon.keep_last=2",
            "daemon.keep_best=1",
            "daemon.keep_daily_days=0",
            "daemon.disk_budget_gib=1",
        ],
    )
    assert retention.plan(workspace, conn, cfg).delete == []  # under budget: nothing deleted
    cfg = config_mod.load(
        workspace.config_file,
        [
            "daemon.keep_last=2",
            "daemon.keep_best=1",
            "daemon.keep_daily_days=0",
            "daemon.disk_budget_gib=0.0000001",
        ],
    )
    p = retention.plan(workspace, conn, cfg)
    names = {v.short: v.name for v in version_rows.listing(conn)}
    assert p.keep[names["v002"]] == "best" and {names["v005"], names["v006"]} <= set(p.keep)
    assert set(p.delete) == {names["v001"], names["v003"], names["v004"]}
    conn.close()


def test_idle_applies_retention_once_per_new_version(workspace: Workspace) -> None:
    from mentor import config as config_mod
    from mentor.daemon import versions
    from mentor.daemon.idle import IdleWork
    from mentor.daemon.status import Board
    from mentor.store import connect, events

    conn = connect(workspace.db)
    workspace.current.mkdir(parents=True, exist_ok=True)
    (workspace.current / "adapter_config.json").write_text("{}")
    cfg = config_mod.load(
        workspace.config_file,
        [
            "daemon.keep_last=1",
            "daemon.keep_best=0",
            "daemon.keep_daily_days=0",
            "daemon.disk_budget_gib=0.0000001",
            "daemon.snapshot_at=null",
            "eval.full_when_idle=false",
        ],
    )
    idle = IdleWork(workspace, conn, Board(workspace, conn), cfg)

    def new_version(i: int) -> str:
        (workspace.current / "adapter_model.safetensors").write_bytes(b"x" * 1000)
        return versions.create(
            workspace, conn, description=f"n{i}", lineage_dir=workspace.current, now=1e9 + i
        ).name

    first = new_version(0)
    assert idle.next(2e9, lambda: True) is None
    assert len(events.recent(conn, kinds=["alert.disk_budget"])) == 1  # v001 kept (last)
    idle.next(2e9, lambda: True)
    assert len(events.recent(conn, kinds=["alert.disk_budget"])) == 1  # nothing new: not again
    new_version(1)
    idle.next(2e9, lambda: True)
    deleted = [e.version for e in events.recent(conn, kinds=["retention.deleted"])]
    assert deleted == [first]
    conn.close()
