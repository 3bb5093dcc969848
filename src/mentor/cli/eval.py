"""Commands about measuring the model: eval, test-model, accuracy, summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mentor.cli.common import (
    JsonOption,
    SetOption,
    console,
    out,
    print_json,
    progress_bar,
    state,
    task_progress,
)
from mentor.errors import ConfigError
from mentor.paths import RunFolder

COLUMNS = ("solved", "word_acc", "json_valid", "exact", "f1", "loss")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("test-model")(test_model)
    app.command("accuracy")(accuracy)
    app.command("summary")(summary)


def _default_model(ws: Any) -> str:
    from mentor.models.loader import is_adapter_dir

    return (
        "current"
        if is_adapter_dir(ws.current) or is_adapter_dir(ws.current / "adapter")
        else "base"
    )


def _cell(
    value: float | None, ci: tuple[float, float] | None = None, delta: float | None = None
) -> str:
    if value is None:
        return "-"
    s = f"{value:.3f}"
    if ci is not None:
        s += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    if delta is not None:
        s += f" ({delta:+.3f})"
    return s


def eval_cmd(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option("--model", help="base | current | vNNN | PATH (default: current, else base)."),
    ] = None,
    bench: Annotated[
        list[str] | None,
        typer.Option("--bench", help="Benchmark name (repeatable; default eval.benchmarks)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluate a JSONL file instead.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="First N items of each task.")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="Engine backend: hf | vllm.")] = "hf",
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a model: batched generation, per-tier metrics, 95% intervals, delta vs the baseline."""

    from mentor.evals.runner import evaluate

    st = state(ctx)
    ws = st.workspace()
    cfg = st.config(overrides)
    ref = model or _default_model(ws)
    with progress_bar(disable=as_json, transient=True) as bar:
        progress = task_progress(bar)
        result = evaluate(
            ws,
            cfg,
            ref,
            benchmarks=bench or None,
            data=data,
            limit=limit,
            backend=backend,
            progress=progress,
        )
    if as_json:
        print_json(result.to_json())
        return
    out.print(
        f"model [bold]{result.model_ref}[/] ({result.model_path}{' + ' + result.adapter_path if result.adapter_path else ''})"
    )
    for b in result.benchmarks.values():
        cols = [c for c in COLUMNS if c in b.overall]
        table = Table(title=f"{b.name} ({b.version}, n={b.n}, eval {b.eval_id})")
        table.add_column("tier")
        table.add_column("n", justify="right")
        for c in cols:
            table.add_column(c, justify="right")
        table.add_column("tokens/s", justify="right")
        tiers = {r.tier or "all": 0 for r in b.items.values()}
        for r in b.items.values():
            tiers[r.tier or "all"] += 1
        for tier, vals in b.tiers.items():
            tt = b.tier_tests.get(tier, {})
            table.add_row(
                tier,
                str(tiers.get(tier, 0)),
                *[_cell(vals.get(c), None, tt[c].delta if c in tt else None) for c in cols],
                "",
            )
        table.add_row(
            "[bold]overall[/]",
            str(b.n),
            *[
                _cell(
                    b.overall.get(c), b.intervals.get(c), b.tests[c].delta if c in b.tests else None
                )
                for c in cols
            ],
            f"{b.tokens_per_s:.1f}",
        )
        out.print(table)
        if b.tests:
            parts = [
                f"{m} {t.delta:+.3f} (p={t.p_value:.3g})" for m, t in b.tests.items() if m in cols
            ]
            out.print(
                f"vs baseline (eval {b.baseline_eval_id}): " + ", ".join(parts), highlight=False
            )
    out.print(f"report: {result.report}")


def test_model(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option("--model", help="base | current | vNNN | PATH.")
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            "--prompt",
            help="One prompt, answered once. Without it: a piped stdin is read whole as one "
            "prompt (`echo hi | mentor test-model`), a terminal gets a conversation loop.",
        ),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 512,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 0.0,
    overrides: SetOption = None,
) -> None:
    """Talk to a model through the same template and engine as training and the API."""
    from mentor.engine import GenRequest, build_engine
    from mentor.errors import MentorError
    from mentor.models.refs import resolve_model

    st = state(ctx)
    ws = st.workspace()
    cfg = st.config(overrides)
    spec = resolve_model(ws, cfg, model or _default_model(ws))
    engine = build_engine(spec.base, adapter=spec.adapter, cfg=cfg)

    from mentor.cli.serve import fitted_limit

    def answer(messages: list[dict[str, str]]) -> str:
        prompt_text = engine.renderer.prompt(messages)
        limit = fitted_limit(engine, prompt_text, max_new_tokens, spec.base, "--prompt: ")
        req = GenRequest(prompt_text, max_new_tokens=limit, temperature=temperature)
        text = ""
        for delta in engine.stream(req):
            text += delta
            out.print(delta, end="", highlight=False, markup=False, soft_wrap=True)
        out.print()
        return text

    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise ConfigError("stdin is empty: pipe a prompt in or pass --prompt TEXT")
    if prompt is not None:
        answer([{"role": "user", "content": prompt}])
        return
    console.print(f"model {spec.ref}; empty line or Ctrl-D quits, /reset starts a new conversation")
    history: list[dict[str, str]] = []
    while True:
        try:
            line = input("> ")
        except EOFError:
            break
        if not line.strip():
            break
        if line.strip() == "/reset":
            history = []
            continue
        history.append({"role": "user", "content": line})
        try:
            history.append({"role": "assistant", "content": answer(history)})
        except MentorError as err:  # the conversation outgrew the context: say so, keep going
            history.pop()
            console.print(
                f"[red]error:[/] {err} (/reset starts a new conversation)", highlight=False
            )


def _accuracy(ws: Any, n: int = 20) -> dict[str, Any]:
    from mentor.store import connect
    from mentor.store import evals as store
    from mentor.store.events import recent

    conn = connect(ws.db)
    try:
        previews = [
            e
            for e in recent(conn, kinds=["preview"], limit=n)
            if isinstance(e.data.get("scores"), dict)
        ]
        last = store.latest(conn, include_baseline=False)
    finally:
        conn.close()
    mean: dict[str, float] = {}
    if previews:
        keys = {
            k for e in previews for k, v in e.data["scores"].items() if isinstance(v, int | float)
        }
        for k in sorted(keys):
            vals = [
                float(e.data["scores"][k])
                for e in previews
                if isinstance(e.data["scores"].get(k), int | float)
            ]
            mean[k] = sum(vals) / len(vals)
    return {
        "previews": {
            "n": len(previews),
            "mean": mean,
            "last": previews[0].data["scores"] if previews else None,
            "last_ts": previews[0].ts if previews else None,
            "step": previews[0].data.get("step") if previews else None,
        },
        "last_eval": None
        if last is None
        else {
            "id": last.id,
            "model": last.model_ref,
            "version": last.version,
            "benchmark": last.benchmark,
            "n": last.n,
            "overall": last.metrics.get("overall", {}),
            "created_at": last.created_at,
        },
    }


def accuracy(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Recent accuracy: live previews (probe puzzles during training) and the last evaluation."""
    info = _accuracy(state(ctx).workspace())
    if as_json:
        print_json(info)
        return
    p = info["previews"]
    if p["n"]:
        out.print(
            f"live previews (last {p['n']}): "
            + ", ".join(f"{k}={v:.3f}" for k, v in p["mean"].items())
        )
    else:
        out.print("live previews: none yet")
    e = info["last_eval"]
    if e:
        out.print(
            f"last eval #{e['id']} {e['model']} on {e['benchmark']} (n={e['n']}): "
            + ", ".join(
                f"{k}={v:.3f}" for k, v in e["overall"].items() if isinstance(v, int | float)
            )
        )
    else:
        out.print("evaluations: none yet")


def _last_metrics(ws: Any) -> dict[str, Any] | None:
    runs = sorted(
        (p for p in ws.runs.glob(f"*/{RunFolder.METRICS}") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    if not runs:
        return None
    last: dict[str, Any] | None = None
    loss_row: dict[str, Any] | None = None
    for line in runs[-1].read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            last = rec
            if "loss" in rec:
                loss_row = rec
    return {"run": runs[-1].parent.name, "last": last, "last_loss": loss_row}


def summary(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where training stands: step, loss, current file, evaluations, recent accuracy."""
    from mentor.store import connect
    from mentor.store import evals as evals_store

    ws = state(ctx).workspace()
    status: dict[str, Any] | None = None
    if ws.status_file.is_file():
        try:
            status = json.loads(ws.status_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            status = None
    metrics = _last_metrics(ws)
    conn = connect(ws.db)
    try:
        n_evals = evals_store.count(conn)
    finally:
        conn.close()
    acc = _accuracy(ws)
    from mentor.analysis.costs import business

    biz = business(ws, state(ctx).config())
    loss_row = (metrics or {}).get("last_loss") or {}
    snap = status or {}
    step = snap.get("current_step")  # the writer's name (monitor.status.FIELDS), not "step"
    info = {
        "step": step if step is not None else loss_row.get("step"),
        "loss": snap["loss"] if snap.get("loss") is not None else loss_row.get("loss"),
        "current_file": snap.get("current_file"),
        "status": status,
        "run": metrics,
        "evals": n_evals,
        "accuracy": acc,
        "business": biz,
    }
    if as_json:
        print_json(info)
        return
    table = Table(show_header=False, box=None)
    table.add_row("step", str(info["step"] if info["step"] is not None else "-"))
    table.add_row("loss", f"{info['loss']:.4f}" if isinstance(info["loss"], int | float) else "-")
    table.add_row("current file", str(info["current_file"] or "-"))
    table.add_row("evaluations", str(n_evals))
    if acc["previews"]["n"]:
        table.add_row(
            "live accuracy", ", ".join(f"{k}={v:.3f}" for k, v in acc["previews"]["mean"].items())
        )
    if acc["last_eval"]:
        e = acc["last_eval"]
        table.add_row(
            "last eval",
            f"{e['model']} {e['benchmark']}: "
            + ", ".join(
                f"{k}={v:.3f}" for k, v in e["overall"].items() if isinstance(v, int | float)
            ),
        )
    _business_rows(table, biz)
    out.print(table)


def _business_rows(table: Table, biz: dict[str, Any]) -> None:
    """Cost, the last ROI and production figures (mentor.analysis.costs.business)."""
    c = biz["cost"]
    table.add_row(
        "cost (all runs)",
        f"{c['total_cost']:.2f} {c['currency']} ({c['gpu_hours']:.2f} GPU-hours, "
        f"{c['train_hours'] + c['eval_hours']:.2f} h)",
    )
    if biz["roi"]:
        r = biz["roi"][-1]
        gain = "-" if r["gain"] is None else f"{r['gain']:+.3f}"
        table.add_row("last ROI", f"{r['version']}: {r['metric']} {gain} vs {r['reference']}")
    p = biz["production"]
    if p:
        p50, p95 = p.get("latency_p50_s"), p.get("latency_p95_s")
        table.add_row(
            "production",
            f"{p['requests']} requests, p50 {'-' if p50 is None else f'{p50:.3f}'} s, "
            f"p95 {'-' if p95 is None else f'{p95:.3f}'} s, {p['tokens_per_s_avg']:.1f} tokens/s",
        )
