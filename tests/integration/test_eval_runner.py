"""Evaluations end to end: replayed goldens score 1.0 through `mentor eval --data`, the baseline
is cached, the tiny model runs through the real engine, after_training gates a version.

The data is mentor's own SYLLO rows in both of the users' shapes (``helpers.syllo_rows``); the
same checks on the users' real rows are in ``tests/compat/test_eval_compat.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.replay import replay_backend
from helpers.syllo_rows import ALL_SHAPES, ten_level_rows, three_tier_rows
from mentor import config as config_mod
from mentor.cli import app
from mentor.store import connect, kv
from mentor.store import evals as store

SHAPES = {"three_tier": lambda: three_tier_rows(9), "ten_level": lambda: ten_level_rows(ALL_SHAPES)}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def rows_file(request, tmp_path):
    """(rows, file) of one shape; parametrize indirectly with a key of SHAPES."""
    rows = SHAPES[getattr(request, "param", "three_tier")]()
    return rows, _write(tmp_path / f"syllo_{getattr(request, 'param', 'three_tier')}.jsonl", rows)


def _cli(ws, *args):
    res = CliRunner().invoke(app, ["--home", str(ws.home), *args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


@pytest.mark.parametrize("rows_file", list(SHAPES), indirect=True)
def test_goldens_score_one_through_the_cli(workspace, rows_file):
    rows, path = rows_file
    with replay_backend(rows):
        res = _cli(
            workspace,
            "eval",
            "--model",
            "base",
            "--data",
            str(path),
            "--backend",
            "replay",
            "--json",
        )
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["model"] == "base"
    for metric in ("json_valid", "word_acc", "tiles_valid", "inventory_ok", "solved", "exact"):
        assert data["overall"][metric] == 1.0, metric
    bench = data["benchmarks"][path.stem]
    assert bench["n"] == len(rows)
    assert data["intervals"]["solved"][1] == 1.0
    assert set(bench["tiers"]) == {"easy", "medium", "hard"}
    report = Path(data["report"])
    assert (report / "report.md").is_file() and (report / "report.json").is_file()
    html = (report / "report.html").read_text()
    assert "<script" in html and 'src="http' not in html  # self-contained
    items = (workspace.evals / str(bench["eval_id"]) / "items.jsonl").read_text().splitlines()
    assert len(items) == len(rows)
    ids = [json.loads(line)["item_id"] for line in items]
    want = [r.get("puzzle_id") or r["metadata"]["puzzle_id"] for r in rows]
    assert ids == want  # items keep the rows' own ids (pairing across evaluations)


def test_baseline_is_cached(workspace, rows_file, tiny_model_dir):
    """A second evaluation reuses the stored baseline (no new baseline row, no regeneration)."""
    import shutil

    # a "trained" full-model version: a copy of the base with one byte of config changed
    vdir = workspace.version_dir("v001") / "model"
    shutil.copytree(tiny_model_dir, vdir)
    cfg_json = json.loads((vdir / "config.json").read_text())
    cfg_json["mentor_note"] = "v001"
    (vdir / "config.json").write_text(json.dumps(cfg_json))
    rows, path = rows_file

    def run(model: str, limit: int) -> dict:
        args = ["eval", "--model", model, "--data", str(path), "--backend", "replay"]
        out = _cli(workspace, *args, "--limit", str(limit), "--json").stdout
        return json.loads(out.splitlines()[-1])

    with replay_backend(rows) as calls:
        first = run("v001", 5)
        assert calls == [5, 5]  # candidate + baseline
        second = run("v001", 8)
        assert calls == [5, 5, 8, 3]  # the baseline only meets its 3 new items
        third = run("base", 8)
        assert calls == [5, 5, 8, 3]  # base == the cached baseline: nothing regenerated
    conn = connect(workspace.db)
    evals = store.recent(conn)
    conn.close()
    baselines = [e for e in evals if e.is_baseline]
    assert len(baselines) == 1 and baselines[0].n == 8
    b1 = first["benchmarks"][path.stem]
    b2 = second["benchmarks"][path.stem]
    assert b1["baseline_eval_id"] == b2["baseline_eval_id"] == baselines[0].id
    assert third["benchmarks"][path.stem]["eval_id"] == baselines[0].id
    assert b2["baseline_delta"]["solved"]["delta"] == 0.0
    assert b2["baseline_delta"]["solved"]["n"] == 8


def _adapter(tiny_model_dir, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    pm = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    pm.save_pretrained(out)
    return out


def test_tiny_model_end_to_end_with_adapter(workspace, tiny_model_dir):
    """The real engine: an adapter version on two benchmarks, baseline via disabled adapters."""
    from mentor.evals.runner import evaluate

    _adapter(tiny_model_dir, workspace.version_dir("v002") / "adapter")
    cfg = config_mod.load(workspace.config_file, ["eval.max_new_tokens=8", "model.dtype=float32"])
    res = evaluate(workspace, cfg, "v002", benchmarks=["syllo_easy_100", "syllo_hard_100"], limit=2)
    assert res.version == "v002" and res.adapter_path
    assert set(res.benchmarks) == {"syllo_easy_100", "syllo_hard_100"}
    for b in res.benchmarks.values():
        assert b.n == 2 and b.max_new_tokens == 8 and b.new_tokens > 0
        assert b.baseline_eval_id is not None
        assert "solved" in b.tests and b.tests["solved"].n == 2
    out = res.to_json()
    assert set(out) >= {"model", "overall", "intervals", "benchmarks", "baseline_delta", "report"}
    assert out["benchmarks"]["syllo_hard_100"]["tiers"].keys() == {"hard"}
    conn = connect(workspace.db)
    n_items = conn.execute("SELECT COUNT(*) FROM eval_items").fetchone()[0]
    hashes = {r[0] for r in conn.execute("SELECT model_hash FROM evals WHERE is_baseline = 0")}
    conn.close()
    assert n_items == 8 and len(hashes) == 1


def test_after_training_gates_and_emits_events(workspace, tiny_model_dir):
    from mentor.evals.auto import after_training
    from mentor.store.events import recent

    _adapter(tiny_model_dir, workspace.version_dir("v001") / "adapter")
    cfg = config_mod.load(
        workspace.config_file,
        [
            "eval.max_new_tokens=4",
            "eval.quick_per_tier=2",
            "eval.benchmarks=[syllo_easy_100]",
            "model.dtype=float32",
        ],
    )
    held = three_tier_rows(2)
    res = after_training(workspace, cfg, version="v001", heldout_rows=held, job_id=7)
    assert res.decision.promote and "no serving" in res.decision.reason
    assert res.heldout is not None and res.quick is not None
    assert res.quick.benchmarks["syllo_easy_100"].n == 2
    assert "quick.solved" in res.metrics and "heldout.solved" in res.metrics
    conn = connect(workspace.db)
    kinds = [e.kind for e in recent(conn)]
    assert "eval.finished" in kinds and "gate.promoted" in kinds
    # serving is v001 now; v003 is compared with it on the same quick items
    kv.put(conn, kv.Key.SERVING_VERSION, "v001")
    conn.close()
    _adapter(tiny_model_dir, workspace.version_dir("v003") / "adapter")
    res3 = after_training(workspace, cfg, version="v003", heldout_rows=[], job_id=8)
    assert res3.serving_version == "v001"
    assert res3.decision.n == 2 and res3.decision.promote  # identical adapters: not worse


def test_accuracy_summary_and_test_model(workspace):
    from mentor.store.events import emit

    conn = connect(workspace.db)
    emit(conn, "preview", "probe", step=10, scores={"solved": 0.25, "word_acc": 0.5})
    emit(conn, "preview", "probe", step=20, scores={"solved": 0.75, "word_acc": 1.0})
    conn.close()
    acc = json.loads(_cli(workspace, "accuracy", "--json").stdout.splitlines()[-1])
    assert acc["previews"]["n"] == 2 and acc["previews"]["mean"]["solved"] == 0.5
    assert acc["last_eval"] is None
    # `mentor summary` over a real status snapshot: tests/unit/cli/test_eval.py
    res = _cli(
        workspace, "test-model", "--model", "base", "--prompt", "hello", "--max-new-tokens", "4"
    )
    assert res.exit_code == 0
