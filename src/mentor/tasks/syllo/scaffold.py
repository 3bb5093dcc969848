"""Strings for a scaffold tokenizer: the format's fixed spans and a training corpus.

A SYLLO puzzle is mostly fixed text (the prompt's rule and contract lines, the answer's JSON
glue) around a few variable fields (ID, clues, tiles, answers, numbers). A tokenizer that holds
each fixed span *between two variable fields* as one added (non-special) token makes a puzzle
about 2x shorter than one that holds each line separately, with the text and its decoding
unchanged (``spec/demo-notes.md``: shorter puzzles, more of them per second, and a tiny model
crosses from copying the format to looking words up).

The spans are not a hand-kept list: :func:`scaffold_strings` renders synthetic puzzles of every
tier, level range, slot count, herring count and answer shape through ``render`` with sentinel
fields, and cuts the text at the sentinels. Small counts stay inside the span (``": 1, "``):
every tile of an answer's ``usage`` and ``used`` maps carries one, and a count 1-3 is almost
always what follows. :func:`variable_text` gives what is left between the spans, which is what
the BPE model is trained on, so its merges go to words, tiles and answers, not to fixed text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache

from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.generate import generate, puzzle_id
from mentor.tasks.syllo.puzzle import LEVEL_RULE_RANGE, TIER_RULE_RANGE, Puzzle, Word

# Sentinels: private-use characters no rendered field contains. ``json.dumps`` (ensure_ascii)
# writes them as \\ue0NN escapes, so answers are cut at those escapes.
_SENT = "\ue000"
_SENT_RE = re.compile("(?:[\ue000-\ue0ff]|\\\\ue0[0-9a-f]{2})+")
_MAX_SLOTS = 6  # hard tier: 4-6 syllables a word
_MAX_COUNT = 3  # usage/used counts kept inside a span (``": 2, "``)


def _tiles(n: int, start: int = 1) -> list[str]:
    return [chr(0xE000 + start + i) for i in range(n)]


def _prompt_spans() -> list[str]:
    """Fixed spans of prompts: render with sentinel fields, blank the counts, cut.

    Clue numbers stay in their spans (``"\\n3. ___ ___ — "``): one token then says which clue
    a line is and how many slots it has, and the answer's ``ans_num`` spans say the same.
    Every clue number meets every slot count (the counts rotate over the words). The spans
    without the number come too, for layouts the numbered ones do not cover.
    """
    numbers = [  # (text before, text after) a variable count, from the renderer's templates
        (re.escape(R.RULE_COUNT.split("{n}")[0]), re.escape(" target")),
        (re.escape(R.NOTE_HERRINGS.split("{r}")[0]), re.escape(" tile")),
    ]
    clue_number = ("\n", re.escape(". "))
    n_words = LEVEL_RULE_RANGE[1]
    out: list[str] = []
    for difficulty in R.DIFFICULTY_LABELS:
        for rule_range in (TIER_RULE_RANGE, LEVEL_RULE_RANGE):
            for herrings in (0, 1, 2):
                for variant in (None, *R.VARIANTS):
                    for shift in range(_MAX_SLOTS if variant is None else 1):
                        words = [
                            Word(clue=_SENT, syllables=_tiles((i + shift) % _MAX_SLOTS + 1))
                            for i in range(n_words)
                        ]
                        p = Puzzle(
                            puzzle_id=_SENT,
                            difficulty=difficulty,
                            words=words,
                            bank=_tiles(3),
                            red_herring_count=herrings,
                            rule_range=rule_range,
                            variant=variant,
                        )
                        text = R.render_prompt(p)
                        for before, after in numbers:
                            text = re.sub(f"(?<={before})[0-9]+(?={after})", _SENT, text)
                        out += _SENT_RE.split(text)
                        before, after = clue_number
                        text = re.sub(f"(?<={before})[0-9]+(?={after})", _SENT, text)
                        out += _SENT_RE.split(text)
    return out


def _answer_spans() -> list[str]:
    """Fixed spans of answers (every shape): sentinel tiles, counts blanked; ans_num kept (and
    blanked, for the fallback spans)."""
    n_words = LEVEL_RULE_RANGE[1]
    out: list[str] = []
    for herrings in (0, 1, 2):
        for count in range(1, _MAX_COUNT + 1):
            words = [Word(clue="c", syllables=_tiles(2)) for _ in range(count)]
            words += [
                Word(clue="c", syllables=_tiles(2, start=8 + 2 * i)) for i in range(n_words - count)
            ]
            bank = [s for w in words for s in w.syllables] + _tiles(herrings, start=64)
            p = Puzzle(puzzle_id="x", difficulty="easy", words=words, bank=bank)
            for variant in (R.CANONICAL, *R.VARIANTS):
                text = R.render_answer(p, variant)
                for key in ("total_tiles", "index", "total_syllables", "tile_totals"):
                    text = re.sub(f'(?<="{key}": )[0-9]+', _SENT, text)
                text = re.sub('(?<=")[0-9]+(?=[.)])', _SENT, text)  # "1. SYL + LAB = WORD"
                text = re.sub("(?<=; )[0-9]+(?=[)])", _SENT, text)
                out += _SENT_RE.split(text)
                out += _SENT_RE.split(re.sub('(?<="ans_num": )[0-9]+', _SENT, text))
    return out


@lru_cache(maxsize=1)
def _scaffold() -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()

    def add(pieces: Iterable[str]) -> None:
        for s in pieces:
            if s and s not in seen:
                seen.add(s)
                out.append(s)

    # The generator's ID prefix sits right after the header.
    add([R.HEADER + puzzle_id(0, 0).split("_")[0] + "_"])
    add(_prompt_spans())
    add(_answer_spans())
    # Single lines and separators: user data that differs from the generator's layout in one
    # place still gets whole lines (the longest match wins, so these never split a span above).
    add([R.HEADER, R.INTRO, R.RULES_HEAD, R.SLOTS_HEAD, R.BANK_HEAD, *R.RULES_FIXED])
    add([R.NOTE_NO_HERRINGS, R.NOTE_HERRINGS_2, *R.CONTRACT, R.FORMAT_PREFIX])
    add([" " + R.SLOT, R.SLOT, R.CLUE_SEP, R.BANK_SEP, R.MASK])
    add(part for form in R.CLUE_FORMS.values() for part in form.split("{}"))
    add([R.STATUS_ALL, json.dumps(R.STATUS_ALL), '", "', '": ', ", "])
    return tuple(out)


def scaffold_strings() -> list[str]:
    """The format's fixed spans, to be added to a tokenizer as (non-special) tokens."""
    return list(_scaffold())


@lru_cache(maxsize=1)
def _split_re() -> re.Pattern[str]:
    spans = sorted(_scaffold(), key=len, reverse=True)  # longest first, as the tokenizer matches
    return re.compile("|".join(re.escape(s) for s in spans))


def variable_text(text: str) -> list[str]:
    """The pieces of ``text`` between fixed spans: what a BPE model has left to learn."""
    return [p for p in _split_re().split(text) if p]


def corpus(n: int, seed: int, *, tier: str = "mixed", vocab_size: int | None = None) -> list[str]:
    """``n`` prompt + "\\n" + answer texts (training split, deterministic)."""
    rows = generate(n, seed, tier=tier, vocab_size=vocab_size, exclude_benchmarks=False)
    return [r["messages"][0]["content"] + "\n" + r["messages"][1]["content"] for r in rows]
