"""The demo's small parts: SIGTERM unwinds (so the daemon is stopped), files reach the inbox in
one rename, the evaluation cap fits every demo answer."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mentor.demo.run import _exit_on_sigterm, answer_cap, drop
from mentor.paths import Workspace
from mentor.tasks.syllo.generate import generate


def test_sigterm_unwinds_inside_and_the_old_handler_is_back_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(SystemExit) as err, _exit_on_sigterm():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here, in the main thread
        finally:
            cleaned.append(True)  # what stops the daemon runs on the way out
    assert err.value.code == 128 + signal.SIGTERM and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) == before


def test_drop_leaves_no_part_file_and_the_same_bytes(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.inbox.mkdir(parents=True)
    src = tmp_path / "a.jsonl"
    src.write_text('{"text": "x"}\n')
    drop(ws, src)
    assert [p.name for p in ws.inbox.iterdir()] == ["a.jsonl"]
    assert (ws.inbox / "a.jsonl").read_bytes() == src.read_bytes()


def test_answer_cap_fits_every_answer_with_margin(tiny_model_dir: Path) -> None:
    from mentor.models.loader import load_tokenizer

    rows = generate(40, 3, tier="easy", vocab_size=150)
    cap = answer_cap(tiny_model_dir, rows)
    tok = load_tokenizer(tiny_model_dir)
    longest = max(
        len(tok(m["content"], add_special_tokens=False)["input_ids"])
        for r in rows
        for m in r["messages"]
        if m["role"] == "assistant"
    )
    assert longest * 1.25 < cap < 512
