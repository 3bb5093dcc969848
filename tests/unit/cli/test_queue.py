"""`mentor queue` in-process: add (validated whole), list in run order, move, remove (the file
is kept), retry, and a refused file set aside with its reasons."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mentor.cli import app
from mentor.paths import Workspace

ROW = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}


def write_rows(path: Path, n: int, tag: str = "") -> Path:
    with open(path, "w") as f:
        for i in range(n):
            row = json.loads(json.dumps(ROW))
            row["messages"][0]["content"] = f"{tag} question {i}?"
            f.write(json.dumps(row) + "\n")
    return path


def test_queue_cli_and_priorities(workspace: Workspace, tmp_path: Path) -> None:
    r = CliRunner()
    home = ["--home", str(workspace.home)]
    low = write_rows(tmp_path / "low.jsonl", 2, "l")
    high = write_rows(tmp_path / "high.jsonl", 2, "h")
    assert r.invoke(app, [*home, "queue", "add", str(low), "--priority", "low"]).exit_code == 0
    assert r.invoke(app, [*home, "queue", "add", str(high), "--priority", "high"]).exit_code == 0
    res = r.invoke(app, [*home, "queue", "list", "--json"])
    names = [j["name"] for j in json.loads(res.stdout)["jobs"]]
    assert names == ["high.jsonl", "low.jsonl"]
    assert r.invoke(app, [*home, "queue", "move", "2", "--priority", "low"]).exit_code == 0
    assert r.invoke(app, [*home, "queue", "move", "1", "--priority", "high"]).exit_code == 0
    names = [
        j["name"]
        for j in json.loads(r.invoke(app, [*home, "queue", "list", "--json"]).stdout)["jobs"]
    ]
    assert names == ["low.jsonl", "high.jsonl"]
    res = r.invoke(app, [*home, "queue", "remove", "1"])
    assert res.exit_code == 0, res.output
    assert list(workspace.failed.glob("*low.jsonl"))  # kept, never deleted
    res = r.invoke(app, [*home, "queue", "remove", "1"])
    assert res.exit_code != 0 and "only waiting jobs" in str(res.exception)
    res = r.invoke(app, [*home, "queue", "retry", "1"])
    assert res.exit_code == 0 and "job 1: queued" in res.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    res = r.invoke(app, [*home, "queue", "add", str(bad)])
    assert res.exit_code != 0 and list(workspace.failed.glob("*bad.jsonl.error.json"))
    res = r.invoke(app, [*home, "status", "--json"])
    s = json.loads(res.stdout)
    assert s["state"] == "stopped" and len(s["queue"]) == 2
