"""Daemon commands: daemon, up, pause|resume|skip|stop|status, queue, versions, backup, consolidate."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, out, print_json, state
from mentor.errors import JobError, NotFoundError

YesOption = Annotated[
    bool, typer.Option("--yes", help="Do it (without --yes: a dry run / refusal).")
]


def register(app: typer.Typer) -> None:
    app.command("daemon")(daemon)
    app.command("up")(up)
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("skip")(skip)
    app.command("stop")(stop)
    app.command("status")(status)
    app.command("consolidate")(consolidate)
    q = typer.Typer(help="The training queue.", no_args_is_help=True)
    q.command("list")(queue_list)
    q.command("add")(queue_add)
    q.command("move")(queue_move)
    q.command("remove")(queue_remove)
    q.command("retry")(queue_retry)
    app.add_typer(q, name="queue")
    v = typer.Typer(help="Immutable versions vNNN.", no_args_is_help=True)
    v.command("list")(versions_list)
    v.command("show")(versions_show)
    v.command("diff")(versions_diff)
    v.command("restore")(versions_restore)
    v.command("delete")(versions_delete)
    app.add_typer(v, name="versions")
    b = typer.Typer(help="Verified backups.", no_args_is_help=True)
    b.command("create")(backup_create)
    b.command("list")(backup_list)
    b.command("verify")(backup_verify)
    b.command("restore")(backup_restore)
    b.command("prune")(backup_prune)
    app.add_typer(b, name="backup")


def _conn(ctx: typer.Context) -> Any:
    from mentor.store import connect

    return connect(state(ctx).workspace().db)


def _fmt_ts(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


# ---------------------------------------------------------------------------- daemon / up


def daemon(ctx: typer.Context, overrides: SetOption = None) -> None:
    """Run the daemon in the foreground (Ctrl-C or SIGTERM: checkpoint, then exit)."""
    import logging

    from mentor.daemon.core import Daemon

    logging.getLogger("mentor").setLevel(logging.INFO)
    ws = state(ctx).workspace()
    d = Daemon(ws, overrides=overrides or [])
    d.install_signals()
    d.start()
    out.print(
        f"mentor daemon running on {ws.home} (pid {__import__('os').getpid()}); `mentor stop` to stop"
    )
    d.run()
    out.print("daemon stopped")


def up(ctx: typer.Context, overrides: SetOption = None) -> None:
    """The daemon, the REST API and the dashboard under one supervisor (one process tree)."""
    import logging

    from mentor.daemon.core import Daemon
    from mentor.daemon.supervisor import Supervised

    logging.getLogger("mentor").setLevel(logging.INFO)
    ws = state(ctx).workspace()
    d = Daemon(ws, overrides=overrides or [])
    d.install_signals()
    d.start()
    cmd = [sys.executable, "-m", "mentor", "--home", str(ws.home), "serve"]
    for o in overrides or []:
        cmd += ["--set", o]
    serve = Supervised(cmd, ws.logs / "serve.log")  # restarted if it dies
    serve.start()
    out.print(
        f"serving API and dashboard (pid {serve.proc.pid if serve.proc else '?'}); log {ws.logs / 'serve.log'}"
    )
    try:
        d.run(extra=serve.check)
    finally:
        serve.stop()
    out.print("stopped")


# ---------------------------------------------------------------------------- control


def _running(ws: Any) -> int | None:
    from mentor.daemon.lock import lock_holder

    return lock_holder(ws)


def pause(ctx: typer.Context) -> None:
    """Checkpoint within one step; the job keeps its position and the daemon idles."""
    from mentor import control

    ws = state(ctx).workspace()
    control.request(ws, "pause")
    note = "" if _running(ws) else " (the daemon is not running: it starts paused)"
    out.print(f"pause requested{note}")


def resume(ctx: typer.Context) -> None:
    """Resume after a pause: the paused job continues at its saved row."""
    from mentor import control

    ws = state(ctx).workspace()
    if _running(ws):
        control.request(ws, "resume")
    else:
        control.clear(ws)
        from mentor.store import jobs

        conn = _conn(ctx)
        for job in jobs.listing(conn, states=("paused",)):
            jobs.update(conn, job.id, state="queued")
        conn.close()
    out.print("resume requested")


def skip(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept with the job).")] = None,
) -> None:
    """Checkpoint and skip the current file (its remaining rows are recorded); the next job starts."""
    from mentor import control

    ws = state(ctx).workspace()
    control.request(ws, "skip", reason)
    out.print("skip requested")


def stop(
    ctx: typer.Context,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the daemon exited.")
    ] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 300.0,
) -> None:
    """Checkpoint within one step and stop the daemon; the next start resumes there."""
    from mentor import control
    from mentor.daemon.lock import pid_alive

    ws = state(ctx).workspace()
    pid = _running(ws)
    if pid is None:
        out.print("the daemon is not running")
        return
    t0 = time.monotonic()
    control.request(ws, "stop", "mentor stop")
    if not wait:
        out.print(f"stop requested (daemon pid {pid})")
        return
    while pid_alive(pid) and time.monotonic() - t0 < timeout:
        time.sleep(0.1)
    if pid_alive(pid):
        raise JobError(f"the daemon (pid {pid}) did not stop within {timeout:.0f}s")
    out.print(f"daemon stopped in {time.monotonic() - t0:.1f}s")


def status_object(ws: Any) -> dict[str, Any]:
    from mentor.monitor.status import read_status
    from mentor.store import connect, events, jobs, kv
    from mentor.store.kv import Key

    snap = read_status(ws)
    conn = connect(ws.db)
    try:
        pid = _running(ws)
        daemon_state = kv.get(conn, Key.DAEMON_STATE) if pid else "stopped"
        pending = jobs.pending(conn)
        active = next((j for j in pending if j.state in ("training", "evaluating", "paused")), None)
        last_eval = next(iter(events.recent(conn, kinds=["eval.finished"], limit=1)), None)
        try:
            from mentor.monitor.system import gpus

            gpu = gpus()
        except Exception:
            gpu = []
        step, total = snap.get("batch_step"), snap.get("batch_total_steps")
        tps = snap.get("tokens_per_sec")
        eta = snap.get("eta_s")
        return {
            "state": daemon_state,
            "pid": pid,
            "job": active.to_dict() if active else None,
            "file": active.name if active else snap.get("current_file"),
            "step": step,
            "total": total,
            "global_step": snap.get("current_step"),
            "loss": snap.get("loss"),
            "validation_loss": snap.get("validation_loss"),
            "tokens_per_sec": tps,
            "eta_s": eta,
            "queue": [j.to_dict() for j in pending if j is not active],
            "counts": jobs.counts(conn),
            "serving_version": kv.get(conn, Key.SERVING_VERSION),
            "base_model": kv.get(conn, Key.BASE_MODEL),
            "last_eval": (
                {
                    "ts": last_eval.ts,
                    "version": last_eval.version,
                    "message": last_eval.message,
                    "metrics": last_eval.data.get("metrics"),
                }
                if last_eval
                else None
            ),
            "gpu": gpu,
            "alerts": snap.get("active_alerts") or [],
            "error_message": snap.get("error_message"),
            "snapshot": snap,
        }
    finally:
        conn.close()


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """One screen (or one JSON object): state, job, file, step/total, loss, tokens/s, ETA, queue, eval, GPU."""
    ws = state(ctx).workspace()
    s = status_object(ws)
    if as_json:
        print_json(s)
        return
    t = Table(show_header=False, box=None)
    t.add_row("state", f"{s['state']}" + (f" (pid {s['pid']})" if s["pid"] else ""))
    if s["job"]:
        j = s["job"]
        t.add_row(
            "job", f"#{j['id']} {j['name']} [{j['state']}] rows {j['rows_done']}/{j['rows_total']}"
        )
    if s["step"] is not None:
        t.add_row("step", f"{s['step']}/{s['total']} (global {s['global_step']})")
    for key, label in (
        ("loss", "loss"),
        ("validation_loss", "val loss"),
        ("tokens_per_sec", "tokens/s"),
    ):
        if s[key] is not None:
            t.add_row(label, f"{s[key]:.4g}")
    if s["eta_s"] is not None:
        t.add_row("ETA", f"{s['eta_s'] / 60:.1f} min")
    t.add_row(
        "queue",
        f"{len(s['queue'])} waiting "
        + ", ".join(f"#{j['id']} {j['name']} ({j['priority']})" for j in s["queue"][:5]),
    )
    t.add_row("serving", str(s["serving_version"] or "-"))
    if s["last_eval"]:
        t.add_row("last eval", s["last_eval"]["message"])
    for g in s["gpu"]:
        t.add_row(
            "GPU",
            ", ".join(
                f"{k}={v}"
                for k, v in g.items()
                if k in ("name", "util_percent", "mem_used_gib", "mem_total_gib")
            ),
        )
    for a in s["alerts"]:
        t.add_row("[red]alert[/]", str(a))
    if s["error_message"]:
        t.add_row("[red]error[/]", str(s["error_message"]))
    out.print(t)


# ---------------------------------------------------------------------------- queue


def queue_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Finished jobs too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pending jobs in the order they run (--all: every job)."""
    from mentor.store import jobs

    conn = _conn(ctx)
    listed = jobs.listing(conn) if all_ else jobs.pending(conn)
    conn.close()
    if as_json:
        print_json({"jobs": [j.to_dict() for j in listed]})
        return
    t = Table("id", "state", "priority", "file", "rows", "attempts", "error")
    for j in listed:
        t.add_row(
            str(j.id),
            j.state,
            j.priority_name,
            j.name,
            f"{j.rows_done}/{j.rows_total or '?'}",
            str(j.attempts),
            (j.error or "")[:60],
        )
    out.print(t)


def queue_add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .jsonl file (copied into the workspace).")],
    priority: Annotated[str, typer.Option("--priority", help="high | normal | low")] = "normal",
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a file now and queue it (a refused file goes to data/failed/ with its reasons)."""
    from mentor.daemon import files
    from mentor.errors import DataError
    from mentor.models.loader import load_tokenizer
    from mentor.store import jobs

    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    if not file.is_file():
        raise NotFoundError(f"{file}: no such file")
    prio = jobs.priority_value(priority)
    conn = _conn(ctx)
    try:
        job = files.admit(
            ws,
            cfg,
            conn,
            file,
            name=file.name,
            priority=prio,
            copy=True,
            tokenizer=lambda: load_tokenizer(cfg.model_path(ws.home)),
        )
    finally:
        conn.close()
    if as_json:
        print_json(job.to_dict())
    if job.state == "failed":
        raise DataError(f"{job.error} (set aside in {job.path})")
    if not as_json:
        out.print(f"job {job.id} queued: {job.name} ({job.rows_total} rows, {job.priority_name})")


def queue_move(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    priority: Annotated[str, typer.Option("--priority", help="high | normal | low")],
) -> None:
    """Change a pending job's priority."""
    from mentor.store import jobs

    conn = _conn(ctx)
    job = jobs.move(conn, job_id, priority)
    conn.close()
    out.print(f"job {job.id}: priority {job.priority_name}")


def queue_remove(
    ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]
) -> None:
    """Take a waiting job off the queue (its file goes to data/failed/ with a note, never deleted)."""
    from mentor.daemon import files
    from mentor.store import events, jobs

    conn = _conn(ctx)
    try:
        job = jobs.get(conn, job_id)
        if job.state not in ("queued", "paused", "validating"):
            raise JobError(
                f"job {job_id} is {job.state}: only waiting jobs can be removed",
                hint="use `mentor skip` for the job in training",
            )
        if not jobs.claim(conn, job_id, ("queued", "paused", "validating"), state="removed"):
            raise JobError(f"job {job_id} started meanwhile; use `mentor skip`")
        ws = state(ctx).workspace()
        stored = files.set_aside(
            ws, Path(job.path), job.name, ["removed from the queue by the user"], job_id=job.id
        )
        jobs.update(conn, job_id, path=str(stored), finished_at=time.time())
        events.emit(conn, "job_removed", f"{job.name}: removed from the queue", job_id=job_id)
    finally:
        conn.close()
    out.print(f"job {job_id} removed; file kept at {stored}")


def queue_retry(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    overrides: SetOption = None,
) -> None:
    """Queue a failed, skipped or removed job again (attempts reset; validated again)."""
    from mentor.daemon import files
    from mentor.models.loader import load_tokenizer
    from mentor.store import jobs

    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    conn = _conn(ctx)
    try:
        job = jobs.get(conn, job_id)
        if job.state not in ("failed", "skipped", "removed"):
            raise JobError(
                f"job {job_id} is {job.state}: only failed, skipped or removed jobs are retried"
            )
        src = Path(job.path)
        if not src.is_file():
            raise NotFoundError(f"job {job_id}: its file {src} is gone")
        dest = files.place(src, files.processing_dir(ws) / f"{job.id}_{files.flat_name(job.name)}")
        src.with_name(src.name + ".error.json").unlink(missing_ok=True)
        job = jobs.update(
            conn,
            job_id,
            path=str(dest),
            state="validating",
            attempts=0,
            not_before=0,
            error=None,
            finished_at=None,
        )
        job = files.validate_job(
            ws,
            cfg,
            conn,
            job,
            allow_duplicate=True,
            tokenizer=lambda: load_tokenizer(cfg.model_path(ws.home)),
        )
    finally:
        conn.close()
    out.print(f"job {job_id}: {job.state}" + (f" ({job.error})" if job.error else ""))


# ---------------------------------------------------------------------------- versions


def versions_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    deleted: Annotated[bool, typer.Option("--deleted", help="Deleted ones too.")] = False,
) -> None:
    """Every version, oldest first."""
    from mentor.store import kv
    from mentor.store import versions as version_rows
    from mentor.store.kv import Key

    conn = _conn(ctx)
    items = version_rows.listing(conn, include_deleted=deleted)
    serving = kv.get(conn, Key.SERVING_VERSION)
    conn.close()
    if as_json:
        print_json({"versions": [v.to_dict() for v in items], "serving": serving})
        return
    t = Table("version", "kind", "status", "created", "parent", "metrics")
    for v in items:
        mark = " *" if serving in (v.name, v.short) else ""
        metrics = ", ".join(
            f"{k}={val:.3g}"
            for k, val in list(v.metrics.items())[:4]
            if isinstance(val, int | float)
        )
        t.add_row(
            v.name + mark,
            v.kind,
            v.status,
            _fmt_ts(v.created_at),
            (v.parent or "-").split("_")[0],
            metrics,
        )
    out.print(t)


def versions_show(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="vNNN")],
    as_json: JsonOption = False,
) -> None:
    """A version's manifest, metrics and files."""
    from mentor.daemon import versions

    conn = _conn(ctx)
    info = versions.show(state(ctx).workspace(), conn, version)
    conn.close()
    if as_json:
        print_json(info)
        return
    t = Table(show_header=False, box=None)
    for k in ("name", "kind", "status", "parent", "path", "size", "serving", "description"):
        t.add_row(k, str(info[k]))
    man = info["manifest"]
    t.add_row("steps", str(man.get("steps")))
    t.add_row(
        "data",
        ", ".join(f"{d.get('file')} ({str(d.get('hash'))[:12]})" for d in man.get("data") or [])
        or "-",
    )
    for k, v in {**(man.get("metrics") or {}), **info["metrics"]}.items():
        t.add_row(f"  {k}", str(v))
    t.add_row("files", str(len(info["files"])))
    out.print(t)


def versions_diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="vNNN")],
    b: Annotated[str, typer.Argument(help="vNNN")],
    as_json: JsonOption = False,
) -> None:
    """What changed from A to B: metrics, data, files."""
    from mentor.daemon import versions

    conn = _conn(ctx)
    d = versions.diff(state(ctx).workspace(), conn, a, b)
    conn.close()
    if as_json:
        print_json(d)
        return
    out.print(f"{d['a']} -> {d['b']}  steps {d['steps']['a']} -> {d['steps']['b']}")
    t = Table("metric", "a", "b", "delta")
    for k, m in d["metrics"].items():
        t.add_row(k, str(m["a"]), str(m["b"]), f"{m['delta']:+.4g}" if "delta" in m else "")
    out.print(t)
    out.print(
        f"data only in b: {[x.get('file') for x in d['data_only_b']]}; files changed: {len(d['files_changed'])}"
    )


def _refuse_if_training(ws: Any) -> None:
    from mentor.store import connect, kv
    from mentor.store.kv import Key

    if _running(ws):
        conn = connect(ws.db)
        st = kv.get(conn, Key.DAEMON_STATE)
        conn.close()
        if st in ("training", "evaluating", "consolidating"):
            raise JobError(f"the daemon is {st}", hint="`mentor pause` first")


def versions_restore(
    ctx: typer.Context, version: Annotated[str, typer.Argument(help="vNNN")]
) -> None:
    """Make a version live (a verified backup of the live lineage is taken first)."""
    from mentor.daemon import versions

    ws = state(ctx).workspace()
    _refuse_if_training(ws)
    conn = _conn(ctx)
    r = versions.restore(ws, conn, version)
    conn.close()
    out.print(f"{r['version']} restored; previous state backed up as {r['backup']}")


def versions_delete(
    ctx: typer.Context, version: Annotated[str, typer.Argument(help="vNNN")], yes: YesOption = False
) -> None:
    """Delete a version (a verified backup of it is kept)."""
    from mentor.daemon import versions
    from mentor.store import versions as version_rows

    conn = _conn(ctx)
    try:
        v = version_rows.resolve(conn, version)
        if not yes:
            out.print(f"would delete {v.name} (after a verified backup); pass --yes to do it")
            return
        r = versions.delete(state(ctx).workspace(), conn, version)
    finally:
        conn.close()
    out.print(f"{r['version']} deleted; backup {r['backup']}")


# ---------------------------------------------------------------------------- backups


def backup_create(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Kept in the backup's name.")] = "manual",
    as_json: JsonOption = False,
) -> None:
    """Back up the live lineage, mentor.yaml and state.db (verified)."""
    from mentor.daemon import backups

    ws = state(ctx).workspace()
    conn = _conn(ctx)
    b = backups.create(
        ws,
        conn,
        {"current": ws.current, "mentor.yaml": ws.config_file},
        reason=reason,
        include_db=True,
    )
    conn.close()
    if as_json:
        print_json(b.to_dict())
    else:
        out.print(f"backup {b.id} created and verified ({b.size / 2**20:.1f} MiB)")


def backup_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every backup, newest first."""
    from mentor.daemon import backups

    conn = _conn(ctx)
    items = backups.listing(state(ctx).workspace(), conn)
    conn.close()
    if as_json:
        print_json({"backups": [b.to_dict() for b in items]})
        return
    t = Table("id", "reason", "created", "verified", "MiB", "contents")
    for b in items:
        t.add_row(
            b.id,
            b.reason,
            _fmt_ts(b.created_at),
            _fmt_ts(b.verified_at),
            f"{b.size / 2**20:.1f}",
            ", ".join(b.sources),
        )
    out.print(t)


def backup_verify(
    ctx: typer.Context,
    backup_id: Annotated[str | None, typer.Argument(help="Backup id (default: all).")] = None,
) -> None:
    """Check every file of a backup (or of all) against its sha256 manifest (exit 7 on a mismatch)."""
    from mentor.daemon import backups

    ws = state(ctx).workspace()
    conn = _conn(ctx)
    try:
        ids = [backup_id] if backup_id else [b.id for b in backups.listing(ws, conn)]
        for i in ids:
            backups.verify(ws, conn, i)
            out.print(f"{i}: ok")
    finally:
        conn.close()


def backup_restore(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument(help="Backup id.")],
    yes: YesOption = False,
) -> None:
    """Put a backup's files back (verified first; what it replaces is backed up first)."""
    from mentor.daemon import backups

    ws = state(ctx).workspace()
    conn = _conn(ctx)
    try:
        b = backups.verify(ws, conn, backup_id)
        if not yes:
            out.print(f"would restore {', '.join(b.sources)} from {b.id}; pass --yes to do it")
            return
        _refuse_if_training(ws)
        b, safety = backups.restore(ws, conn, backup_id, daemon_running=_running(ws) is not None)
    finally:
        conn.close()
    out.print(f"restored {b.id}" + (f"; previous state backed up as {safety.id}" if safety else ""))


def backup_prune(
    ctx: typer.Context,
    yes: YesOption = False,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete backups outside the policy (last K, one per day for D days, sole copies kept). Dry run unless --yes."""
    from mentor.daemon import backups

    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    conn = _conn(ctx)
    try:
        keep, delete = backups.prune_plan(
            ws, conn, keep_last=cfg.daemon.keep_last, keep_daily_days=cfg.daemon.keep_daily_days
        )
        if yes:
            for b in delete:
                backups.delete(ws, conn, b.id)
    finally:
        conn.close()
    if as_json:
        print_json(
            {"keep": [b.id for b in keep], "delete": [b.id for b in delete], "dry_run": not yes}
        )
        return
    for b in delete:
        out.print(f"{'deleted' if yes else 'would delete'} {b.id}")
    out.print(f"{len(keep)} kept" + ("" if yes else " (dry run: pass --yes to delete)"))


# ---------------------------------------------------------------------------- consolidate


def consolidate(
    ctx: typer.Context, overrides: SetOption = None, as_json: JsonOption = False
) -> None:
    """Merge the adapter into a new base version; training continues on it with a fresh adapter."""
    from mentor.daemon.consolidate import consolidate as run
    from mentor.store import kv
    from mentor.store.kv import Key

    ws = state(ctx).workspace()
    conn = _conn(ctx)
    try:
        if _running(ws):
            kv.put(conn, Key.CONSOLIDATE_REQUEST, str(time.time()))
            out.print("the daemon runs: consolidation requested; it runs when the daemon is idle")
            return
        r = run(ws, state(ctx).config(overrides), conn, reason="manual")
    finally:
        conn.close()
    if as_json:
        print_json(r)
    else:
        out.print(
            f"consolidated into {r['version']}; base is now {r['base']} (backup {r['backup']})"
        )
