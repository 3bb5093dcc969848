"""Seed a workspace by hand: run folders, ``runs`` rows, versions, evaluations."""

from __future__ import annotations

import json
from typing import Any

from mentor.daemon import versions as versions_mod
from mentor.paths import Workspace, atomic_write_json
from mentor.store import connect
from mentor.store import evals as store_evals
from mentor.store import runs as store_runs
from mentor.store import versions as store_versions


def add_run(
    ws: Workspace,
    run_id: str,
    *,
    file: str,
    started: float,
    seconds: float,
    step_start: int,
    step_end: int,
    device: str = "cuda",
    rows: int = 100,
    loss: float = 1.0,
    records: list[dict[str, Any]] | None = None,
    lineage_id: int = 1,
) -> None:
    d = ws.run_dir(run_id)
    d.mkdir(parents=True)
    file_hash = f"hash-{file}"
    atomic_write_json(
        d / "meta.json",
        {
            "run_id": run_id,
            "kind": "train",
            "file": f"/inbox/{file}",
            "file_hash": file_hash,
            "lineage_id": lineage_id,
            "global_step_start": step_start,
            "device": device,
            "started_at": started,
        },
    )
    summary = {
        "status": "completed",
        "file_hash": file_hash,
        "rows_trained": rows,
        "global_step": step_end,
        "metrics": {"loss": loss, "seconds": seconds, "tokens_per_s": 1000.0},
    }
    atomic_write_json(d / "summary.json", summary)
    recs = records or []
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    conn = connect(ws.db)
    store_runs.start(conn, run_id, job_id=None, dir=str(d), started_at=started)
    store_runs.finish(conn, run_id, "completed", summary, at=started + seconds)
    conn.close()


def add_version(
    ws: Workspace,
    *,
    file: str,
    rows: int,
    run_id: str,
    steps: int,
    now: float,
    metrics: dict[str, float],
    status: str = "serving",
) -> str:
    conn = connect(ws.db)
    try:
        v = versions_mod.create(
            ws,
            conn,
            description=file.removesuffix(".jsonl"),
            data=[{"file": file, "hash": f"hash-{file}", "rows": rows, "run_id": run_id}],
            steps=steps,
            lineage_id=1,
            now=now,
        )
        store_versions.set_metrics(conn, v.name, metrics, status=status)
    finally:
        conn.close()
    return v.short


def add_eval(
    ws: Workspace,
    *,
    version: str | None,
    benchmark: str,
    tier: str,
    solved: list[float],
    created_at: float,
    baseline: bool = False,
    seconds: float = 0.0,
) -> int:
    conn = connect(ws.db)
    try:
        items = [
            store_evals.ItemRow(f"{benchmark}-{i}", tier, "out", {"solved": s, "word_acc": s})
            for i, s in enumerate(solved)
        ]
        eval_id = store_evals.insert_eval(
            conn,
            model_ref="base" if baseline else (version or "?"),
            model_hash="base-hash" if baseline else f"hash-{version}",
            version=None if baseline else version,
            benchmark=benchmark,
            bench_version="v1",
            is_baseline=baseline,
            metrics={"seconds": seconds, "new_tokens": 10 * len(solved)},
            items=items,
            created_at=created_at,
        )
    finally:
        conn.close()
    return eval_id
