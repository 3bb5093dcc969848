"""SYLLO augmentation: every op keeps the golden answer right, by seed, without benchmark puzzles.

Each copy is checked three ways: ``check_row`` (``mentor syllo check``), the scorer against its own
golden, and the scorer *without* the golden (words judged from the lexicon and the bank alone), so
a copy whose answer no longer fits its puzzle cannot pass. Op-specific checks compare each copy
with its source puzzle.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mentor.config import AUGMENT_OPS, AugmentConfig
from mentor.data.augment import augment_file, augment_rows
from mentor.errors import ConfigError
from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.augment import OPS, check_row, read_row
from mentor.tasks.syllo.bench import find_contamination, load_benchmark, row_golden, row_prompt
from mentor.tasks.syllo.generate import generate, leaks
from mentor.tasks.syllo.lexicon import load_lexicon
from mentor.tasks.syllo.parse import parse_prompt
from mentor.tasks.syllo.score import extract_json, extract_solutions, score


@cache
def _source() -> tuple[dict[str, Any], ...]:
    """Three tiers, ten levels with answer shapes: every clue form and shape the format has."""
    rows = generate(6, 11, tier="mixed") + generate(10, 12, tier="levels", variants=True)
    return tuple(rows)


def _answers(row: dict[str, Any]) -> list[str]:
    sols, _ = extract_solutions(extract_json(row_golden(row) or ""))
    return [s.word for s in sorted(sols, key=lambda s: s.index)]


def _copies(ops: list[str], factor: int = 2, seed: int = 0) -> list[tuple[dict, dict]]:
    """(source, copy) pairs of one run."""
    cfg = AugmentConfig(ops=ops, factor=factor, seed=seed, keep_original=False)
    out, rep = augment_rows(list(_source()), cfg)
    by_id = {r["metadata"]["puzzle_id"]: r for r in _source()}
    assert rep.augmented == len(out) > 0
    return [(by_id[c["metadata"]["augment"]["source_id"]], c) for c in out]


def _one_edit(a: str, b: str) -> bool:
    """b is a with one letter dropped, doubled, or two neighbours swapped."""
    if len(b) == len(a) - 1:
        return any(a[:i] + a[i + 1 :] == b for i in range(len(a)))
    if len(b) == len(a) + 1:
        return any(b[:i] + b[i + 1 :] == a and b[i] == b[i - 1] for i in range(1, len(b)))
    diff = [i for i in range(len(a)) if a[i] != b[i]] if len(a) == len(b) else []
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]


@pytest.mark.parametrize("op", OPS)
def test_each_op_keeps_the_golden_answer_correct(op: str) -> None:
    pairs = _copies([op])
    assert len(pairs) >= len(_source())  # every op applies to most rows (factor 2)
    for src, cp in pairs:
        prompt, golden = row_prompt(cp), row_golden(cp)
        assert golden is not None
        assert check_row(cp) is None
        assert set(score(prompt, golden, golden).values()) == {1.0}
        blind = score(prompt, golden)  # no golden: the lexicon and the bank judge the words
        assert blind["solved"] == 1.0 and blind["tiles_valid"] == 1.0, (op, prompt, golden)
        a, b = parse_prompt(row_prompt(src)), parse_prompt(prompt)
        assert sorted(a.bank) == sorted(b.bank) and a.red_herring_count == b.red_herring_count
        assert b.puzzle_id != a.puzzle_id and b.puzzle_id.startswith("syllo_")
        src_answer = dict(zip([w.clue for w in a.words], _answers(src), strict=True))
        cp_answers = _answers(cp)
        if op == "shuffle_clues":
            assert [w.clue for w in b.words] != [w.clue for w in a.words]
            assert [src_answer[w.clue] for w in b.words] == cp_answers  # renumbered with the clue
        else:
            assert cp_answers == _answers(src)
        if op == "shuffle_bank":
            assert b.bank != a.bank
        if op == "paraphrase":
            changed = [
                (w, v, ans)
                for w, v, ans in zip(a.words, b.words, cp_answers, strict=True)
                if w != v
            ]
            assert changed
            for old, new, ans in changed:
                entry = load_lexicon()[ans.lower()]
                glosses = {g for g, _ in entry.senses}
                synonyms = {R.CLUE_FORMS["synonym"].format(s) for s in entry.synonyms}
                assert old.clue in glosses | synonyms and new.clue in glosses | synonyms
                assert not leaks(ans.lower(), new.clue)
        if op == "typos":
            changed = [
                (w.clue, v.clue) for w, v in zip(a.words, b.words, strict=True) if w.clue != v.clue
            ]
            assert len(changed) == 1 and _one_edit(*changed[0]), changed
            assert [w.n_slots for w in a.words] == [w.n_slots for w in b.words]
        if op == "variants":
            assert (b.variant or R.CANONICAL) != (a.variant or R.CANONICAL)
            assert b.format_instruction == R.FORMAT_INSTRUCTIONS.get(b.variant or "")
            assert cp["metadata"].get("output_variant") == b.variant


def test_composed_recipe_and_metadata_follow_the_puzzle() -> None:
    recipe = "variants+shuffle_bank+shuffle_clues+typos+paraphrase"
    for _src, cp in _copies([recipe], factor=1):
        assert check_row(cp) is None
        meta = cp["metadata"]
        assert meta["augment"]["ops"] == recipe.split("+")  # as asked; applied in OPS order
        p = parse_prompt(row_prompt(cp))
        assert [w["definition"] for w in meta["words"]] == [w.clue for w in p.words]
        assert [w["label"].upper() for w in meta["words"]] == _answers(cp)
        assert meta["red_herrings"] == sorted(
            set(p.bank) - {s for w in meta["words"] for s in w["syllables"]}
        )


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path: Path) -> None:
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in _source()))
    cfg = AugmentConfig(factor=3, seed=5)
    augment_file(src, tmp_path / "a.jsonl", cfg)
    augment_file(src, tmp_path / "b.jsonl", cfg)
    augment_file(src, tmp_path / "c.jsonl", AugmentConfig(factor=3, seed=6))
    a, b, c = ((tmp_path / f"{x}.jsonl").read_bytes() for x in "abc")
    assert a == b and a != c
    n = len(_source())
    assert a.decode().count("\n") > 3 * n  # originals + most copies


def test_no_copy_is_a_benchmark_puzzle() -> None:
    bench = load_benchmark("syllo_probe_8")
    rows = [*bench, *_source()]
    cfg = AugmentConfig(factor=5, keep_original=False)
    out, rep = augment_rows(rows, cfg)
    assert find_contamination(out) == []
    assert rep.source_benchmark_rows == len(bench)
    refused = sum(r.rejected["benchmark puzzle"] for r in rep.recipes.values())
    assert refused == 5 * len(bench)  # clue and bank order do not hide a benchmark puzzle
    with_originals, _ = augment_rows(rows, AugmentConfig(factor=5))
    assert len(find_contamination(with_originals)) == len(bench)  # the user's rows stay as given


def test_rows_that_cannot_be_read_back_are_refused_with_a_reason() -> None:
    good = _source()[0]
    wrong = json.loads(json.dumps(good))
    wrong["messages"][1]["content"] = wrong["messages"][1]["content"].replace(
        '"ans_num": 1', '"ans_num": 9'
    )
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    out, rep = augment_rows([wrong, chat], AugmentConfig(ops=["shuffle_bank"], factor=1))
    assert out == [wrong, chat]
    reasons = rep.recipes["shuffle_bank"].rejected
    assert reasons == {
        "not a usable SYLLO row: golden answer is not the rendered answer of its puzzle": 1,
        "not a usable SYLLO row: not a SYLLO prompt": 1,
    }
    s = read_row(good)
    assert [w.answer for w in s.puzzle.words] == _answers(good)


def test_config_ops_agree_with_the_code() -> None:
    assert set(AUGMENT_OPS) == {*OPS, "system_prompt"}
    with pytest.raises(ValueError):
        AugmentConfig(ops=["shuffle_bank+nope"])
    with pytest.raises(ValueError):
        AugmentConfig(ops=["typos+typos"])


def test_variants_draw_only_the_configured_shapes() -> None:
    shapes_cfg = {"variants": ["canonical", "solutions_list"], "keep_original": False}
    out, rep = augment_rows(list(_source()), AugmentConfig(ops=["variants"], **shapes_cfg))
    shapes = {
        r["metadata"]["augment"]["source_id"]: r["metadata"].get("output_variant") for r in out
    }
    assert set(shapes.values()) <= {None, "solutions_list"} and None in shapes.values()
    assert all(check_row(r) is None for r in out)
    assert rep.augmented == len(out) == len(_source())  # every source has another allowed shape
    with pytest.raises(ConfigError):
        augment_rows(list(_source()), AugmentConfig(ops=["variants"], variants=["nope"]))
