"""The forgetting matrix's store, comparison, gate, CLI and dashboard endpoint on a real
``state.db`` (no model: rows are stored as a measured version stores them)."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mentor import config as config_mod
from mentor.cli import app
from mentor.evals.forgetting import PROBE_HASH, FileCheck, compare, gate, probe_rows
from mentor.evals.forgetting_matrix import matrix, page
from mentor.evals.gate import GateDecision
from mentor.serve.dashboard import create_dashboard_app
from mentor.store import connect, transaction
from mentor.store import forgetting as store


def _row(version: str, h: str, name: str, losses: dict[str, float], kind: str = "file", **m):
    mean = sum(losses.values()) / len(losses)
    return store.ForgetRow(1, version, h, name, kind, time.time(), len(losses), mean, losses, m)


def _check(cfg, losses, ref) -> FileCheck:
    c = FileCheck("a" * 64, "a.jsonl", "file", len(losses), sum(losses.values()) / len(losses))
    compare(c, losses, ref, cfg)
    return c


def test_compare_and_gate_refuse_only_a_significant_rise_above_the_margin() -> None:
    cfg = config_mod.Config()
    cfg.forgetting.margin = 0.1
    ref = _row("v001", "a" * 64, "a.jsonl", {f"r{i}": 1.0 + 0.01 * i for i in range(30)})
    up = {k: v + 0.5 + 0.01 * (i % 3) for i, (k, v) in enumerate(ref.row_losses.items())}
    forgot = _check(cfg, up, ref)
    assert forgot.significant and forgot.delta > 0.5 and forgot.ci[0] > 0.4
    assert forgot.ref_version == "v001" and forgot.n == 30
    small = {k: v + 0.05 + 0.01 * (i % 3) for i, (k, v) in enumerate(ref.row_losses.items())}
    assert not _check(cfg, small, ref).significant  # a rise inside the margin
    ok = GateDecision(True, "not worse: solved 0.5 vs 0.4")
    refused = gate([forgot, _check(cfg, small, ref)], cfg, ok)
    assert not refused.promote
    assert refused.reason.startswith("forgot a.jsonl: held-out loss 1.145 (v001) -> ")
    assert f"{forgot.delta:+.3f} nats/token" in refused.reason and "margin 0.1" in refused.reason
    cfg.forgetting.gate = False
    assert gate([forgot], cfg, ok) is ok
    cfg.forgetting.gate = True
    worse = gate([forgot], cfg, GateDecision(False, "significantly worse: solved"))
    assert worse.reason.startswith("significantly worse: solved; forgot a.jsonl")


def test_matrix_cli_and_dashboard(workspace) -> None:
    conn = connect(workspace.db)
    losses = {f"r{i}": 1.0 for i in range(4)}
    probe = {"p1": 3.0, "p2": 3.2}
    with transaction(conn):
        store.put(conn, _row("base", PROBE_HASH, "general probe", probe, "probe"))
        store.put(conn, _row("v001", "a" * 64, "a.jsonl", losses))
        store.put(conn, _row("v001", PROBE_HASH, "general probe", probe, "probe", delta=0.0))
        store.put(conn, _row("v002", "b" * 64, "b.jsonl", losses))
        store.put(
            conn,
            _row("v002", "a" * 64, "a.jsonl", {k: 2.0 for k in losses}, delta=1.0,
                 ci=[0.9, 1.1], significant=True, ref_version="v001"),
        )  # fmt: skip
    assert store.reference(conn, 1, "a" * 64, not_version="v002").version == "v001"
    assert store.reference(conn, 1, PROBE_HASH, not_version="v001").version == "base"
    m = matrix(conn)
    conn.close()
    assert m["versions"] == ["v001", "v002"]
    assert [f["name"] for f in m["files"]] == ["a.jsonl", "b.jsonl", "general probe"]
    assert [f["trained_in"] for f in m["files"]] == ["v001", "v002", "base"]
    assert m["cells"][0][1]["significant"] and m["cells"][0][1]["delta"] == 1.0
    assert m["cells"][1][0] is None and m["cells"][1][1]["delta"] is None
    assert "plotly" in page(m) and "+1.000 [+0.900, +1.100]" in page(m)

    res = CliRunner().invoke(app, ["--home", str(workspace.home), "forgetting", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["versions"] == ["v001", "v002"]
    res = CliRunner().invoke(app, ["--home", str(workspace.home), "forgetting"])
    assert res.exit_code == 0 and "+1.000*" in res.stdout

    client = TestClient(create_dashboard_app(workspace, config_mod.load(workspace.config_file)))
    got = client.get("/api/dash/forgetting")
    assert got.status_code == 200 and got.json()["cells"] == m["cells"]
    assert got.headers["cache-control"] == "no-store"
    assert client.get("/dashboard/forgetting").status_code == 200
    # found by the schema fuzz: an id past SQLite's integer range was a 500 (OverflowError)
    assert client.get("/api/dash/forgetting", params={"lineage": 2**64}).status_code == 400
    assert client.get("/api/dash/forgetting", params={"lineage": 7}).json()["cells"] == []


def test_the_probe_ships_with_the_package() -> None:
    rows = probe_rows(1000)
    assert len(rows) == 128 and len({r["id"] for r in rows}) == 128
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)


def test_heldout_sample_validates_a_file_once(workspace, tiny_model_dir, tmp_path) -> None:
    """The held-out rows a version is scored on are chosen once per file and settings (a
    lineage's every version re-scores up to max_files earlier files)."""
    from mentor.evals.forgetting import heldout_sample
    from mentor.models.loader import load_tokenizer
    from mentor.tasks.syllo.generate import generate

    f = tmp_path / "a.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in generate(20, 3, tier="easy")))
    cfg = config_mod.Config()
    cfg.data.holdout_fraction, cfg.data.holdout_max, cfg.forgetting.rows_per_file = 0.5, 10, 4
    h, rows = heldout_sample(workspace, cfg, f, load_tokenizer(tiny_model_dir))
    assert len(rows) == 4 and len(list((workspace.cache / "forgetting").iterdir())) == 1
    # the second time nothing is validated (no tokenizer needed): the same rows from the cache
    assert heldout_sample(workspace, cfg, f, None) == (h, rows)
    cfg.forgetting.rows_per_file = 2  # another setting is another choice
    assert len(heldout_sample(workspace, cfg, f, load_tokenizer(tiny_model_dir))[1]) == 2
