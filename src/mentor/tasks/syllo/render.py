"""Write SYLLO prompts and answers in the exact spec layout (``shared/spec/syllo.md``).

Every fixed string of the format is a module constant here; the parser, the scorer and the
scaffold tokenizer (``scaffold.py``) read them from this module.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from mentor.tasks.syllo.puzzle import Puzzle

HEADER = "SYLLO Puzzle "
INTRO = "You must recover every hidden word by assigning syllable tiles to definitions."
DIFFICULTY_PREFIX = "Difficulty: "
DIFFICULTY_SUFFIX = " (see notes for overlap/red herrings)."
DIFFICULTY_LABELS = {"easy": "Easy", "medium": "Medium", "hard": "Hard"}
RULES_HEAD = "Rules:"
RULE_COUNT = "- {n} target words (always between {lo} and {hi})."
RULES_FIXED = (
    "- Each word lists its syllable count via blank slots.",
    "- Syllable tiles may repeat across clues when the bank includes duplicates.",
    "- Return your answers as JSON with keys `solutions` and `inventory_check`.",
)
SLOTS_HEAD = "Word slots:"
SLOT = "___"
CLUE_SEP = " — "
NOTE_NO_HERRINGS = "- Use every syllable tile exactly once."
NOTE_HERRINGS = "Note: {r} tile(s) in the bank are red herrings and do not belong to any answer."
NOTE_HERRINGS_2 = "- List any leftover tiles under `inventory_check.unused_tiles`."
BANK_HEAD = "Syllable bank (shuffled):"
BANK_SEP = " | "
CONTRACT = (
    "Output contract:",
    "- Return a single JSON object.",
    "- Top-level keys: `solutions` (array) and `inventory_check` (object).",
    "- Each `solutions` entry contains `ans_num` (1-indexed clue number),",
    "  the ordered `syllables` you used, and the final UPPERCASE `answer`.",
    "- `inventory_check` must include `total_tiles`, a `usage` map of tile→count,",
    "  the `used` counts per tile, and a short `status` string.",
    "- If red herrings exist, include them under `inventory_check.unused_tiles`.",
    "Do not include literal JSON examples or commentary outside the payload.",
)
FORMAT_PREFIX = "- Format: "

STATUS_ALL = "All syllable tiles accounted for exactly once."
STATUS_HERRINGS = "All target words completed; red herrings unused: {herrings}."
TILE_SUMMARY = "All tiles accounted for."
MARKDOWN_STATUS = "Status: All tiles used."
REPORT_SUMMARY = "All words solved."
DIFFICULTY_RATING = "standard"
TABLE_HEADERS = ("Syllables", "Word")
MARKDOWN_HEAD = "| Syllables | Word |\n| --- | --- |"
TEXT_JOIN = " + "
TEXT_ARROW = " -> "
LIST_ARROW = " → "

# Clue forms of the ten-level scheme (definition clues are the bare gloss).
CLUE_FORMS = {
    "synonym": "Similar to: {}",
    "hypernym": "A type of: {}",
    "domain": "Subject: {}",
    "antonym": "Opposite of: {}",
    "morphology": "Related form: {}",
    "first_letter": "Starts with: {}",
    "syllable_hint": "{} syllables",
}
MASK = "[masked]"

# The twelve answer shapes and their ``- Format:`` instructions.
FORMAT_INSTRUCTIONS = {
    "solutions_only": "respond with `solutions` array containing objects with `ans_num`, `syllables`, and `answer` keys.",
    "solutions_map": "respond with `solutions_map` keyed by clue numbers (string) containing `syllables` and `word`, plus an `inventory_status` string.",
    "inventory_vector": "respond with `inventory_vector` array of `[tile, used_count, bank_count]` tuples and `answers` object.",
    "solutions_sequence": "respond with `sequence` array of `{index, word, syllables}` objects and an `unused_tiles` list.",
    "solutions_table": "respond with `solutions_table` with `headers` and `rows` arrays, plus `tile_summary` string.",
    "analysis_enriched": "respond with `solutions` array plus `analysis` object with `total_syllables` and `difficulty_rating`.",
    "solutions_text": "respond with compact `solutions_text` (semicolon-delimited) and `inventory_text` strings.",
    "solutions_list": 'respond with a JSON array `solutions_list` containing strings like `"1. SYL + LAB = WORD"` (no inventory data).',
    "solutions_markdown": "respond with `solutions_markdown` (a markdown table string) and an `inventory_markdown` status line.",
    "solutions_by_letter": "respond with `letters` array listing each word with its first letter and syllables, plus `tile_totals`.",
    "array_bundle": "respond with a top-level array containing `{section, data}` objects for solutions and inventory.",
    "report_wrapper": "respond with a `report` object containing `solutions` array and `summary` string.",
}
VARIANTS = tuple(FORMAT_INSTRUCTIONS)
CANONICAL = "canonical"


def rule_line(n: int, lo: int, hi: int) -> str:
    return RULE_COUNT.format(n=n, lo=lo, hi=hi)


def slots(n: int) -> str:
    return " ".join([SLOT] * n)


def render_prompt(puzzle: Puzzle) -> str:
    """The user message, byte for byte as the spec lays it out."""
    lo, hi = puzzle.rule_range
    lines = [
        HEADER + puzzle.puzzle_id,
        INTRO,
        DIFFICULTY_PREFIX + DIFFICULTY_LABELS[puzzle.difficulty] + DIFFICULTY_SUFFIX,
        RULES_HEAD,
        rule_line(len(puzzle.words), lo, hi),
        *RULES_FIXED,
        "",
        SLOTS_HEAD,
    ]
    for i, w in enumerate(puzzle.words, 1):
        lines.append(f"{i}. {slots(w.n_slots)}{CLUE_SEP}{w.clue}")
    lines.append("")
    r = puzzle.red_herring_count
    if r:
        lines += [NOTE_HERRINGS.format(r=r), NOTE_HERRINGS_2]
    else:
        lines.append(NOTE_NO_HERRINGS)
    lines += ["", BANK_HEAD, BANK_SEP.join(puzzle.bank), "", *CONTRACT]
    instruction = puzzle.format_instruction
    if instruction is None and puzzle.variant and puzzle.variant != CANONICAL:
        instruction = FORMAT_INSTRUCTIONS[puzzle.variant]
    if instruction is not None:
        lines.append(FORMAT_PREFIX + instruction)
    return "\n".join(lines)


def _solutions(puzzle: Puzzle) -> list[dict[str, Any]]:
    return [
        {"ans_num": i, "syllables": list(w.syllables), "answer": w.answer}
        for i, w in enumerate(puzzle.words, 1)
    ]


def _used(puzzle: Puzzle) -> dict[str, int]:
    used: dict[str, int] = {}
    for w in puzzle.words:
        for s in w.syllables:
            used[s] = used.get(s, 0) + 1
    return used


def status_line(herrings: list[str]) -> str:
    return STATUS_HERRINGS.format(herrings=", ".join(herrings)) if herrings else STATUS_ALL


def answer_object(puzzle: Puzzle, variant: str | None = None) -> Any:
    """The answer as a JSON value, in the canonical shape or one of the twelve variants."""
    v = variant or puzzle.variant or CANONICAL
    words = puzzle.words
    if v == CANONICAL:
        herrings = puzzle.red_herrings
        return {
            "solutions": _solutions(puzzle),
            "inventory_check": {
                "total_tiles": len(puzzle.bank),
                "usage": dict(Counter(puzzle.bank)),
                "used": _used(puzzle),
                "unused_tiles": herrings,
                "status": status_line(herrings),
            },
        }
    if v == "solutions_only":
        return {"solutions": _solutions(puzzle)}
    if v == "solutions_map":
        return {
            "solutions_map": {
                str(i): {"syllables": list(w.syllables), "word": w.answer}
                for i, w in enumerate(words, 1)
            },
            "inventory_status": STATUS_ALL,
        }
    if v == "inventory_vector":
        bank = Counter(puzzle.bank)
        return {
            "inventory_vector": [[t, n, bank[t]] for t, n in _used(puzzle).items()],
            "answers": {str(i): w.answer for i, w in enumerate(words, 1)},
        }
    if v == "solutions_sequence":
        return {
            "sequence": [
                {"index": i, "word": w.answer, "syllables": list(w.syllables)}
                for i, w in enumerate(words, 1)
            ],
            "unused_tiles": [],
        }
    if v == "solutions_table":
        return {
            "solutions_table": {
                "headers": list(TABLE_HEADERS),
                "rows": [[BANK_SEP.join(w.syllables), w.answer] for w in words],
            },
            "tile_summary": TILE_SUMMARY,
        }
    if v == "analysis_enriched":
        return {
            "solutions": _solutions(puzzle),
            "analysis": {
                "total_syllables": sum(len(w.syllables) for w in words),
                "difficulty_rating": DIFFICULTY_RATING,
            },
        }
    if v == "solutions_text":
        return {
            "solutions_text": "; ".join(
                f"{i}) {TEXT_JOIN.join(w.syllables)}{TEXT_ARROW}{w.answer}"
                for i, w in enumerate(words, 1)
            ),
            "inventory_text": STATUS_ALL,
        }
    if v == "solutions_list":
        return {
            "solutions_list": [
                f"{i}. {TEXT_JOIN.join(w.syllables)}{LIST_ARROW}{w.answer}"
                for i, w in enumerate(words, 1)
            ]
        }
    if v == "solutions_markdown":
        rows = [f"| {TEXT_JOIN.join(w.syllables)} | {w.answer} |" for w in words]
        return {
            "solutions_markdown": "\n".join([MARKDOWN_HEAD, *rows]),
            "inventory_markdown": MARKDOWN_STATUS,
        }
    if v == "solutions_by_letter":
        return {
            "letters": [
                {"word": w.answer, "first_letter": w.answer[:1], "syllables": list(w.syllables)}
                for w in words
            ],
            "tile_totals": sum(len(w.syllables) for w in words),
        }
    if v == "array_bundle":
        return [
            {"section": "solutions", "data": _solutions(puzzle)},
            {"section": "inventory", "data": {"status": "complete"}},
        ]
    if v == "report_wrapper":
        return {"report": {"solutions": _solutions(puzzle), "summary": REPORT_SUMMARY}}
    raise ValueError(f"unknown answer variant {v!r} (one of: canonical, {', '.join(VARIANTS)})")


def render_answer(puzzle: Puzzle, variant: str | None = None) -> str:
    """The assistant message: one line of ``json.dumps`` with default separators."""
    return json.dumps(answer_object(puzzle, variant))
