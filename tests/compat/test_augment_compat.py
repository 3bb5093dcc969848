"""The users' own SYLLO rows augment cleanly (needs ../shared/origin-data; skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path

from mentor.config import AugmentConfig
from mentor.data.augment import augment_file
from mentor.tasks.syllo.augment import check_row


def test_users_sample_files_augment_cleanly(origin_data: Path, tmp_path: Path) -> None:
    for name in ("syllo_3tier_sample.jsonl", "syllo_10level_sample.jsonl"):
        dst = tmp_path / name
        rep = augment_file(origin_data / name, dst, AugmentConfig(factor=5, seed=1))
        assert rep.rows_in == rep.originals and rep.augmented >= 4 * rep.rows_in
        rows = [json.loads(x) for x in dst.read_text().splitlines()]
        assert all(check_row(r) is None for r in rows)
