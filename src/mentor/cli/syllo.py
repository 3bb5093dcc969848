"""``mentor syllo`` (generate, check, score) and ``mentor bench`` (list, build): no workspace."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, out, print_json, progress_bar
from mentor.data.jsonl import read_objects
from mentor.errors import DataError, MentorError

syllo_app = typer.Typer(help="SYLLO puzzles: generate, check and score.", no_args_is_help=True)
bench_app = typer.Typer(help="The SYLLO benchmark suite.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(syllo_app, name="syllo")
    app.add_typer(bench_app, name="bench")


@syllo_app.command("generate")
def generate_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="Output JSONL file.")],
    count: Annotated[int, typer.Option("--count", min=1, help="Number of puzzles.")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Seed (IDs derive from it).")] = 0,
    tier: Annotated[
        str, typer.Option("--tier", help="easy | medium | hard | mixed | levels")
    ] = "easy",
    level: Annotated[
        int | None, typer.Option("--level", min=1, max=10, help="Ten-level scheme level.")
    ] = None,
    variants: Annotated[
        bool, typer.Option("--variants", help="Draw one of the twelve answer shapes per row.")
    ] = False,
    vocab_size: Annotated[
        int | None,
        typer.Option("--vocab-size", min=8, help="Only the N most frequent eligible words."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Write COUNT puzzles as chat rows (messages + metadata)."""
    from mentor.tasks.syllo.generate import TIERS, iter_puzzles

    if level is None and tier not in (*TIERS, "mixed", "levels"):
        raise DataError(
            f"--tier {tier!r} is unknown", hint="use easy, medium, hard, mixed or levels"
        )
    t0 = time.perf_counter()
    tmp = out_file.with_name(out_file.name + ".tmp")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        rows = iter_puzzles(
            count, seed, tier=tier, level=level, variants=variants, vocab_size=vocab_size
        )
        with tmp.open("w", encoding="utf-8") as fh, progress_bar(disable=json_out) as bar:
            task = bar.add_task("generating", total=count, info="")
            for i, row in enumerate(rows, 1):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                if i % 50 == 0 or i == count:
                    rate = i / max(time.perf_counter() - t0, 1e-9)
                    bar.update(task, completed=i, info=f"{rate:,.0f}/s")
        tmp.replace(out_file)
    except ValueError as err:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"cannot generate: {err}", hint="widen --vocab-size or change the tier"
        ) from None
    secs = time.perf_counter() - t0
    summary = {
        "file": str(out_file),
        "count": count,
        "seconds": round(secs, 2),
        "per_second": round(count / secs, 1),
    }
    if json_out:
        print_json(summary)
    else:
        out.print(f"wrote {count} puzzles to {out_file} in {secs:.1f} s ({count / secs:,.0f}/s)")


def check_rows(path: Path) -> tuple[int, list[str]]:
    """Round trip + golden self-score of every row; returns (rows, 'FILE:LINE: reason' list)."""
    from mentor.tasks.syllo.bench import row_golden, row_prompt
    from mentor.tasks.syllo.parse import parse_prompt, with_answers
    from mentor.tasks.syllo.render import render_answer, render_prompt
    from mentor.tasks.syllo.score import score

    problems: list[str] = []
    rows = read_objects(path)
    for n, row in rows:
        where = f"{path}:{n}"
        try:
            prompt = row_prompt(row)
            puzzle = parse_prompt(prompt)
        except MentorError as err:
            problems.append(f"{where}: {err}")
            continue
        if render_prompt(puzzle) != prompt:
            problems.append(f"{where}: prompt does not round-trip (re-rendered prompt differs)")
        golden = row_golden(row)
        if golden is None:
            problems.append(f"{where}: no golden answer (assistant message or 'solution')")
            continue
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        words = row.get("words") or meta.get("words")
        variant = row.get("output_variant") or meta.get("output_variant") or puzzle.variant
        if isinstance(words, list):
            try:
                full = with_answers(puzzle, [list(w["syllables"]) for w in words])
                if render_answer(full, variant) != golden:
                    problems.append(f"{where}: golden answer differs from the rendered answer")
            except (MentorError, KeyError, TypeError, ValueError) as err:
                problems.append(f"{where}: metadata words unusable ({err})")
        metrics = score(prompt, golden, golden)
        bad = [k for k, v in metrics.items() if v != 1.0]
        if bad:
            problems.append(f"{where}: golden scores below 1.0 on {', '.join(bad)}")
    return len(rows), problems


@syllo_app.command("check")
def check_cmd(
    file: Annotated[Path, typer.Argument(help="JSONL of chat rows or generator-API rows.")],
    json_out: JsonOption = False,
) -> None:
    """Round-trip every row and self-score its golden answer; exit 1 on any mismatch."""
    n, problems = check_rows(file)
    if json_out:
        print_json({"file": str(file), "rows": n, "problems": problems, "ok": not problems})
    else:
        for p in problems:
            out.print(p, highlight=False, markup=False, soft_wrap=True)
        out.print(f"{file}: {n} rows checked, {len(problems)} problem(s)", highlight=False)
    if problems:
        raise typer.Exit(1)


def score_files(data: Path, pred: Path) -> dict[str, Any]:
    from mentor.tasks.syllo.bench import row_golden, row_prompt
    from mentor.tasks.syllo.score import score

    rows = read_objects(data)
    preds = read_objects(pred)
    if len(preds) != len(rows):
        raise DataError(
            f"{pred}: {len(preds)} predictions for {len(rows)} rows in {data}",
            hint="one prediction per data row, same order",
        )
    sums: dict[str, dict[str, float]] = {}
    for (n, row), (pn, p) in zip(rows, preds, strict=True):
        if not isinstance(p.get("output"), str):
            raise DataError(
                f"{pred}:{pn}: no string 'output'", hint='write {"output": "<raw model output>"}'
            )
        try:
            m = score(row_prompt(row), p["output"], row_golden(row))
        except MentorError as err:
            raise DataError(f"{data}:{n}: {err}") from None
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        tier = str(meta.get("difficulty") or row.get("difficulty") or "unknown")
        for key in ("overall", tier):
            acc = sums.setdefault(key, {"n": 0.0})
            acc["n"] += 1
            for k, v in m.items():
                acc[k] = acc.get(k, 0.0) + v

    def mean(acc: dict[str, float]) -> dict[str, float]:
        n = acc["n"]
        return {**{k: round(v / n, 4) for k, v in acc.items() if k != "n"}, "n": int(n)}

    overall = mean(sums.pop("overall", {"n": 0.0})) if rows else {"n": 0}
    return {"overall": overall, "tiers": {t: mean(a) for t, a in sorted(sums.items())}}


@syllo_app.command("score")
def score_cmd(
    data: Annotated[
        Path, typer.Option("--data", help="Puzzles (JSONL rows with prompts and goldens).")
    ],
    pred: Annotated[
        Path, typer.Option("--pred", help='Predictions: one {"output": ...} per data row.')
    ],
    json_out: JsonOption = False,
) -> None:
    """Layered metrics of raw model outputs, overall and per tier."""
    result = score_files(data, pred)
    if json_out:
        print_json(result)
        return
    metrics = [k for k in result["overall"] if k != "n"]
    table = Table(title=f"SYLLO score: {pred.name}")
    table.add_column("split")
    table.add_column("n", justify="right")
    for k in metrics:
        table.add_column(k, justify="right")
    for name, m in [("overall", result["overall"]), *result["tiers"].items()]:
        table.add_row(name, str(m["n"]), *(f"{m.get(k, 0.0):.3f}" for k in metrics))
    out.print(table)


@bench_app.command("list")
def bench_list(json_out: JsonOption = False) -> None:
    """Show the benchmark manifest."""
    from mentor.tasks.syllo.bench import list_benchmarks

    entries = list_benchmarks()
    if json_out:
        print_json({"benchmarks": entries})
        return
    table = Table(title="SYLLO benchmarks")
    for col in ("name", "version", "count", "tier", "seed", "sha256"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e["name"],
            str(e["version"]),
            str(e["count"]),
            str(e["tier"]),
            str(e["seed"]),
            e["sha256"][:12],
        )
    out.print(table)


@bench_app.command("build")
def bench_build(json_out: JsonOption = False) -> None:
    """Regenerate the benchmark suite byte for byte (package data)."""
    from mentor.tasks.syllo.bench import build_all

    manifest = build_all()
    if json_out:
        print_json({"benchmarks": manifest})
    else:
        out.print(
            f"rebuilt {len(manifest)} benchmarks ({sum(e['count'] for e in manifest)} puzzles)"
        )
