"""``mentor validate`` as a user meets it: it checks only, and estimates time before anything
was trained."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mentor.cli import app
from mentor.paths import Workspace


def _tree(root: Path) -> dict[str, bytes]:
    """Every file's bytes; SQLite's -wal/-shm files (a reader may open them) are left out:
    state.db itself must not change."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def test_validate_writes_nothing_and_estimates_from_a_micro_benchmark(
    workspace: Workspace, tmp_path: Path
) -> None:
    row = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    long = {"messages": [{"role": "user", "content": "word " * 300}, row["messages"][1]]}
    f = tmp_path / "f.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in [row] * 4 + [long]))
    args = ["--home", str(workspace.home), "validate", str(f), "--json"]
    args += ["--on-overlength", "drop", "--set", "training.max_length=64"]
    before = _tree(workspace.home)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["overlength_count"] == 1 and rep["quarantine"] is None
    assert rep["est_seconds"] > 0 and rep["tokens_per_s"] > 0
    assert rep["tokens_per_s_source"].startswith("micro-benchmark (3 steps")
    after = _tree(workspace.home)
    cache = "data/cache/throughput.json"
    assert set(after) - set(before) == {cache}  # the benchmark's cache, nothing else
    assert {k: v for k, v in after.items() if k != cache} == before
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert again["tokens_per_s_source"] == "micro-benchmark (cached)"
    assert again["tokens_per_s"] == rep["tokens_per_s"]
