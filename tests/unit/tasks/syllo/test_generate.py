"""SYLLO generator: determinism, tier/level constraints, leaks, novel split, contamination."""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import cache

import pytest

from mentor.tasks.syllo import find_contamination, generate, load_benchmark, parse_prompt
from mentor.tasks.syllo.bench import BENCHMARKS, bench_dir, build_rows, list_benchmarks, rows_bytes
from mentor.tasks.syllo.generate import LEVELS, TIERS, leaks
from mentor.tasks.syllo.lexicon import is_novel, load_lexicon
from mentor.tasks.syllo.solver import is_unique


@cache
def _tier_rows(tier: str, n: int = 1000) -> tuple[dict, ...]:
    return tuple(generate(n, 11, tier=tier, exclude_benchmarks=False))


def test_lexicon_size_and_novel_share() -> None:
    lex = load_lexicon()
    assert len(lex) >= 5000
    share = sum(is_novel(w) for w in lex) / len(lex)
    assert 0.07 < share < 0.13
    assert all(len(e.syllables) >= 2 and e.word.isalpha() for e in lex.values())


def test_same_seed_same_bytes_different_seed_disjoint_ids() -> None:
    a = generate(30, 1, tier="mixed", exclude_benchmarks=False)
    b = generate(30, 1, tier="mixed", exclude_benchmarks=False)
    c = generate(30, 2, tier="mixed", exclude_benchmarks=False)
    assert rows_bytes(a) == rows_bytes(b)
    ids_a = {r["metadata"]["puzzle_id"] for r in a}
    ids_c = {r["metadata"]["puzzle_id"] for r in c}
    assert len(ids_a) == 30 and not ids_a & ids_c
    assert all(i.startswith("syllo_") and len(i) == 16 for i in ids_a | ids_c)


@pytest.mark.parametrize("tier", ["easy", "medium", "hard"])
def test_tier_constraints_over_1000_puzzles(tier: str) -> None:
    cfg = TIERS[tier]
    for row in _tier_rows(tier):
        m = row["metadata"]
        words = m["words"]
        assert cfg.words[0] <= len(words) <= cfg.words[1]
        assert all(cfg.syllables[0] <= len(w["syllables"]) <= cfg.syllables[1] for w in words)
        assert cfg.herrings[0] <= m["red_herring_count"] <= cfg.herrings[1]
        assert m["difficulty_config"]["actual_overlap"] <= cfg.max_overlap + 1e-9
        assert all(w["zipf_score"] >= cfg.min_zipf for w in words)
        answer_syl = {s for w in words for s in w["syllables"]}
        assert not answer_syl & set(m["red_herrings"])
        assert all(not leaks(w["label"], w["definition"]) for w in words)
        assert all(not is_novel(w["label"]) for w in words)
        assert "(always between 4 and 8)." in row["messages"][0]["content"]
        bank = parse_prompt(row["messages"][0]["content"]).bank
        assert Counter(bank) == Counter(
            [s for w in words for s in w["syllables"]] + m["red_herrings"]
        )


def test_solver_flags_a_second_fill() -> None:
    # 'into' + 'ever' vs 'in' ... build from lexicon words sharing syllables.
    lex = load_lexicon()
    a, b = lex["management"], lex["animals"]
    bank = [*a.syllables, *b.syllables]
    assert is_unique([3, 3], bank, ["management", "animals"])
    assert not is_unique([3, 3], bank, ["management", "professor"])


def test_level_constraints_and_clue_types() -> None:
    hints: Counter[str] = Counter()
    for lv, cfg in LEVELS.items():
        rows = generate(40, 3, level=lv, variants=True, exclude_benchmarks=False)
        for row in rows:
            m = row["metadata"]
            assert m["level"] == lv and m["difficulty"] == cfg.label
            assert cfg.words[0] <= len(m["words"]) <= cfg.words[1]
            assert cfg.herrings[0] <= m["red_herring_count"] <= cfg.herrings[1]
            assert "(always between 4 and 10)." in row["messages"][0]["content"]
            assert row["messages"][0]["content"].split("\n")[-1].startswith("- Format: ")
            for w in m["words"]:
                assert not leaks(w["label"], w["definition"])
                hints[w["hint_type"]] += 1
    assert {"definition", "synonym", "hypernym", "domain"} <= set(hints)


def test_vocab_size_restricts_the_pool() -> None:
    rows = generate(200, 4, tier="easy", vocab_size=150, exclude_benchmarks=False)
    labels = {w["label"] for r in rows for w in r["metadata"]["words"]}
    assert len(labels) <= 150


def test_novel_words_never_in_training_and_only_in_novel_split() -> None:
    novel_rows = load_benchmark("syllo_novel_100")
    assert all(is_novel(w["label"]) for r in novel_rows for w in r["metadata"]["words"])
    train = generate(300, 21, tier="mixed")
    assert not any(is_novel(w["label"]) for r in train for w in r["metadata"]["words"])


def test_manifest_sha256_match_files() -> None:
    entries = list_benchmarks()
    assert {e["name"] for e in entries} == {b["name"] for b in BENCHMARKS}
    for e in entries:
        data = (bench_dir() / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"]
        assert len(load_benchmark(e["name"])) == e["count"]


def test_regenerating_a_benchmark_is_byte_identical() -> None:
    spec = next(b for b in BENCHMARKS if b["name"] == "syllo_probe_8")
    assert rows_bytes(build_rows(spec)) == (bench_dir() / "syllo_probe_8.jsonl").read_bytes()
    spec = next(b for b in BENCHMARKS if b["name"] == "syllo_easy_100")
    assert rows_bytes(build_rows(spec)) == (bench_dir() / "syllo_easy_100.jsonl").read_bytes()


def test_contamination_is_found_and_training_avoids_it() -> None:
    bench = load_benchmark("syllo_easy_100")
    shuffled = dict(bench[3])
    p = parse_prompt(shuffled["messages"][0]["content"])
    p.bank = list(reversed(p.bank))
    p.puzzle_id = "other_id"
    from mentor.tasks.syllo import render_prompt

    shuffled = {"messages": [{"role": "user", "content": render_prompt(p)}]}
    hits = find_contamination([{"messages": [{"role": "user", "content": "hello"}]}, shuffled])
    assert hits == [(1, "syllo_easy_100", bench[3]["metadata"]["puzzle_id"])]


@pytest.mark.slow
def test_no_benchmark_puzzle_in_10000_training_puzzles() -> None:
    rows = generate(10_000, 12345, tier="mixed")
    assert find_contamination(rows) == []
