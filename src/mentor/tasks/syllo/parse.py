"""Read a SYLLO prompt back into a :class:`Puzzle` (clues, slot counts, bank, herring count)."""

from __future__ import annotations

import re

from mentor.errors import DataError
from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.puzzle import Puzzle, Word

_RULE_RE = re.compile(r"^- (\d+) target words \(always between (\d+) and (\d+)\)\.$")
_SLOT_RE = re.compile(r"^(\d+)\. (___(?: ___)*)" + re.escape(R.CLUE_SEP) + r"(.*)$")
_NOTE_PRE, _NOTE_POST = R.NOTE_HERRINGS.split("{r}")
_NOTE_RE = re.compile("^" + re.escape(_NOTE_PRE) + r"(\d+)" + re.escape(_NOTE_POST) + "$")
_LABELS = {v: k for k, v in R.DIFFICULTY_LABELS.items()}
_VARIANT_BY_INSTRUCTION = {v: k for k, v in R.FORMAT_INSTRUCTIONS.items()}


def _fail(reason: str) -> DataError:
    return DataError(f"not a SYLLO prompt: {reason}", hint="see docs/syllo.md for the layout")


def parse_prompt(text: str) -> Puzzle:
    """Recover id, difficulty, rule range, clues, slot counts, bank, herring count, format line.

    The returned puzzle's words carry ``clue`` and ``n_slots`` only (no labels or syllables).
    Raises :class:`DataError` when the text is not a canonical SYLLO prompt.
    """
    lines = text.split("\n")
    if not lines or not lines[0].startswith(R.HEADER):
        raise _fail("first line is not 'SYLLO Puzzle <id>'")
    puzzle_id = lines[0][len(R.HEADER) :]
    try:
        diff_line = lines[2]
        if not (
            diff_line.startswith(R.DIFFICULTY_PREFIX) and diff_line.endswith(R.DIFFICULTY_SUFFIX)
        ):
            raise _fail("no 'Difficulty:' line")
        label = diff_line[len(R.DIFFICULTY_PREFIX) : -len(R.DIFFICULTY_SUFFIX)]
        if label not in _LABELS:
            raise _fail(f"unknown difficulty {label!r}")
        m = _RULE_RE.match(lines[4])
        if m is None:
            raise _fail("no '- N target words' rule line")
        n_words, lo, hi = int(m.group(1)), int(m.group(2)), int(m.group(3))
        i = lines.index(R.SLOTS_HEAD) + 1
        words: list[Word] = []
        while i < len(lines) and lines[i]:
            sm = _SLOT_RE.match(lines[i])
            if sm is None or int(sm.group(1)) != len(words) + 1:
                raise _fail(f"bad word slot line {lines[i]!r}")
            words.append(Word(clue=sm.group(3), n_slots=sm.group(2).count(R.SLOT)))
            i += 1
        if len(words) != n_words:
            raise _fail(f"rule line says {n_words} words, {len(words)} slot lines")
        i += 1
        herrings = 0
        nm = _NOTE_RE.match(lines[i])
        if nm is not None:
            herrings = int(nm.group(1))
        elif lines[i] != R.NOTE_NO_HERRINGS:
            raise _fail("no notes line")
        b = lines.index(R.BANK_HEAD, i) + 1
        bank = lines[b].split(R.BANK_SEP) if lines[b] else []
        c = lines.index(R.CONTRACT[0], b)
        tail = lines[c + len(R.CONTRACT) :]
    except (IndexError, ValueError) as err:
        raise _fail(f"layout is incomplete ({err})") from None
    instruction = None
    if tail and tail[0].startswith(R.FORMAT_PREFIX):
        instruction = tail[0][len(R.FORMAT_PREFIX) :]
    return Puzzle(
        puzzle_id=puzzle_id,
        difficulty=_LABELS[label],
        words=words,
        bank=bank,
        red_herring_count=herrings,
        rule_range=(lo, hi),
        variant=_VARIANT_BY_INSTRUCTION.get(instruction or "") if instruction else None,
        format_instruction=instruction,
    )


def with_answers(puzzle: Puzzle, syllables: list[list[str]]) -> Puzzle:
    """The parsed puzzle completed with each word's syllables (from metadata or a golden)."""
    if len(syllables) != len(puzzle.words):
        raise DataError(f"{len(syllables)} answers for {len(puzzle.words)} clues")
    words = [
        Word(clue=w.clue, syllables=list(s), n_slots=w.n_slots)
        for w, s in zip(puzzle.words, syllables, strict=True)
    ]
    return Puzzle(
        puzzle_id=puzzle.puzzle_id,
        difficulty=puzzle.difficulty,
        words=words,
        bank=list(puzzle.bank),
        red_herring_count=puzzle.red_herring_count,
        rule_range=puzzle.rule_range,
        level=puzzle.level,
        variant=puzzle.variant,
        format_instruction=puzzle.format_instruction,
    )
