"""Ordered schema migrations of ``state.db``. Append new ones; never edit an applied one."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial",
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            level TEXT NOT NULL DEFAULT 'info',
            job_id INTEGER,
            version TEXT,
            message TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_kind_ts ON events(kind, ts);
        CREATE INDEX events_ts ON events(ts);

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL,
            name TEXT NOT NULL,
            file_hash TEXT,
            priority INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before REAL NOT NULL DEFAULT 0,
            error TEXT,
            rows_total INTEGER,
            rows_done INTEGER NOT NULL DEFAULT 0,
            run_id TEXT,
            version TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        );
        CREATE INDEX jobs_state ON jobs(state, priority, id);

        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            job_id INTEGER,
            kind TEXT NOT NULL DEFAULT 'train',
            status TEXT NOT NULL DEFAULT 'running',
            dir TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            summary TEXT NOT NULL DEFAULT '{}'
        );

        CREATE TABLE lineages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            base_path TEXT NOT NULL,
            base_hash TEXT,
            created_at REAL NOT NULL,
            ended_at REAL,
            end_reason TEXT
        );

        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lineage_id INTEGER,
            file_hash TEXT NOT NULL,
            row_index INTEGER NOT NULL,
            step INTEGER NOT NULL,
            run_id TEXT,
            ts REAL NOT NULL
        );
        CREATE INDEX ledger_file ON ledger(file_hash, row_index);

        CREATE TABLE versions (
            name TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            parent TEXT,
            lineage_id INTEGER,
            kind TEXT NOT NULL DEFAULT 'adapter',
            status TEXT NOT NULL DEFAULT 'candidate',
            description TEXT NOT NULL DEFAULT '',
            metrics TEXT NOT NULL DEFAULT '{}'
        );

        CREATE TABLE evals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            model_ref TEXT NOT NULL,
            model_hash TEXT NOT NULL,
            version TEXT,
            benchmark TEXT NOT NULL,
            bench_version TEXT NOT NULL,
            n INTEGER NOT NULL,
            is_baseline INTEGER NOT NULL DEFAULT 0,
            metrics TEXT NOT NULL DEFAULT '{}',
            path TEXT
        );
        CREATE INDEX evals_model ON evals(model_hash, benchmark, bench_version);

        CREATE TABLE eval_items (
            eval_id INTEGER NOT NULL REFERENCES evals(id) ON DELETE CASCADE,
            item_id TEXT NOT NULL,
            tier TEXT,
            output TEXT NOT NULL,
            scores TEXT NOT NULL,
            PRIMARY KEY (eval_id, item_id)
        );

        CREATE TABLE backups (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            path TEXT NOT NULL,
            verified_at REAL
        );

        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        "forgetting",
        """
        CREATE TABLE forgetting (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lineage_id INTEGER NOT NULL,
            version TEXT NOT NULL,
            file_hash TEXT NOT NULL,
            file_name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'file',
            created_at REAL NOT NULL,
            n INTEGER NOT NULL,
            loss REAL,
            row_losses TEXT NOT NULL DEFAULT '{}',
            metrics TEXT NOT NULL DEFAULT '{}',
            UNIQUE (lineage_id, version, file_hash)
        );
        CREATE INDEX forgetting_file ON forgetting(lineage_id, file_hash, id);

        ALTER TABLE ledger ADD COLUMN replay INTEGER NOT NULL DEFAULT 0;
        """,
    ),
]
