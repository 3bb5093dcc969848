"""Packed examples stay apart: logits of an example do not change when another is packed before it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from mentor.data.packing import Pack, PackedCollator, one_per_pack, pack_greedy, packing_supported


def test_pack_greedy_contiguous_and_bounded() -> None:
    lengths = [5, 4, 3, 8, 2, 2, 9]
    order = [6, 0, 1, 2, 3, 4, 5]
    packs = pack_greedy(order, lengths, max_length=10, offset=100)
    assert [p.rows for p in packs] == [(6,), (0, 1), (2,), (3, 4), (5,)]
    assert packs[0].start == 100 and packs[-1].end == 107
    for a, b in itertools.pairwise(packs):
        assert a.end == b.start
    assert all(sum(lengths[r] for r in p.rows) <= 10 for p in packs)
    # packing from a saved position reproduces the later packs
    again = pack_greedy(order[3:], lengths, max_length=10, offset=103)
    assert again == [p for p in packs if p.start >= 103]
    assert one_per_pack([3, 4], offset=2) == [Pack((3,), 2, 3), Pack((4,), 3, 4)]
    with pytest.raises(ValueError):
        pack_greedy([6], lengths, max_length=8)


def test_backends() -> None:
    assert packing_supported("sdpa") and packing_supported("eager")
    assert not packing_supported("some_kernel")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_logits_unchanged_by_packed_neighbour(tiny_model_dir: Path, attn: str) -> None:
    from mentor.models.loader import load_model

    model = load_model(tiny_model_dir, dtype="float32", device="cpu", attn_implementation=attn)
    g = torch.Generator().manual_seed(0)
    a = torch.randint(10, 1000, (37,), generator=g).tolist()
    b = torch.randint(10, 1000, (23,), generator=g).tolist()
    collate = PackedCollator(pad_id=0)
    alone = collate([{"segments": [(b, [-100] * len(b))], "rows": (1,), "start": 0, "end": 1}])
    packed = collate(
        [
            {
                "segments": [(a, [-100] * len(a)), (b, [-100] * len(b))],
                "rows": (0, 1),
                "start": 0,
                "end": 2,
            }
        ]
    )
    with torch.no_grad():
        la = model(
            input_ids=alone["input_ids"], position_ids=alone["position_ids"], use_cache=False
        ).logits
        lp = model(
            input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False
        ).logits
        # what the pitfall looks like: an all-ones mask lets b attend to a
        leak = model(
            input_ids=packed["input_ids"],
            position_ids=packed["position_ids"],
            attention_mask=torch.ones_like(packed["input_ids"]),
            use_cache=False,
        ).logits
    n = len(b)
    iso = la[0, :n]
    got = lp[0, len(a) : len(a) + n]
    assert torch.allclose(iso, got, atol=1e-5), (iso - got).abs().max()
    assert (iso - leak[0, len(a) : len(a) + n]).abs().max() > 1e-3


def test_first_fit_decreasing_windows_fill_packs_and_keep_positions_exact() -> None:
    from mentor.data.packing import arrange_for_packing

    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(285, 982, (600,), generator=g).tolist()
    order = torch.randperm(600, generator=g).tolist()
    arranged = arrange_for_packing(order, lengths, 1024, window=128)
    # the same rows, none leaving its window of the seeded order
    assert sorted(arranged) == sorted(order)
    for w0 in range(0, 600, 128):
        assert set(arranged[w0 : w0 + 128]) == set(order[w0 : w0 + 128])

    def fill(packs: list[Pack]) -> float:
        return sum(lengths[r] for p in packs for r in p.rows) / (1024 * len(packs))

    packs = pack_greedy(arranged, lengths, 1024)
    assert fill(packs) > fill(pack_greedy(order, lengths, 1024)) + 0.1
    # resuming at any pack boundary packs the rest exactly as before
    cut = packs[7].start
    assert pack_greedy(arranged[cut:], lengths, 1024, offset=cut) == packs[7:]


def test_no_target_crosses_an_example_boundary(tiny_model_dir: Path) -> None:
    """Defect 2: the last token of an example is never trained to predict the next example's
    first token, whatever the row kind (plain ``text`` rows are trained from their first token),
    in packed batches, in the flattened path and in padded batches. Examples are built as
    training builds them: tokenized rows -> packs -> the collator."""
    from mentor.data.chat import ChatRenderer, messages_from_row
    from mentor.data.packing import (
        PackDataset,
        PaddedCollator,
        flatten_trained_positions,
    )
    from mentor.data.tokenize import IGNORE_INDEX, ParsedFile, tokenize_rows
    from mentor.models.loader import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a b"}]}
    raw = [{"text": "one two three"}, {"text": "four five"}, chat, {"text": "six"}] * 2
    rows = [messages_from_row(r, f"x:{i}") for i, r in enumerate(raw)]
    parsed = ParsedFile(Path("x.jsonl"), "0" * 64, rows=rows, lines=list(range(1, 9)))
    ds = tokenize_rows(ChatRenderer(tok), parsed)
    ids, labels = ds["input_ids"], ds["labels"]
    data = PackDataset([Pack((0, 1, 2, 3), 0, 4), Pack((4, 5, 6, 7), 4, 8)], ids, labels)
    batch = PackedCollator(tok.pad_token_id)([data[0], data[1]])
    pos, targets = batch["position_ids"], batch["labels"][:, 1:]
    assert not (targets[pos[:, 1:] == 0] != IGNORE_INDEX).any()  # nothing predicts a start
    # every target inside an example is still trained: all but the first token of a text row
    within = sum(sum(1 for x in lab[1:] if x != IGNORE_INDEX) for lab in labels)
    assert int((targets != IGNORE_INDEX).sum()) == within
    assert within == sum(len(x) - 1 for x, r in zip(ids, raw, strict=True) if "text" in r) + 2 * (
        sum(1 for x in labels[2] if x != IGNORE_INDEX)
    )
    flat = flatten_trained_positions(batch)
    keep = flat["logits_to_keep"]
    assert (batch["position_ids"].reshape(-1)[keep + 1] != 0).all()
    assert len(keep) == within
    padded = PaddedCollator(tok.pad_token_id)([data[0]])
    assert (padded["labels"][:, 0] == IGNORE_INDEX).all()
