"""The untrained baseline cache: every evaluation is compared with the base model, which is
evaluated once per (base model hash, task version) and only extended with items it has not seen.

The cached baseline is one ``evals`` row with ``is_baseline=1`` (``store.evals.find_baseline``);
its ``items.jsonl`` is rewritten with every item it holds whenever it grows. A different base
model or a new benchmark version is a different baseline, never a stale one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from mentor.evals.results import (
    Baseline,
    TaskRun,
    metrics_record,
    read_goldens,
    summarize,
    write_items,
)
from mentor.evals.tasks import Item, Task
from mentor.models.refs import ModelSpec
from mentor.paths import Workspace
from mentor.store import evals as store

#: runs a task's items on the baseline model
RunItems = Callable[[list[Item]], TaskRun]


class BaselineCache:
    """The baselines of one workspace's base model, read and extended through ``conn``."""

    def __init__(self, ws: Workspace, conn: sqlite3.Connection, spec: ModelSpec, run_id: str):
        self.ws, self.conn, self.spec, self.run_id = ws, conn, spec, run_id

    def find(self, task: Task) -> Baseline | None:
        """The cached baseline of ``task`` (this base model, this task version), if any."""
        row = store.find_baseline(self.conn, self.spec.baseline_hash, task.name, task.version)
        return Baseline(row.id, store.items(self.conn, row.id)) if row else None

    def missing(self, task: Task, items: list[Item]) -> list[Item]:
        """The items of ``items`` the cached baseline has not scored yet."""
        cached = self.find(task)
        known = cached.items if cached else {}
        return [i for i in items if i.id not in known]

    def extend(self, task: Task, run: TaskRun, goldens: dict[str, str]) -> Baseline:
        """Create the cached baseline from ``run``, or add ``run``'s items to it."""
        cached = store.find_baseline(self.conn, self.spec.baseline_hash, task.name, task.version)
        if cached is None:
            eval_id = store.insert_eval(
                self.conn,
                model_ref="base",
                model_hash=self.spec.baseline_hash,
                benchmark=task.name,
                bench_version=task.version,
                is_baseline=True,
                metrics=metrics_record(run.rows, run, task, self.run_id),
                items=run.rows,
            )
        else:
            eval_id = cached.id
            if not run.rows:
                return Baseline(eval_id, store.items(self.conn, eval_id))
            merged = {**store.items(self.conn, eval_id), **{r.item_id: r for r in run.rows}}
            overall, tiers = summarize(list(merged.values()))
            metrics = {**cached.metrics, "overall": overall, "tiers": tiers}
            store.add_items(self.conn, eval_id, run.rows, metrics)
        items = store.items(self.conn, eval_id)
        all_goldens = {**read_goldens(self.ws, eval_id), **goldens}
        path = write_items(self.ws, eval_id, list(items.values()), all_goldens)
        store.set_path(self.conn, eval_id, str(path))
        return Baseline(eval_id, items)

    def ensure(
        self, task: Task, items: list[Item], goldens: dict[str, str], run: RunItems
    ) -> Baseline | None:
        """The baseline of ``task`` covering ``items``: ``run`` generates only the items it
        lacks. None when there is neither a cached baseline nor an item to start one."""
        todo = self.missing(task, items)
        if todo:
            return self.extend(task, run(todo), goldens)
        return self.find(task)
