import sqlite3
from pathlib import Path

import pytest

from mentor.store import connect, events, migrate, transaction
from mentor.store.migrations import MIGRATIONS


def test_migrations_apply_once_in_order(tmp_path: Path):
    conn = connect(tmp_path / "state.db")
    assert migrate(conn) == len(MIGRATIONS)
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert migrate(connect(tmp_path / "state.db", migrate_schema=False)) == len(MIGRATIONS)


def test_transaction_rolls_back(tmp_path: Path):
    conn = connect(tmp_path / "state.db")
    with pytest.raises(sqlite3.IntegrityError), transaction(conn):
        events.emit(conn, "a")
        conn.execute("INSERT INTO kv (key, value) VALUES ('k', 'v')")
        conn.execute("INSERT INTO kv (key, value) VALUES ('k', 'v')")
    assert events.recent(conn) == []


def test_events_round_trip(tmp_path: Path):
    conn = connect(tmp_path / "state.db")
    events.emit(conn, "job.started", "go", job_id=3, file="a.jsonl")
    events.emit(conn, "alert", "hot", level="warning")
    got = events.recent(conn, kinds=["job.started"])
    assert len(got) == 1 and got[0].data == {"file": "a.jsonl"} and got[0].job_id == 3


def test_atomic_writes_from_several_threads_never_collide(tmp_path: Path):
    import json
    import threading

    from mentor.paths import atomic_write_json

    target = tmp_path / "status.json"
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(200):
                atomic_write_json(target, {"writer": n, "i": i})
        except BaseException as err:  # a lost temp file shows up here
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(target.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left behind
