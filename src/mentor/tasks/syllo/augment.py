"""SYLLO augmentations whose golden answers are correct by construction.

A row is read back into a :class:`Puzzle` with its answers (parse the prompt, take each word's
syllables from the golden, the metadata or the lexicon) and accepted only when rendering that
puzzle reproduces the row's prompt and golden byte for byte. The ops then change the puzzle, never
strings of the rendered text, and the new row is rendered again, so the answer always follows the
puzzle:

- ``shuffle_clues``: another clue order; ``ans_num`` follows the new numbering.
- ``shuffle_bank``: another bank order (the same multiset of tiles).
- ``paraphrase``: definition and synonym clues replaced by another WordNet gloss of the same word
  or ``Similar to: <synonym>`` (never a clue that leaks the answer).
- ``typos``: one swapped, dropped or doubled letter in a clue word; bank tiles, slots and answers
  are never touched.
- ``variants``: another answer shape with its ``- Format:`` instruction (or the canonical shape).

:func:`check_row` is ``mentor syllo check`` for one row (round trip, metadata, golden self-score).
"""

from __future__ import annotations

import copy
import hashlib
import random
import re
from dataclasses import dataclass, field
from typing import Any

from mentor.config import AugmentConfig
from mentor.errors import ConfigError, DataError
from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.bench import row_golden, row_prompt
from mentor.tasks.syllo.generate import leaks
from mentor.tasks.syllo.lexicon import load_lexicon
from mentor.tasks.syllo.parse import parse_prompt, with_answers
from mentor.tasks.syllo.puzzle import Puzzle
from mentor.tasks.syllo.score import extract_json, extract_solutions, score

OPS = ("paraphrase", "typos", "shuffle_clues", "shuffle_bank", "variants")
SHAPES = (R.CANONICAL, *R.VARIANTS)
_SYNONYM_PREFIX = R.CLUE_FORMS["synonym"].split("{}")[0]
_TOKEN = re.compile(r"[A-Za-z]{4,}")


class NotApplicable(Exception):
    """The op (or the row) cannot produce a correct augmented row; ``str`` is the reason."""


@dataclass
class SylloRow:
    """A puzzle with its answers, plus what of the source row must travel with it."""

    puzzle: Puzzle
    words_meta: list[dict[str, Any]]  # one per clue, in clue order
    system: list[dict[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def source_id(self) -> str:
        return self.puzzle.puzzle_id


def _turns(row: dict[str, Any]) -> tuple[str, str | None, list[dict[str, str]]]:
    """(prompt, golden, system turns) of a single-turn chat row or a generator-API row."""
    msgs = row.get("messages")
    if isinstance(msgs, list):
        if not all(isinstance(m, dict) for m in msgs):
            raise NotApplicable("messages are not objects")
        system = [dict(m) for m in msgs if m.get("role") == "system"]
        rest = [m for m in msgs if m.get("role") != "system"]
        if [m.get("role") for m in rest] != ["user", "assistant"]:
            raise NotApplicable("not one user turn and one assistant turn")
        return str(rest[0].get("content", "")), str(rest[1].get("content", "")), system
    try:
        return row_prompt(row), row_golden(row), []
    except DataError:
        raise NotApplicable("not a chat row") from None


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    meta = copy.deepcopy(row["metadata"]) if isinstance(row.get("metadata"), dict) else {}
    if not isinstance(row.get("messages"), list):  # generator-API row: its fields are metadata
        for key in ("puzzle_id", "difficulty", "level", "rules", "words", "output_variant"):
            if key in row:
                meta[key] = copy.deepcopy(row[key])
    return meta


def _answers(golden: str, puzzle: Puzzle, meta_words: Any) -> list[list[str]]:
    """Each clue's syllables: from the golden where its shape lists them, else the metadata,
    else the lexicon entry of the golden's word."""
    n = len(puzzle.words)
    value = extract_json(golden)
    sols, _shape = extract_solutions(value) if value is not None else ([], "unknown")
    by_idx = {s.index: s for s in sols}
    lexicon = load_lexicon()
    out: list[list[str]] = []
    for i in range(1, n + 1):
        s = by_idx.get(i)
        if s is not None and s.syllables:
            out.append([t.lower() for t in s.syllables])
        elif isinstance(meta_words, list) and len(meta_words) == n:
            syl = (
                meta_words[i - 1].get("syllables") if isinstance(meta_words[i - 1], dict) else None
            )
            if not isinstance(syl, list):
                raise NotApplicable("metadata words carry no syllables")
            out.append([str(t) for t in syl])
        elif s is not None and s.word.lower() in lexicon:
            out.append(list(lexicon[s.word.lower()].syllables))
        else:
            raise NotApplicable(f"clue {i}: no syllables in the golden, metadata or lexicon")
    return out


def read_row(row: dict[str, Any]) -> SylloRow:
    """The row as a puzzle with answers; :class:`NotApplicable` unless it renders back exactly."""
    prompt, golden, system = _turns(row)
    if golden is None:
        raise NotApplicable("no golden answer")
    try:
        parsed = parse_prompt(prompt)
    except DataError:
        raise NotApplicable("not a SYLLO prompt") from None
    if R.render_prompt(parsed) != prompt:
        raise NotApplicable("prompt does not round-trip")
    meta = _meta(row)
    variant = meta.get("output_variant") or parsed.variant
    meta_words = meta.get("words")
    puzzle = with_answers(parsed, _answers(golden, parsed, meta_words))
    puzzle.variant = variant if variant != R.CANONICAL else None
    try:
        rendered = R.render_answer(puzzle)
    except ValueError:
        raise NotApplicable(f"unknown answer shape {variant!r}") from None
    if rendered != golden:
        raise NotApplicable("golden answer is not the rendered answer of its puzzle")
    if isinstance(meta_words, list) and len(meta_words) == len(puzzle.words):
        words_meta = [dict(w) if isinstance(w, dict) else {} for w in meta_words]
    else:
        words_meta = [{} for _ in puzzle.words]
    for w, wm in zip(puzzle.words, words_meta, strict=True):
        if wm.get("syllables", w.syllables) != w.syllables:
            raise NotApplicable("metadata words disagree with the golden answer")
        w.label = str(wm.get("label") or w.answer.lower())
        wm.update(label=w.label, definition=w.clue, syllables=list(w.syllables))
        wm.setdefault("syllable_count", len(w.syllables))
    return SylloRow(puzzle=puzzle, words_meta=words_meta, system=system, meta=meta)


def _permutation(n: int, rng: random.Random) -> list[int]:
    order = list(range(n))
    for _ in range(8):
        rng.shuffle(order)
        if order != sorted(order):
            return order
    raise NotApplicable("no other order")


def shuffle_clues(s: SylloRow, rng: random.Random, cfg: AugmentConfig) -> None:
    """Another clue order; answers are renumbered because they are rendered from the puzzle."""
    if len(s.puzzle.words) < 2:
        raise NotApplicable("fewer than two clues")
    order = _permutation(len(s.puzzle.words), rng)
    s.puzzle.words = [s.puzzle.words[i] for i in order]
    s.words_meta = [s.words_meta[i] for i in order]


def shuffle_bank(s: SylloRow, rng: random.Random, cfg: AugmentConfig) -> None:
    """Another order of the same tiles."""
    bank = s.puzzle.bank
    if len(set(bank)) < 2:
        raise NotApplicable("bank has one distinct tile")
    s.puzzle.bank = [bank[i] for i in _permutation(len(bank), rng)]


def _alternatives(label: str, clue: str, taken: set[str]) -> list[tuple[str, str]]:
    """(clue, hint type) rewrites of a definition or synonym clue from the lexicon entry."""
    entry = load_lexicon().get(label)
    if entry is None:
        return []
    glosses = [g for g, _pos in entry.senses if g]
    synonyms = [_SYNONYM_PREFIX + x for x in entry.synonyms]
    if clue not in glosses and clue not in synonyms:
        return []  # a weaker clue form stays what it is
    options = [(g, "definition") for g in glosses] + [(x, "synonym") for x in synonyms]
    return [(c, h) for c, h in dict(options).items() if c not in taken and not leaks(label, c)]


def paraphrase(s: SylloRow, rng: random.Random, cfg: AugmentConfig) -> None:
    """Rewrite a share of the definition/synonym clues with another gloss or a synonym."""
    taken = {w.clue for w in s.puzzle.words}
    eligible = [
        (i, opts)
        for i, w in enumerate(s.puzzle.words)
        if (opts := _alternatives(w.label, w.clue, taken))
    ]
    if not eligible:
        raise NotApplicable("no other gloss or synonym")
    k = max(1, round(cfg.paraphrase_share * len(eligible)))
    for i, opts in rng.sample(eligible, k):
        opts = [(c, h) for c, h in opts if c not in taken]
        if not opts:
            continue
        clue, hint = rng.choice(opts)
        taken.add(clue)
        s.puzzle.words[i].clue = clue
        s.puzzle.words[i].hint_type = hint
        s.words_meta[i].update(definition=clue, hint_type=hint)


def _content_start(clue: str) -> int | None:
    """Where the free text of a clue starts (after a form prefix); None for number/letter forms."""
    for key, form in R.CLUE_FORMS.items():
        pre, post = form.split("{}")
        if clue.startswith(pre) and clue.endswith(post) and len(clue) > len(pre) + len(post):
            return None if key in ("first_letter", "syllable_hint") else len(pre)
    return 0


def _typo(word: str, rng: random.Random) -> str:
    """One swapped, dropped or doubled interior letter (the first and last letters stay)."""
    i = rng.randrange(1, len(word) - 2)
    kinds = ["drop", "double"] + (["swap"] if word[i] != word[i + 1] else [])
    kind = rng.choice(kinds)
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _tokens(clue: str) -> list[re.Match[str]]:
    start = _content_start(clue)
    if start is None:
        return []
    masks = [(m.start(), m.end()) for m in re.finditer(re.escape(R.MASK), clue)]
    return [
        m for m in _TOKEN.finditer(clue, start) if not any(a <= m.start() < b for a, b in masks)
    ]


def typos(s: SylloRow, rng: random.Random, cfg: AugmentConfig) -> None:
    """One typo in each of up to ``typo_clues`` clues (clue text only)."""
    eligible = [i for i, w in enumerate(s.puzzle.words) if _tokens(w.clue)]
    if not eligible:
        raise NotApplicable("no clue word of four letters or more")
    taken = {w.clue for w in s.puzzle.words}
    for i in rng.sample(eligible, min(cfg.typo_clues, len(eligible))):
        w = s.puzzle.words[i]
        m = rng.choice(_tokens(w.clue))
        clue = w.clue[: m.start()] + _typo(m.group(), rng) + w.clue[m.end() :]
        if clue in taken or (leaks(w.label, clue) and not leaks(w.label, w.clue)):
            raise NotApplicable("the typo made a clue leak or repeat")
        taken.add(clue)
        w.clue = clue
        s.words_meta[i]["definition"] = clue


def variants(s: SylloRow, rng: random.Random, cfg: AugmentConfig) -> None:
    """Another answer shape, with the ``- Format:`` line that asks for it."""
    pool = tuple(cfg.variants) or SHAPES
    unknown = [v for v in pool if v not in SHAPES]
    if unknown:
        raise ConfigError(
            f"data.augment.variants: unknown shape(s) {', '.join(unknown)}",
            hint=f"use {', '.join(SHAPES)}",
        )
    current = s.puzzle.variant or R.CANONICAL
    choices = [v for v in pool if v != current]
    if not choices:
        raise NotApplicable("no other answer shape in data.augment.variants")
    v = rng.choice(choices)
    s.puzzle.variant = None if v == R.CANONICAL else v
    s.puzzle.format_instruction = R.FORMAT_INSTRUCTIONS.get(v)


OP_FUNCS = {
    "paraphrase": paraphrase,
    "typos": typos,
    "shuffle_clues": shuffle_clues,
    "shuffle_bank": shuffle_bank,
    "variants": variants,
}


def augmented_id(seed: int, source_id: str, index: int, copy_no: int) -> str:
    """A fresh id in the generator's form (``syllo_<10 hex>``), derived from seed and source."""
    key = f"augment:{seed}:{source_id}:{index}:{copy_no}"
    return "syllo_" + hashlib.sha256(key.encode()).hexdigest()[:10]


def apply_ops(source: SylloRow, ops: list[str], rng: random.Random, cfg: AugmentConfig) -> SylloRow:
    """A transformed copy (ops in the canonical order of :data:`OPS`); the source is untouched."""
    s = copy.deepcopy(source)
    for name in sorted(ops, key=OPS.index):
        OP_FUNCS[name](s, rng, cfg)
    return s


def to_row(s: SylloRow, puzzle_id: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """A chat row (system turns kept) with metadata that agrees with the new puzzle."""
    p = copy.deepcopy(s.puzzle)
    p.puzzle_id = puzzle_id
    meta = copy.deepcopy(s.meta)
    meta.update(puzzle_id=puzzle_id, words=copy.deepcopy(s.words_meta), red_herrings=p.red_herrings)
    if p.variant:
        meta["output_variant"] = p.variant
    else:
        meta.pop("output_variant", None)
    meta["augment"] = provenance
    user = {"role": "user", "content": R.render_prompt(p)}
    assistant = {"role": "assistant", "content": R.render_answer(p)}
    return {"messages": [*copy.deepcopy(s.system), user, assistant], "metadata": meta}


def check_row(row: dict[str, Any]) -> str | None:
    """``mentor syllo check`` for one row: None when it passes, else the reason."""
    try:
        prompt = row_prompt(row)
        puzzle = parse_prompt(prompt)
    except DataError as err:
        return str(err)
    if R.render_prompt(puzzle) != prompt:
        return "prompt does not round-trip"
    golden = row_golden(row)
    if golden is None:
        return "no golden answer"
    meta = row["metadata"] if isinstance(row.get("metadata"), dict) else {}
    words = row.get("words") or meta.get("words")
    variant = row.get("output_variant") or meta.get("output_variant") or puzzle.variant
    if isinstance(words, list):
        try:
            full = with_answers(puzzle, [list(w["syllables"]) for w in words])
            if R.render_answer(full, variant) != golden:
                return "golden answer differs from the rendered answer"
        except (DataError, KeyError, TypeError, ValueError) as err:
            return f"metadata words unusable ({err})"
    bad = [k for k, v in score(prompt, golden, golden).items() if v != 1.0]
    return f"golden scores below 1.0 on {', '.join(bad)}" if bad else None
