"""Backtracking check that a bank admits exactly one complete fill.

A *fill* assigns bank tiles to every slot so that each slot's tiles, in order, are the pyphen
syllables of a lexicon word with that slot's syllable count (red herrings stay unused). The
puzzle is sound when the only fill's multiset of words is the answers'.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import lru_cache

from mentor.tasks.syllo.lexicon import load_lexicon

NODE_LIMIT = 20_000


@lru_cache(maxsize=1)
def _pair_index() -> dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]]:
    idx: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for e in load_lexicon().values():
        idx[(e.syllables[0], e.syllables[1])].append((e.word, e.syllables))
    return dict(idx)


def candidates(bank: list[str], counts: set[int]) -> dict[int, list[tuple[str, tuple[str, ...]]]]:
    """Lexicon words, by syllable count, whose syllables the bank can supply."""
    have = Counter(bank)
    idx = _pair_index()
    out: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for a in have:
        for b in have:
            if a == b and have[a] < 2:
                continue
            for word, syl in idx.get((a, b), ()):
                if len(syl) not in counts:
                    continue
                need = Counter(syl)
                if all(have[t] >= n for t, n in need.items()):
                    out[len(syl)].append((word, syl))
    for k in out:
        out[k].sort()
    return out


def alternative_fill(
    slot_counts: list[int], bank: list[str], answers: list[str], node_limit: int = NODE_LIMIT
) -> list[str] | None:
    """A complete fill whose words differ from ``answers`` (lowercase), or None when unique.

    Returns ``["<search limit>"]`` when the search gives up (treat as not unique).
    """
    target = sorted(a.lower() for a in answers)
    cands = candidates(bank, set(slot_counts))
    order = sorted(range(len(slot_counts)), key=lambda i: (-slot_counts[i], i))
    ks = [slot_counts[i] for i in order]
    have = Counter(bank)
    chosen: list[str] = []
    nodes = 0

    def rec(pos: int, start: int) -> list[str] | None:
        nonlocal nodes
        if pos == len(ks):
            return list(chosen) if sorted(chosen) != target else None
        k = ks[pos]
        lst = cands.get(k, [])
        first = start if pos > 0 and ks[pos - 1] == k else 0
        for j in range(first, len(lst)):
            nodes += 1
            if nodes > node_limit:
                raise _Limit
            word, syl = lst[j]
            if any(have[t] <= 0 for t in syl):
                continue
            ok = True
            for t in syl:
                have[t] -= 1
                if have[t] < 0:
                    ok = False
            if ok:
                chosen.append(word)
                found = rec(pos + 1, j + 1)
                chosen.pop()
                if found is not None:
                    for t in syl:
                        have[t] += 1
                    return found
            for t in syl:
                have[t] += 1
        return None

    try:
        return rec(0, 0)
    except _Limit:
        return ["<search limit>"]


class _Limit(Exception):
    pass


def is_unique(slot_counts: list[int], bank: list[str], answers: list[str]) -> bool:
    return alternative_fill(slot_counts, bank, answers) is None
