"""A shortened ``mentor demo`` through the real path: the daemon (a child process) trains two
files dropped into the inbox, versions and gate them; every artifact exists and the summary's
numbers are the stored evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentor.paths import Workspace
from mentor.store import connect
from mentor.store import evals as store_evals
from mentor.store import versions as store_versions

pytestmark = pytest.mark.slow

SMALL = [
    "training.max_length=512",
    "training.batch_size=2",
    "training.save_steps=50",
    "data.holdout_fraction=0.25",
    "data.holdout_max=2",
    "eval.max_new_tokens=48",
]


def test_short_demo_leaves_every_artifact_and_the_stored_numbers(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from mentor.cli import app

    home = tmp_path / "demo"
    args = ["demo", "--keep", str(home), "--model", str(tiny_model_dir), "--puzzles", "16"]
    args += ["--files", "2", "--heldout", "4", "--no-dashboard", "--json"]
    for o in SMALL:
        args += ["--set", o]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads((home / "demo-summary.json").read_text())
    assert json.loads(res.stdout) == summary

    ws = Workspace(home)
    # two files trained by the daemon, one version each, evaluated and gated
    done = sorted(ws.done.glob("*.jsonl"))  # <timestamp>_<name>
    assert [p.name.split("_", 1)[1] for p in done] == ["syllo_demo_01.jsonl", "syllo_demo_02.jsonl"]
    conn = connect(ws.db)
    try:
        stored = {v.name.split("_")[0]: v for v in store_versions.listing(conn)}  # vNNN_<ts>_<file>
        assert sorted(stored) == ["v001", "v002"]
        assert [v["version"] for v in summary["versions"]] == ["base", "v001", "v002"]
        for v in summary["versions"][1:]:
            assert v["gate"] in ("serving", "refused")  # the gate's word when it was scored
            assert v["step"] and v["step"] > 0
        assert summary["versions"][-1]["gate"] == stored["v002"].status
        # the summary's figures are the stored evaluations of the fixed held-out set
        for v in summary["versions"]:
            row = store_evals.get_eval(conn, v["eval_id"])
            assert row is not None and row.benchmark == "demo_heldout" and row.n == 4
            for m, x in v["metrics"].items():
                assert x == pytest.approx(row.metrics["overall"][m]), m
        first, last = summary["versions"][0], summary["versions"][-1]
        assert summary["before"] == first["metrics"] and summary["after"] == last["metrics"]
        assert set(summary["p_value"]) == {"solved", "word_acc", "json_valid"}
        # the daemon's own evaluation after each file (the files' held-out splits)
        daemon_evals = store_evals.recent(conn, benchmark="heldout", include_baseline=False)
        assert {r.version for r in daemon_evals} == {"v001", "v002"}
    finally:
        conn.close()
    art = summary["artifacts"]
    for key in ("curve", "comparison", "daily_report", "page"):
        assert Path(art[key]).is_file(), key
    page = Path(art["page"]).read_text()
    assert "plotly" in page and "v002" in page
    assert "<script src=" not in page  # self-contained: plotly.js inlined
    cmp = json.loads((ws.reports / "demo-compare.json").read_text())
    assert {m: cmp["p_value"].get(m) for m in summary["p_value"]} == summary["p_value"]
    assert all(t["evaluated"] == {"a": 0, "b": 0} for t in cmp["tasks"])  # stored scores reused
