"""The forgetting matrix end to end (issue 15): file A, then a disjoint file B, on the tiny model,
with and without replay: A's held-out loss rises in the matrix, replay reduces the rise, and the
gate refuses the version that forgot A, naming it and the size of the loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mentor.evals import forgetting
from mentor.evals.forgetting_matrix import matrix
from mentor.evals.gate import GateDecision
from mentor.evals.runner import eval_engine
from mentor.paths import Workspace
from mentor.store import connect
from mentor.tasks.syllo.lexicon import load_lexicon
from mentor.train import train_file

pytestmark = pytest.mark.slow


def reverse_file(path: Path, n: int) -> Path:
    """A chat task with nothing of SYLLO in it: spell a word backwards."""
    words = sorted(w for w in load_lexicon() if w.isalpha() and 5 <= len(w) <= 9)[:n]
    rows = [
        {
            "id": f"rev-{i}",
            "messages": [
                {"role": "user", "content": f'Spell "{w}" backwards.'},
                {"role": "assistant", "content": w[::-1]},
            ],
        }
        for i, w in enumerate(words)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _after(ws: Workspace, cfg, version: str) -> GateDecision:
    engine = eval_engine(cfg.model_path(ws.home), ws.current, cfg)
    return forgetting.after_version(
        ws, cfg, version=version, weights=ws.current, engine=engine,
        decision=GateDecision(True, "not worse on the quick benchmarks"),
    )  # fmt: skip


def _a_cell(ws: Workspace, version: str) -> dict:
    conn = connect(ws.db)
    try:
        m = matrix(conn)
    finally:
        conn.close()
    row = [f["name"] for f in m["files"]].index("a.jsonl")
    return m["cells"][row][m["versions"].index(version)]


def test_a_then_b_forgets_a_replay_reduces_it_and_the_gate_refuses(
    workspace, tmp_path, train_cfg, syllo_file
) -> None:
    cfg = train_cfg(packing=False, epochs_per_file=2, batch_size=4, learning_rate=3e-3)
    cfg.training.replay_fraction = 0.0  # the plain run (the default replays a quarter)
    cfg.data.holdout_fraction, cfg.data.holdout_max = 0.4, 8
    cfg.eval.max_new_tokens = 8  # the SYLLO sample's metrics are computed, not what they say
    cfg.forgetting.sample, cfg.forgetting.probe_rows, cfg.forgetting.margin = 2, 8, 0.02
    a = shutil.move(syllo_file("a.jsonl", 16, seed=1), workspace.inbox / "a.jsonl")
    b = reverse_file(workspace.inbox / "b.jsonl", 30)

    assert train_file(workspace, cfg, a).status == "completed"
    assert _after(workspace, cfg, "v001").promote  # nothing earlier to forget
    shutil.move(a, workspace.done / "20260101-000000_a.jsonl")  # archived, as the daemon does
    replay_ws = Workspace(tmp_path / "replay")
    shutil.copytree(workspace.home, replay_ws.home)
    b_replay = replay_ws.inbox / "b.jsonl"

    # B hard enough to move A: the scaffold tokenizer gives SYLLO's fixed text tokens of its
    # own, which B never uses, so B needs more steps at a higher rate than A
    cfg.training.epochs_per_file, cfg.training.learning_rate = 4, 1e-2
    assert train_file(workspace, cfg, b).status == "completed"
    plain = _after(workspace, cfg, "v002")
    cell = _a_cell(workspace, "v002")
    assert cell["ref_version"] == "v001" and cell["delta"] > cfg.forgetting.margin
    assert cell["significant"] and cell["ci"][0] > 0
    assert cell["metrics"].keys() >= {"json_valid", "word_acc", "solved"}  # SYLLO sample
    assert not plain.promote
    assert plain.reason.startswith("forgot a.jsonl: held-out loss")
    assert f"{cell['delta']:+.3f} nats/token" in plain.reason

    cfg.training.replay_fraction = 0.5
    assert train_file(replay_ws, cfg, b_replay).status == "completed"
    _after(replay_ws, cfg, "v002")
    replayed = _a_cell(replay_ws, "v002")
    assert replayed["delta"] < cell["delta"]  # replay reduces the rise


def test_a_full_fine_tune_is_measured_against_the_untrained_base(
    workspace, train_cfg, syllo_file
) -> None:
    """A full fine-tune keeps its lineage state beside its weights (no adapter): the version is
    still measured, and the probe's base is the untrained model, not the trained one."""
    cfg = train_cfg(packing=False, method="full")
    cfg.data.holdout_fraction, cfg.data.holdout_max = 0.4, 4
    cfg.forgetting.sample, cfg.forgetting.probe_rows = 0, 4
    a = shutil.move(syllo_file("a.jsonl", 8, seed=1), workspace.inbox / "a.jsonl")
    assert train_file(workspace, cfg, a).status == "completed"
    assert not (workspace.current / "adapter_config.json").exists()
    engine = eval_engine(workspace.current, None, cfg)  # the whole trained model
    forgetting.after_version(
        workspace, cfg, version="v001", weights=workspace.current, engine=engine,
        decision=GateDecision(True, "-"),
    )  # fmt: skip
    assert _a_cell(workspace, "v001")["n"] > 0  # A's held-out rows scored
    conn = connect(workspace.db)
    try:
        m = matrix(conn)
    finally:
        conn.close()
    probe = m["cells"][[f["name"] for f in m["files"]].index(forgetting.PROBE_NAME)][0]
    assert probe["ref_version"] == "base" and abs(probe["delta"]) > 1e-4
