"""What training measures: validation loss, the held-out split, the metrics of a short file
(lessons 10 and 12, defect 6)."""

from __future__ import annotations

import json

import pytest
import torch

from mentor.data.chat import ChatRenderer
from mentor.data.tokenize import IGNORE_INDEX, read_jsonl, tokenize_rows
from mentor.data.validate import validate_file
from mentor.store import connect
from mentor.store.lineage import file_rows
from mentor.train import train_file
from mentor.train.lineage import heldout_rows

pytestmark = pytest.mark.slow


def _records(ws, run_id: str) -> list[dict]:
    return [json.loads(x) for x in ws.run_folder(run_id).metrics.read_text().splitlines()]


def test_val_loss_is_every_heldout_row_whole_on_answers_only(
    workspace, train_cfg, syllo_file
) -> None:
    """Lesson 10: the validation loss covers every held-out row (17 here, more than 16), each
    whole (hard puzzles are 400-670 tokens, some longer than 512), counting answer tokens only.
    Lesson 12: the held-out rows, as evaluation gets them, were never trained."""
    cfg = train_cfg(max_length=1024, batch_size=1)
    cfg.data.holdout_max, cfg.data.holdout_fraction = 17, 0.9
    f = syllo_file("v.jsonl", 19, seed=5, tier="hard")
    o = train_file(workspace, cfg, f)
    assert o.status == "completed" and o.rows_total == 2

    # the held-out rows are exactly the rows the ledger does not hold
    conn = connect(workspace.db)
    trained = {r for _, r in file_rows(conn, o.file_hash)}
    parsed = read_jsonl(f)
    held = sorted(set(range(len(parsed.rows))) - trained)
    assert len(trained) == 2 and len(held) == 17
    tokenizer = _tokenizer(workspace, cfg)
    given = heldout_rows(validate_file(workspace, cfg, f, tokenizer=tokenizer), cfg)
    assert given == [json.loads(parsed.raw[i]) for i in held]  # what evaluation scores
    trained_rows = {parsed.raw[i] for i in trained}
    assert not any(json.dumps(r) in trained_rows for r in given)

    # the recorded loss: the final adapter on every held-out row, answer tokens only
    ds = tokenize_rows(ChatRenderer.from_config(tokenizer, cfg.chat), parsed)
    assert max(ds[i]["length"] for i in held) > 512  # longer than what a broken recipe cut to
    model = _trained_model(workspace, cfg)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in held:
            ids = torch.tensor([ds[i]["input_ids"]])
            labels = torch.tensor([ds[i]["labels"]])
            n = int((labels[:, 1:] != IGNORE_INDEX).sum())
            assert n == ds[i]["answer_tokens"] and ds[i]["prompt_tokens"] > 0  # answer only
            total += float(model(input_ids=ids, labels=labels, use_cache=False).loss) * n
            count += n
    last = _records(workspace, o.run_id)[-1]
    assert last["step"] == o.global_step
    assert last["val_loss"] == pytest.approx(total / count, rel=1e-4)
    assert o.metrics["val_loss"] == last["val_loss"]


def test_a_short_file_logs_every_step_once(workspace, train_cfg, syllo_file) -> None:
    """Defect 6: with the default logging_steps (10) a file of 4 steps still leaves a loss
    for each step, the last one included, each step once, with the final validation loss
    in the last step's record."""
    cfg = train_cfg(logging_steps=10, packing=False)  # one row a sequence: 8 rows, 4 steps
    o = train_file(workspace, cfg, syllo_file("s.jsonl", 10))
    assert o.global_step == 4
    recs = _records(workspace, o.run_id)
    assert [r["step"] for r in recs] == [1, 2, 3, 4]
    assert all(r["loss"] is not None and r["loss"] > 0 for r in recs)
    assert "val_loss" in recs[-1] and not any("val_loss" in r for r in recs[:-1])


def _tokenizer(workspace, cfg):
    from mentor.models.loader import load_tokenizer

    return load_tokenizer(cfg.model_path(workspace.home))


def _trained_model(workspace, cfg):
    from peft import PeftModel

    from mentor.models.loader import load_model

    base = load_model(cfg.model_path(workspace.home), dtype="float32", device="cpu")
    return PeftModel.from_pretrained(base, str(workspace.current)).eval()
