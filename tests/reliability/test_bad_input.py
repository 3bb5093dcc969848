"""Hostile input through the daemon's real intake: >= 200 generated bad files, each refused with
a ``file:line`` reason in ``data/failed/`` (or, where the input is fine, such as a byte-order
mark or CRLF, queued), nothing outside the workspace read, moved or written, and a real daemon
process that takes a sample of them and keeps running.

The bulk goes in-process through :func:`mentor.daemon.files.admit` (what the daemon calls for
each settled inbox file) and :class:`mentor.daemon.inbox.Inbox` (settling), with the workspace's
real tokenizer; one daemon process then takes a mixed sample from its inbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.reliability import FULL, size
from mentor import config as config_mod
from mentor.daemon import files
from mentor.daemon.inbox import Inbox
from mentor.models.loader import load_tokenizer
from mentor.paths import Workspace
from mentor.store import connect, jobs

pytestmark = pytest.mark.timeout(1800)

GOOD = {
    "messages": [{"role": "user", "content": "2 plus 2?"}, {"role": "assistant", "content": "4"}]
}


def row(**msgs: object) -> str:
    return json.dumps(msgs) + "\n"


def good_line(i: int) -> bytes:
    m = [{"role": "user", "content": f"{i} plus 1?"}, {"role": "assistant", "content": str(i + 1)}]
    return (json.dumps({"messages": m}) + "\n").encode()


def _variants(rng: random.Random, oversize: int) -> list[tuple[str, str, bytes, str]]:
    """(category, file name, bytes, expectation): ``refused`` (with a line), ``refused-file``
    (a reason naming the file, no row to point at) or ``accepted``."""
    out: list[tuple[str, str, bytes, str]] = []
    g = good_line
    line = json.dumps(GOOD)
    for i in range(45):
        cut = rng.randrange(1, len(line) - 1)
        out.append(
            ("truncated JSON", f"trunc{i}.jsonl", g(1) + line[:cut].encode() + b"\n", "refused")
        )
    invalid = [b"\xff", b"\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80", b"\xe2\x82(", b"\xf8\x88"]
    for i in range(21):
        enc = line.encode()
        at = rng.randrange(enc.index(b"2 plus"), len(enc) - 4)
        body = enc[:at] + invalid[i % len(invalid)] + enc[at:] + b"\n"
        out.append(("invalid UTF-8", f"utf{i}.jsonl", g(2) + body, "refused"))
    for i in range(5):
        out.append(("BOM", f"bom{i}.jsonl", b"\xef\xbb\xbf" + g(i) + g(i + 50), "accepted"))
        out.append(
            ("CRLF", f"crlf{i}.jsonl", (g(i) + g(i + 60)).replace(b"\n", b"\r\n"), "accepted")
        )
    for i, blob in enumerate([b"", b"\n", b"\n\n\n", b"   \n\t\n", b"\r\n"]):
        out.append(("empty / 0-byte", f"empty{i}.jsonl", blob, "refused-file"))
    for i in range(30):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 4096)))
        out.append(("binary", f"bin{i}.jsonl", blob, "refused-any"))
    roles = [
        [{"content": "hi"}, {"role": "assistant", "content": "x"}],
        [{"role": "user", "content": "hi"}],
        [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "x"}],
        [{"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}],
        [],
        [{"role": None, "content": "hi"}, {"role": "assistant", "content": "x"}],
        [{"role": "system", "content": "s"}],
    ]
    for i, msgs in enumerate(roles * 3):
        out.append(
            ("missing roles", f"roles{i}.jsonl", g(3) + row(messages=msgs).encode(), "refused")
        )
    contents: list[object] = [1, 2.5, None, ["a"], {"t": "x"}, True]
    for i, c in enumerate(contents * 3):
        m = [{"role": "user", "content": c}, {"role": "assistant", "content": "x"}]
        if i % 2:
            m = [{"role": "user", "content": "q"}, {"role": "assistant", "content": c}]
        out.append(
            ("non-string content", f"content{i}.jsonl", g(4) + row(messages=m).encode(), "refused")
        )
    for i, a in enumerate(["", " ", "\n\n", "\t", "   \n "] * 3):
        m = [{"role": "user", "content": "q"}, {"role": "assistant", "content": a}]
        out.append(("empty answers", f"blank{i}.jsonl", g(5) + row(messages=m).encode(), "refused"))
    shapes = [b"[1, 2]\n", b'"text"\n', b"42\n", b"null\n", b'{"msgs": []}\n', b'{"messages": "hi"}\n',
              b'{"messages": {"role": "user"}}\n', b"{}\n", b"{\n", b"}\n"]  # fmt: skip
    for i, s in enumerate(shapes * 2):
        out.append(("wrong shape", f"shape{i}.jsonl", g(6) + s, "refused"))
    for i, depth in enumerate([2_000, 50_000, 200_000]):
        out.append(
            (
                "deep nesting",
                f"deep{i}.jsonl",
                g(7) + b"[" * depth + b"]" * depth + b"\n",
                "refused",
            )
        )
        nested = '{"messages": ' + '{"a": ' * depth + "1" + "}" * depth + "}\n"
        out.append(("deep nesting", f"deepobj{i}.jsonl", g(7) + nested.encode(), "refused"))
    big = json.dumps({"messages": [{"role": "user", "content": "y" * oversize},
                                   {"role": "assistant", "content": "z"}]})  # fmt: skip
    out.append(("oversize line", "huge.jsonl", g(8) + big.encode() + b"\n", "refused"))
    for i, name in enumerate(["with space.jsonl", "ünï cödé ✓.jsonl", "a..b.jsonl", "x .. y.jsonl",
                              "дані.jsonl", "名前.jsonl", "tab\tname.jsonl", "quote'\".jsonl"]):  # fmt: skip
        out.append(("odd names", name, g(100 + i) + g(200 + i), "accepted"))
    return out


RARE = {"oversize line", "deep nesting", "BOM", "odd names"}


def _tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _check_refusal(ws: Workspace, job: jobs.Job, expect: str) -> str:
    """Why a refused job's record is not as promised (empty when it is)."""
    if job.state != "failed":
        return f"{job.name}: state {job.state}, expected refused"
    reports = [
        p for p in ws.failed.glob("*.error.json") if json.loads(p.read_text())["job_id"] == job.id
    ]
    if len(reports) != 1:
        return f"{job.name}: {len(reports)} error reports in data/failed"
    reasons = json.loads(reports[0].read_text())["reasons"]
    flat = files.flat_name(job.name)
    if not reasons or not all(flat in r or job.name in r for r in reasons):
        return f"{job.name}: a reason does not name the file: {reasons[:2]}"
    lined = [r for r in reasons if re.search(re.escape(job.name) + r":\d+", r)]
    if expect == "refused" and not lined:
        return f"{job.name}: no file:line reason: {reasons[:2]}"
    if any("validation failed" in r for r in reasons):
        return f"{job.name}: validation crashed: {reasons[:2]}"
    return ""


def test_bad_inputs_refused_with_reasons_and_nothing_outside_touched(
    workspace: Workspace, tmp_path: Path, tally
) -> None:
    ws = workspace
    rng = random.Random(18)
    cfg = config_mod.load(ws.config_file)
    tok = load_tokenizer(cfg.model_path(ws.home))
    conn = connect(ws.db)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_bytes(good_line(9) * 3)
    (outside / "dir").mkdir()
    (outside / "dir" / "inner.jsonl").write_bytes(good_line(10) * 3)
    before = _tree_digest(outside)
    secret_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in outside.rglob("*.jsonl")}

    cases = _variants(rng, size(2_000_000, 100_000_000))
    if not FULL:  # the default suite: a few of each kind
        cases = [c for i, c in enumerate(cases) if i % 9 == 0 or c[0] in RARE]
    for i in range(size(0, 2000)):  # thousands of files at once (full run)
        cases.append(
            ("thousands at once", f"many/m{i:05d}.jsonl", good_line(i) + b"{bad\n", "refused")
        )
    # a file without a final newline (binary, truncated) is taken after the grace window
    inbox = Inbox(ws.inbox, settle_seconds=1.0, incomplete_grace_seconds=2.0)
    for _, name, blob, _ in cases:
        p = ws.inbox / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
    links = {
        "link-out.jsonl": outside / "secret.jsonl",
        "link-dangling.jsonl": outside / "gone.jsonl",
    }
    for name, target in links.items():
        os.symlink(target, ws.inbox / name)
        cases.append(("symlinks outside the inbox", name, b"", "refused-file"))
    os.symlink(outside / "dir", ws.inbox / "linkdir")  # a linked folder: never walked
    os.symlink(outside / "secret.jsonl", ws.inbox / "sub-link.jsonl")
    cases.append(("symlinks outside the inbox", "sub-link.jsonl", b"", "refused-file"))
    # hidden and partial names are left alone by rule
    for name in (".hidden.jsonl", "x.jsonl.part", "../escape.jsonl"[3:] + ".tmp"):
        (ws.inbox / name).write_bytes(good_line(1))

    # a file still being written is not taken until it settles
    growing = ws.inbox / "growing.jsonl"
    growing.write_bytes(good_line(1))
    t = 1000.0
    assert inbox.settled(t) == []  # first sight of everything
    with open(growing, "ab") as f:
        f.write(b'{"messages": [{"role": "user", "content": "half')
    seen = {p.name for p in inbox.settled(t + 1.5)}
    assert "growing.jsonl" not in seen  # changed since: not settled
    with open(growing, "ab") as f:
        f.write(b'"}, {"role": "assistant", "content": "ok"}]}\n')
    assert "growing.jsonl" not in {p.name for p in inbox.settled(t + 2.0)}
    settled = inbox.settled(t + 3.5)
    taken = {inbox.rel(p) for p in settled}
    cases.append(("files still being written", "growing.jsonl", b"", "accepted"))
    assert "growing.jsonl" in taken
    assert not {".hidden.jsonl", "x.jsonl.part", "linkdir/inner.jsonl"} & taken

    t0 = time.monotonic()
    by_name: dict[str, jobs.Job] = {}
    for p in settled:
        rel = inbox.rel(p)
        by_name[rel] = files.admit(ws, cfg, conn, p, name=rel, priority=1, tokenizer=lambda: tok)
    for name in links:  # dangling links are no files: never settled, never read
        if name not in by_name and (ws.inbox / name).is_symlink():
            p = ws.inbox / name
            by_name[name] = files.admit(
                ws, cfg, conn, p, name=name, priority=1, tokenizer=lambda: tok
            )
    intake_s = time.monotonic() - t0

    problems = []
    per_cat: dict[str, list[int]] = {}
    for cat, name, _, expect in cases:
        job = by_name.get(name)
        if job is None:
            problems.append(f"{name}: never taken")
            continue
        job = jobs.get(conn, job.id)
        why = (
            ("" if job.state == "queued" else f"{name}: {job.state}: {job.error}")
            if expect == "accepted"
            else _check_refusal(ws, job, expect)
        )
        per_cat.setdefault(cat, [0, 0])
        per_cat[cat][0] += 1
        per_cat[cat][1] += not why
        if why:
            problems.append(why)
    assert not problems, "\n".join(problems[:30])
    assert len(cases) >= size(30, 200)
    # nothing outside the workspace read (no job hashed it), moved or written
    assert _tree_digest(outside) == before
    assert not {j.file_hash for j in by_name.values()} & secret_hashes
    assert (outside / "secret.jsonl").is_file() and (outside / "dir" / "inner.jsonl").is_file()
    assert not list(ws.inbox.rglob("*.jsonl.error.json"))
    print(f"\n{len(cases)} bad inputs in {intake_s:.1f} s: " + ", ".join(
        f"{c} {h}/{n}" for c, (n, h) in per_cat.items()))  # fmt: skip
    for cat, (n, h) in per_cat.items():
        tally("input", cat, tried=n, held=h)
    conn.close()


OVR = ["daemon.settle_seconds=0.3", "daemon.poll_seconds=0.2", "daemon.min_free_gib=0",
       "daemon.snapshot_at=null", "eval.full_when_idle=false", "daemon.backoff_seconds=0"]  # fmt: skip


@pytest.mark.reliability_full
def test_a_daemon_process_takes_bad_files_and_keeps_running(
    workspace: Workspace, tmp_path: Path, tally
) -> None:
    """A sample of the bad inputs dropped on a running daemon (paused, so nothing trains):
    every one is set aside with its reason, the daemon stays up and answers ``status``."""
    ws = workspace
    rng = random.Random(7)
    sample = [c for c in _variants(rng, 300_000) if c[3] != "accepted"]
    sample = rng.sample(sample, size(12, len(sample)))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_bytes(good_line(1))
    before = _tree_digest(outside)
    mentor = [sys.executable, "-m", "mentor", "--home", str(ws.home)]
    assert subprocess.run([*mentor, "pause"], capture_output=True, timeout=120).returncode == 0
    cmd = [*mentor, "daemon"] + [a for o in OVR for a in ("--set", o)]
    with open(ws.logs / "d.err", "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        for _, name, blob, _ in sample:
            (ws.inbox / name).write_bytes(blob)
        os.symlink(outside / "secret.jsonl", ws.inbox / "link.jsonl")
        want = len(sample) + 1
        deadline = time.time() + 300
        conn = connect(ws.db)

        def settled() -> bool:
            listed = jobs.listing(conn)
            return len(listed) >= want and all(j.state != "validating" for j in listed)

        while not settled():
            assert proc.poll() is None, "the daemon stopped"
            assert time.time() < deadline, f"{len(jobs.listing(conn))}/{want} taken"
            time.sleep(0.3)
        listed = jobs.listing(conn)
        conn.close()
        assert proc.poll() is None
        status = subprocess.run(
            [*mentor, "status", "--json"], capture_output=True, text=True, timeout=120
        )
        assert status.returncode == 0, status.stderr
    finally:
        subprocess.run([*mentor, "stop"], capture_output=True, timeout=120)
        try:
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert all(j.state == "failed" for j in listed), [(j.name, j.state) for j in listed]
    assert len(list(ws.failed.glob("*.error.json"))) == want
    assert _tree_digest(outside) == before
    tally("input", "sample through a daemon process", tried=want, held=want)
