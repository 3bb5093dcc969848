"""Generate SYLLO puzzles: three tiers and ten levels, deterministic by seed.

``generate(count, seed, tier=..., level=..., variants=False, vocab_size=None, novel=False)``
returns rows ``{"messages": [user, assistant], "metadata": {...}}`` in the sample files' shape.
Puzzle IDs derive from the seed and the index (``syllo_<10 hex>``, one form for every split).
Data-quality rules: no clue contains its answer or the answer's first five letters; the bank
admits one complete fill only (``solver.py``); red herrings never equal an answer syllable;
overlap, syllable and Zipf limits per tier/level; ``novel`` words (``lexicon.is_novel``) are
never drawn for training; training puzzles whose canonical hash is in the benchmark suite are
regenerated.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.lexicon import Entry, is_novel, load_lexicon
from mentor.tasks.syllo.puzzle import LEVEL_RULE_RANGE, TIER_RULE_RANGE, Puzzle, Word
from mentor.tasks.syllo.solver import is_unique

DATASET = "syllo_mentor"


@dataclass(frozen=True)
class Config:
    label: str  # easy | medium | hard
    words: tuple[int, int]
    syllables: tuple[int, int]
    herrings: tuple[int, int]
    max_overlap: float
    min_zipf: float
    hints: tuple[tuple[str, float], ...] = (("definition", 1.0),)


TIERS: dict[str, Config] = {
    "easy": Config("easy", (4, 5), (2, 3), (0, 0), 0.0, 4.0),
    "medium": Config("medium", (5, 6), (3, 4), (1, 2), 0.3, 3.0),
    "hard": Config("hard", (7, 8), (4, 6), (3, 5), 0.6, 2.5),
}

_D, _S, _H, _E = "definition", "synonym", "hypernym", "example"
_M, _A, _O = "domain", "antonym", "morphology"
LEVELS: dict[int, Config] = {
    1: Config("easy", (4, 4), (2, 3), (0, 0), 0.0, 5.5),
    2: Config("easy", (4, 5), (2, 3), (0, 0), 0.0, 5.0, ((_D, 0.6), (_S, 0.4))),
    3: Config("easy", (5, 5), (2, 4), (0, 0), 0.1, 4.5, ((_D, 0.5), (_S, 0.5))),
    4: Config("medium", (5, 6), (3, 4), (0, 1), 0.2, 4.0, ((_D, 0.6), (_H, 0.3), (_S, 0.1))),
    5: Config(
        "medium", (6, 6), (3, 5), (1, 2), 0.3, 3.5, ((_D, 0.35), (_S, 0.3), (_H, 0.25), (_E, 0.1))
    ),
    6: Config(
        "medium",
        (6, 7),
        (3, 5),
        (1, 2),
        0.4,
        3.0,
        ((_D, 0.3), (_S, 0.25), (_H, 0.25), (_E, 0.1), (_M, 0.1)),
    ),
    7: Config(
        "hard",
        (7, 7),
        (4, 5),
        (2, 3),
        0.5,
        2.8,
        ((_D, 0.3), (_S, 0.2), (_H, 0.2), (_M, 0.15), (_E, 0.1), (_A, 0.05)),
    ),
    8: Config(
        "hard",
        (7, 8),
        (4, 6),
        (3, 4),
        0.6,
        2.5,
        (
            (_D, 0.3),
            (_S, 0.15),
            (_H, 0.1),
            (_O, 0.1),
            (_E, 0.1),
            (_M, 0.1),
            (_A, 0.05),
            ("first_letter", 0.1),
        ),
    ),
    9: Config(
        "hard",
        (8, 9),
        (4, 6),
        (4, 5),
        0.7,
        2.5,
        ((_D, 0.25), (_S, 0.2), (_H, 0.15), (_M, 0.15), (_E, 0.1), (_O, 0.1), (_A, 0.05)),
    ),
    10: Config(
        "hard",
        (9, 10),
        (4, 6),
        (5, 6),
        0.8,
        2.0,
        (
            (_D, 0.15),
            (_S, 0.15),
            (_M, 0.2),
            (_E, 0.15),
            (_H, 0.1),
            (_O, 0.1),
            ("first_letter", 0.08),
            ("syllable_hint", 0.04),
            (_A, 0.03),
        ),
    ),
}
SIGNAL = {
    "definition": "strong",
    "synonym": "strong",
    "hypernym": "medium",
    "example": "medium",
    "domain": "weak",
    "antonym": "weak",
    "morphology": "weak",
    "first_letter": "minimal",
    "syllable_hint": "minimal",
}
MAX_ATTEMPTS = 400


def leaks(word: str, clue: str) -> bool:
    """True when the clue contains the answer or its first five letters."""
    c = clue.lower()
    return word in c or word[:5] in c


def definition_clue(entry: Entry) -> str | None:
    """The first WordNet gloss that does not leak the answer (the three-tier clue)."""
    for gloss, _pos in entry.senses:
        if gloss and not leaks(entry.word, gloss):
            return gloss
    return None


def make_clue(entry: Entry, hint: str, rng: random.Random) -> str | None:
    w = entry.word
    options: list[str]
    if hint == "definition":
        return definition_clue(entry)
    if hint == "synonym":
        options = [R.CLUE_FORMS["synonym"].format(s) for s in entry.synonyms]
    elif hint == "hypernym":
        options = [R.CLUE_FORMS["hypernym"].format(s) for s in entry.hypernyms]
    elif hint == "domain":
        options = [R.CLUE_FORMS["domain"].format(entry.domain)] if entry.domain else []
    elif hint == "antonym":
        options = [R.CLUE_FORMS["antonym"].format(s) for s in entry.antonyms]
    elif hint == "morphology":
        options = [R.CLUE_FORMS["morphology"].format(s) for s in entry.related]
    elif hint == "first_letter":
        options = [R.CLUE_FORMS["first_letter"].format(w[0].upper())]
    elif hint == "syllable_hint":
        options = [R.CLUE_FORMS["syllable_hint"].format(len(entry.syllables))]
    elif hint == "example":
        pat = re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE)
        options = [pat.sub(R.MASK, ex) for ex in entry.examples if pat.search(ex)]
    else:
        raise ValueError(f"unknown hint type {hint!r}")
    options = [o for o in options if not leaks(w, o)]
    return rng.choice(options) if options else None


@lru_cache(maxsize=64)
def word_pool(
    syllables: tuple[int, int], min_zipf: float, vocab_size: int | None, novel: bool
) -> tuple[Entry, ...]:
    """Eligible words (definition clue available), most frequent first.

    ``novel=False`` excludes the reserved novel words; ``novel=True`` keeps only them.
    ``vocab_size`` keeps the N most frequent: a fixed pool a tiny model can learn.
    """
    lo, hi = syllables
    pool = [
        e
        for e in load_lexicon().values()
        if lo <= len(e.syllables) <= hi
        and e.zipf >= min_zipf
        and is_novel(e.word) == novel
        and definition_clue(e) is not None
    ]
    pool.sort(key=lambda e: (-e.zipf, e.word))
    if vocab_size is not None:
        pool = pool[:vocab_size]
    return tuple(pool)


@lru_cache(maxsize=64)
def _herring_pool(
    syllables: tuple[int, int], min_zipf: float, vocab_size: int | None, novel: bool
) -> tuple[str, ...]:
    pool = word_pool(syllables, min_zipf, vocab_size, novel)
    return tuple(sorted({s for e in pool for s in e.syllables}))


def puzzle_id(seed: int, index: int) -> str:
    return "syllo_" + hashlib.sha256(f"syllo:{seed}:{index}".encode()).hexdigest()[:10]


def _pick_hint(cfg: Config, rng: random.Random) -> str:
    names = [h for h, _ in cfg.hints]
    weights = [w for _, w in cfg.hints]
    return rng.choices(names, weights)[0]


def make_puzzle(
    cfg: Config,
    rng: random.Random,
    pid: str,
    *,
    level: int | None = None,
    vocab_size: int | None = None,
    novel: bool = False,
    variant: str | None = None,
    reject: Callable[[Puzzle], bool] | None = None,
) -> Puzzle:
    """One puzzle that satisfies every data-quality rule (regenerates until it does)."""
    pool = word_pool(cfg.syllables, cfg.min_zipf, vocab_size, novel)
    herring_pool = _herring_pool(cfg.syllables, cfg.min_zipf, vocab_size, novel)
    if len(pool) < cfg.words[1]:
        raise ValueError(f"word pool too small ({len(pool)} words) for {cfg.label}")
    for _ in range(MAX_ATTEMPTS):
        n = rng.randint(*cfg.words)
        chosen: list[Entry] = []
        syl: list[str] = []
        seen: set[str] = set()
        budget = cfg.max_overlap
        for _try in range(n * 20):
            if len(chosen) == n:
                break
            e = pool[rng.randrange(len(pool))]
            if any(c.word == e.word for c in chosen):
                continue
            dup = sum(1 for s in e.syllables if s in seen)
            total = len(syl) + len(e.syllables)
            dups = (len(syl) - len(seen)) + dup
            # a word repeating a syllable within itself also counts
            dups += len(e.syllables) - len(set(e.syllables))
            if total and dups / total > budget + 1e-9:
                continue
            chosen.append(e)
            syl.extend(e.syllables)
            seen.update(e.syllables)
        if len(chosen) < n:
            continue
        words: list[Word] = []
        for e in chosen:
            hint = _pick_hint(cfg, rng)
            clue = make_clue(e, hint, rng)
            if clue is None:
                hint, clue = "definition", definition_clue(e)
            assert clue is not None
            words.append(
                Word(
                    clue=clue,
                    syllables=list(e.syllables),
                    label=e.word,
                    zipf=e.zipf,
                    hint_type=hint,
                )
            )
        r = rng.randint(*cfg.herrings)
        answer_syl = set(syl)
        herrings: list[str] = []
        while len(herrings) < r:
            h = herring_pool[rng.randrange(len(herring_pool))]
            if h not in answer_syl and h not in herrings:
                herrings.append(h)
        bank = syl + herrings
        rng.shuffle(bank)
        p = Puzzle(
            puzzle_id=pid,
            difficulty=cfg.label,
            words=words,
            bank=bank,
            red_herring_count=r,
            rule_range=LEVEL_RULE_RANGE if level is not None else TIER_RULE_RANGE,
            level=level,
            variant=variant,
        )
        if p.overlap > cfg.max_overlap + 1e-9:
            continue
        if not is_unique(p.slot_counts, bank, [w.label for w in words]):
            continue
        if reject is not None and reject(p):
            continue
        return p
    raise RuntimeError(f"no valid {cfg.label} puzzle after {MAX_ATTEMPTS} attempts")


def puzzle_row(p: Puzzle, cfg: Config, *, seed: int, index: int, split: str) -> dict[str, Any]:
    prompt = R.render_prompt(p)
    answer = R.render_answer(p)
    r = p.red_herring_count
    notes = (
        f"Use tiles to fill blanks. {r} tiles are red herrings that don't belong to any word."
        if r
        else "Use each syllable tile exactly once to fill the blanks."
    )
    rules = {
        "word_count": len(p.words),
        "syllable_bank_size": len(p.bank),
        "red_herring_count": r,
        "notes": notes,
    }
    meta: dict[str, Any] = {
        "dataset": DATASET,
        "split": split,
        "puzzle_id": p.puzzle_id,
        "difficulty": p.difficulty,
        "word_count": len(p.words),
        "syllable_bank_size": len(p.bank),
        "red_herring_count": r,
        "rules": rules,
        "seed": seed,
        "sample_index": index,
        "difficulty_config": {
            "target_word_count": len(p.words),
            "syllable_range": list(cfg.syllables),
            "min_zipf": cfg.min_zipf,
            "max_overlap_target": cfg.max_overlap,
            "actual_overlap": round(p.overlap, 3),
        },
        "red_herrings": p.red_herrings,
        "words": [
            {
                "label": w.label,
                "definition": w.clue,
                "syllable_count": len(w.syllables),
                "syllables": list(w.syllables),
                "zipf_score": w.zipf,
                "hint_type": w.hint_type,
                "signal_strength": SIGNAL[w.hint_type],
            }
            for w in p.words
        ],
    }
    if p.level is not None:
        meta["level"] = p.level
    if p.variant is not None:
        meta["output_variant"] = p.variant
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
        "metadata": meta,
    }


def iter_puzzles(
    count: int,
    seed: int,
    *,
    tier: str | None = "easy",
    level: int | None = None,
    variants: bool = False,
    vocab_size: int | None = None,
    novel: bool = False,
    split: str = "train",
    exclude_benchmarks: bool | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows one at a time (see :func:`generate`)."""
    if exclude_benchmarks is None:
        exclude_benchmarks = split == "train"
    reject = None
    if exclude_benchmarks:
        from mentor.tasks.syllo.bench import benchmark_hashes, canonical_hash

        hashes = benchmark_hashes()
        if hashes:

            def reject(p: Puzzle) -> bool:
                return canonical_hash(p) in hashes

    for i in range(count):
        rng = random.Random(f"syllo:{seed}:{i}")
        if level is not None:
            lv = level
        elif tier == "levels":
            lv = 1 + i % 10
        else:
            lv = None
        if lv is not None:
            if lv not in LEVELS:
                raise ValueError(f"level must be 1..10, got {lv}")
            cfg = LEVELS[lv]
        else:
            t = tier or "easy"
            if t == "mixed":
                t = ("easy", "medium", "hard")[i % 3]
            if t not in TIERS:
                raise ValueError(f"unknown tier {t!r} (easy, medium, hard, mixed)")
            cfg = TIERS[t]
        variant = rng.choice(R.VARIANTS) if variants else None
        p = make_puzzle(
            cfg,
            rng,
            puzzle_id(seed, i),
            level=lv,
            vocab_size=vocab_size,
            novel=novel,
            variant=variant,
            reject=reject,
        )
        row = puzzle_row(p, cfg, seed=seed, index=i, split=split)
        if variant is not None:
            row["messages"][1]["content"] = R.render_answer(p, variant)
        yield row


def generate(
    count: int,
    seed: int,
    *,
    tier: str | None = "easy",
    level: int | None = None,
    variants: bool = False,
    vocab_size: int | None = None,
    novel: bool = False,
    split: str = "train",
    exclude_benchmarks: bool | None = None,
) -> list[dict[str, Any]]:
    """``count`` rows, deterministic by ``seed``.

    ``tier``: easy | medium | hard | mixed (round robin) | levels (1..10 round robin);
    ``level`` (1..10) overrides ``tier``. ``variants`` draws one of the twelve answer shapes
    per row (prompt gains the ``- Format:`` line). ``vocab_size`` restricts words to the N most
    frequent eligible ones. ``novel`` draws only the reserved novel words (benchmarks).
    Training rows (``split="train"``) never reproduce a benchmark puzzle.
    """
    return list(
        iter_puzzles(
            count,
            seed,
            tier=tier,
            level=level,
            variants=variants,
            vocab_size=vocab_size,
            novel=novel,
            split=split,
            exclude_benchmarks=exclude_benchmarks,
        )
    )


def make_clue_options(word: str) -> set[str] | None:
    """Every clue the generator could write for ``word`` (None when not in the lexicon)."""
    entry = load_lexicon().get(word)
    if entry is None:
        return None
    opts = {g for g, _ in entry.senses}
    for hint in SIGNAL:
        if hint == "definition":
            continue
        if hint == "example":
            pat = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
            opts.update(pat.sub(R.MASK, ex) for ex in entry.examples)
            opts.update(entry.examples)
            continue
        src = {
            "synonym": entry.synonyms,
            "hypernym": entry.hypernyms,
            "antonym": entry.antonyms,
            "morphology": entry.related,
            "domain": (entry.domain,),
            "first_letter": (word[:1].upper(),),
            "syllable_hint": (str(len(entry.syllables)),),
        }[hint]
        opts.update(R.CLUE_FORMS[hint].format(x) for x in src)
    return opts
