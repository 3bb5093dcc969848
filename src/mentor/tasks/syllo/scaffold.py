"""Strings for a scaffold tokenizer: the renderer's fixed strings and a training corpus.

``scaffold_strings()`` lists the format's fixed pieces (derived from ``render``'s constants and
from rendering), to be added as (non-special) tokens; ``corpus(n, seed)`` yields prompt+answer
texts of mixed tiers for training the BPE model.
"""

from __future__ import annotations

import json

from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.generate import generate


def scaffold_strings() -> list[str]:
    out: list[str] = []

    def add(s: str) -> None:
        if s and s not in out:
            out.append(s)

    add(R.HEADER)
    add(R.INTRO)
    for label in R.DIFFICULTY_LABELS.values():
        add(R.DIFFICULTY_PREFIX + label + R.DIFFICULTY_SUFFIX)
    add(R.RULES_HEAD)
    pre, post = R.RULE_COUNT.split("{n}")
    add(pre)
    for lo, hi in ((4, 8), (4, 10)):
        add(post.format(lo=lo, hi=hi))
    for line in (*R.RULES_FIXED, R.SLOTS_HEAD, R.NOTE_NO_HERRINGS, R.NOTE_HERRINGS_2, R.BANK_HEAD):
        add(line)
    npre, npost = R.NOTE_HERRINGS.split("{r}")
    add(npre)
    add(npost)
    for line in R.CONTRACT:
        add(line)
    add(R.FORMAT_PREFIX)
    for text in R.FORMAT_INSTRUCTIONS.values():
        add(text)
    add(" " + R.SLOT)
    add(R.SLOT)
    add(R.CLUE_SEP)
    add(R.BANK_SEP)
    for form in R.CLUE_FORMS.values():
        for part in form.split("{}"):
            add(part)
    add(R.MASK)
    # JSON glue, taken from a rendered answer so it matches json.dumps byte for byte.
    for piece in (
        '{"solutions": [{"ans_num": ',
        ', "syllables": [',
        '"], "answer": "',
        '"}, {"ans_num": ',
        '"}], "inventory_check": {"total_tiles": ',
        ', "usage": {',
        '}, "used": {',
        '}, "unused_tiles": [',
        '], "status": "',
        '"}}',
        '", "',
        '": ',
        ", ",
    ):
        add(piece)
    sp, spost = R.STATUS_HERRINGS.split("{herrings}")
    for s in (R.STATUS_ALL, sp, spost, R.TILE_SUMMARY, R.MARKDOWN_STATUS, R.REPORT_SUMMARY):
        add(s)
    add(json.dumps(R.STATUS_ALL))
    return out


def corpus(n: int, seed: int) -> list[str]:
    """``n`` prompt + "\\n" + answer texts of mixed tiers (training split, deterministic)."""
    rows = generate(n, seed, tier="mixed", exclude_benchmarks=False)
    return [r["messages"][0]["content"] + "\n" + r["messages"][1]["content"] for r in rows]
