"""What a refused file's ``error.json`` and the daemon's log say (daemon/files.py, service.py):
every reason once, readable, naming what a daemon user changes."""

from __future__ import annotations

import json
import logging

import pytest

from mentor.paths import Workspace


def _admit(ws: Workspace, name: str, text: str, **cfg_fields):
    from mentor import config as config_mod
    from mentor.daemon import files
    from mentor.models.loader import load_tokenizer
    from mentor.store import connect

    cfg = config_mod.load(ws.config_file)
    for key, value in cfg_fields.items():
        setattr(cfg.training, key, value)
    src = ws.inbox / name
    src.write_text(text)
    conn = connect(ws.db)
    try:
        job = files.admit(
            ws,
            cfg,
            conn,
            src,
            name=name,
            priority=1,
            tokenizer=lambda: load_tokenizer(cfg.model_path(ws.home)),
        )
    finally:
        conn.close()
    (err,) = ws.failed.glob(f"*{name}.error.json")
    return job, json.loads(err.read_text())


def test_bad_json_reasons_are_listed_once_and_read_well(workspace: Workspace) -> None:
    good = json.dumps(
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    )
    job, err = _admit(workspace, "bad.jsonl", f'{good}\n{{"messages": "cut\n{{"x": \n')
    assert job.state == "failed"
    reasons = err["reasons"]
    assert len(reasons) == len(set(reasons)) == 2, reasons
    assert reasons[0].startswith("bad.jsonl:2: not valid JSON") and "(and 1 more)" in reasons[0]
    assert reasons[1].startswith("bad.jsonl:3: not valid JSON")
    assert not any("at at" in r for r in reasons)


def test_overlength_hint_names_the_config_keys(workspace: Workspace) -> None:
    long = "word " * 200
    row = {"messages": [{"role": "user", "content": long}, {"role": "assistant", "content": "b"}]}
    job, err = _admit(workspace, "long.jsonl", json.dumps(row) + "\n", max_length=16)
    (reason,) = err["reasons"]
    assert "training.max_length" in reason and "data.on_overlength" in reason
    assert "--on-overlength" not in reason and job.error == reason


def test_daemon_log_says_why_a_file_failed(
    fake_ws: Workspace, kit, caplog: pytest.LogCaptureFixture
) -> None:
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        (fake_ws.inbox / "bad.jsonl").write_text("not json\n")
        with caplog.at_level(logging.INFO, logger="mentor.daemon.service"):
            kit.drive(d, lambda: bool(kit.jobs(fake_ws)))
    finally:
        d.close()
    line = next(r.getMessage() for r in caplog.records if "-> job" in r.getMessage())
    assert "(failed: bad.jsonl:1: not valid JSON" in line


def test_inbox_augmentation_trains_the_copy_and_keeps_the_original(fake_ws: Workspace, kit) -> None:
    """data.augment.enabled: the daemon trains an augmented copy (every row of it reaches the
    ledger); the dropped file is kept byte for byte in data/done."""
    from mentor.paths import sha256_file

    extra = [
        "data.augment.enabled=true",
        "data.augment.ops=[system_prompt]",
        "data.augment.system_prompts=[Answer briefly.]",
    ]
    d = kit.make_daemon(fake_ws, extra=extra)
    d.start()
    try:
        src = kit.write_rows(fake_ws.data / "orig.jsonl", 3)
        dropped = src.read_bytes()
        (fake_ws.inbox / "a.jsonl").write_bytes(dropped)
        kit.drive(d, lambda: [j["state"] for j in kit.jobs(fake_ws)] == ["done"])
    finally:
        d.close()
    (job,) = kit.jobs(fake_ws)
    assert job["rows_total"] == 6 and job["path"].endswith(".augmented.jsonl")
    (original,) = fake_ws.done.glob("*_a.original.jsonl")
    assert original.read_bytes() == dropped
    trained = __import__("pathlib").Path(job["path"])
    rows = [json.loads(x) for x in trained.read_text().splitlines()]
    assert sum(r["messages"][0]["role"] == "system" for r in rows) == 3
    assert sorted(r for h, r in kit.ledger(fake_ws) if h == sha256_file(trained)) == list(range(6))
    assert "job_augmented" in kit.kinds(fake_ws)
