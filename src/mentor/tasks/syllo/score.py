"""Layered SYLLO metrics from the prompt and the raw model output alone (no torch).

``score(prompt, output, golden=None)`` returns ``json_valid``, ``word_acc``, ``tiles_valid``,
``inventory_ok``, ``solved`` and, when a golden answer is given, ``exact``. Expected words come
from the golden when given; otherwise a word counts as right when the lexicon entry of that word
matches the clue (any clue form) and its tiles fit the slot, or, for words the lexicon does not
know or whose clue comes from another source, when the whole answer is a consistent complete
fill of the bank (tiles valid, every slot filled, exactly the herring count left over) and no
other answer of the output matches that clue better (a swap).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.parse import parse_prompt
from mentor.tasks.syllo.puzzle import Puzzle

METRICS = ("json_valid", "word_acc", "tiles_valid", "inventory_ok", "solved")
_STATUS_KEYS = {
    "status",
    "inventory_status",
    "tile_summary",
    "inventory_text",
    "inventory_markdown",
    "summary",
}
_ITEM_RE = re.compile(r"^\s*(\d+)\s*[.)]\s*(.*?)\s*(?:->|→|=)\s*([A-Za-z]+)\s*$")


@dataclass
class Sol:
    index: int  # 1-based clue number
    word: str
    syllables: list[str] | None


def extract_json(output: str) -> Any | None:
    """The first complete JSON object/array after an optional leading think block."""
    text = output.lstrip()
    if text.startswith("<think>"):
        end = text.find("</think>")
        if end < 0:
            return None
        text = text[end + len("</think>") :]
    i = 0
    n = len(text)
    while i < n:
        if text[i] not in "{[":
            i += 1
            continue
        close = _balanced_end(text, i)
        if close is None:
            return None  # truncated
        try:
            value = json.loads(text[i : close + 1])
        except ValueError:
            i += 1
            continue
        if isinstance(value, dict | list):
            return value
        i += 1
    return None


def _balanced_end(text: str, start: int) -> int | None:
    depth = 0
    in_str = False
    esc = False
    for j in range(start, len(text)):
        c = text[j]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return j
    return None


def _split_syl(s: str) -> list[str]:
    return [t.strip().lower() for t in re.split(r"\s*[+|]\s*", s.strip()) if t.strip()]


def _from_solutions(lst: Any) -> list[Sol]:
    out = []
    for k, e in enumerate(lst if isinstance(lst, list) else [], 1):
        if not isinstance(e, dict):
            continue
        idx = e.get("ans_num", e.get("index", k))
        word = e.get("answer", e.get("word", ""))
        syl = e.get("syllables")
        out.append(
            Sol(
                int(idx) if isinstance(idx, int | str) and str(idx).isdigit() else k,
                str(word),
                [str(s) for s in syl] if isinstance(syl, list) else None,
            )
        )
    return out


def extract_solutions(value: Any) -> tuple[list[Sol], str]:
    """Solutions from any of the answer shapes, plus the shape's name."""
    if isinstance(value, list):
        for sec in value:
            if isinstance(sec, dict) and sec.get("section") == "solutions":
                return _from_solutions(sec.get("data")), "array_bundle"
        return [], "unknown"
    if not isinstance(value, dict):
        return [], "unknown"
    if "solutions" in value:
        shape = (
            "analysis_enriched"
            if "analysis" in value
            else (R.CANONICAL if "inventory_check" in value else "solutions_only")
        )
        return _from_solutions(value["solutions"]), shape
    if isinstance(value.get("report"), dict):
        return _from_solutions(value["report"].get("solutions")), "report_wrapper"
    if isinstance(value.get("solutions_map"), dict):
        sols = []
        for k, e in value["solutions_map"].items():
            if str(k).isdigit() and isinstance(e, dict):
                syl = e.get("syllables")
                sols.append(
                    Sol(
                        int(k),
                        str(e.get("word", e.get("answer", ""))),
                        syl if isinstance(syl, list) else None,
                    )
                )
        return sols, "solutions_map"
    if "inventory_vector" in value:
        ans: dict[Any, Any] = value["answers"] if isinstance(value.get("answers"), dict) else {}
        return [
            Sol(int(k), str(v), None) for k, v in ans.items() if str(k).isdigit()
        ], "inventory_vector"
    if "sequence" in value:
        return _from_solutions(value["sequence"]), "solutions_sequence"
    if isinstance(value.get("solutions_table"), dict):
        rows = value["solutions_table"].get("rows") or []
        sols = [
            Sol(k, str(r[1]), _split_syl(str(r[0])))
            for k, r in enumerate(rows, 1)
            if isinstance(r, list) and len(r) >= 2
        ]
        return sols, "solutions_table"
    if isinstance(value.get("letters"), list):
        return _from_solutions(value["letters"]), "solutions_by_letter"
    items: list[str] = []
    shape = "unknown"
    if isinstance(value.get("solutions_text"), str):
        items, shape = value["solutions_text"].split(";"), "solutions_text"
    elif isinstance(value.get("solutions_list"), list):
        items, shape = [str(x) for x in value["solutions_list"]], "solutions_list"
    elif isinstance(value.get("solutions_markdown"), str):
        shape = "solutions_markdown"
        k = 0
        for line in value["solutions_markdown"].splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 2 or cells[0] in ("Syllables", "---") or set(cells[0]) <= {"-", " "}:
                continue
            k += 1
            items.append(f"{k}. {cells[0]} -> {cells[-1]}")
    sols = []
    for it in items:
        m = _ITEM_RE.match(it)
        if m:
            sols.append(Sol(int(m.group(1)), m.group(3), _split_syl(m.group(2))))
    return sols, shape


def _clue_matches(word: str, clue: str) -> bool | None:
    """Does the lexicon entry of ``word`` explain ``clue``? None when the word is unknown."""
    from mentor.tasks.syllo.generate import make_clue_options

    opts = make_clue_options(word)
    if opts is None:
        return None
    return clue in opts


_WEAK_RE = re.compile(
    "|".join(
        "^" + re.escape(R.CLUE_FORMS[k]).replace(re.escape("{}"), ".*") + "$"
        for k in ("domain", "first_letter", "syllable_hint")
    )
)


def _weak(clue: str) -> bool:
    """Clue forms that many words share (subject, first letter, syllable count)."""
    return _WEAK_RE.match(clue) is not None


def _inventory_ok(value: Any, shape: str, puzzle: Puzzle, sols: list[Sol], tiles_ok: bool) -> bool:
    bank = Counter(puzzle.bank)
    used: Counter[str] = Counter()
    for s in sols:
        used.update(t.lower() for t in (s.syllables or []))
    herrings = sorted((bank - used).elements())
    if shape == R.CANONICAL:
        inv = value.get("inventory_check")
        if not isinstance(inv, dict):
            return False
        return (
            inv.get("total_tiles") == len(puzzle.bank)
            and inv.get("usage") == dict(bank)
            and inv.get("used") == dict(used)
            and inv.get("unused_tiles") == herrings
        )
    if shape == "inventory_vector":
        vec = value.get("inventory_vector")
        if not isinstance(vec, list):
            return False
        total = 0
        for row in vec:
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[1], int)):
                return False
            tile, n_used, n_bank = row
            if tile not in bank or n_bank != bank[tile] or n_used > n_bank:
                return False
            total += n_used
        letters = "".join(str(s.word).lower() for s in sols)
        vec_letters = "".join(str(r[0]) * r[1] for r in vec)
        return total == sum(puzzle.slot_counts) and sorted(letters) == sorted(vec_letters)
    if shape == "solutions_sequence":
        return tiles_ok and value.get("unused_tiles") in ([], herrings)
    if shape == "solutions_by_letter":
        return tiles_ok and value.get("tile_totals") == sum(used.values())
    return tiles_ok


def score(prompt: str, output: str, golden: str | None = None) -> dict[str, float]:
    """Layered metrics for one output; ``exact`` only when ``golden`` is given."""
    puzzle = parse_prompt(prompt)
    n = len(puzzle.words)
    res = dict.fromkeys(METRICS, 0.0)
    gold_value = extract_json(golden) if golden is not None else None
    if golden is not None:
        res["exact"] = 0.0
    value = extract_json(output)
    if value is None:
        return res
    res["json_valid"] = 1.0
    sols, shape = extract_solutions(value)
    by_idx: dict[int, Sol] = {}
    for s in sols:
        by_idx.setdefault(s.index, s)
    # tiles
    bank = Counter(puzzle.bank)
    used: Counter[str] = Counter()
    tiles_ok = bool(sols)
    if shape == "inventory_vector":
        tiles_ok = tiles_ok and _inventory_ok(value, shape, puzzle, sols, True)
        for row in value.get("inventory_vector") or []:
            if tiles_ok:
                used[str(row[0])] += int(row[1])
    else:
        for s in sols:
            syl = [t.lower() for t in (s.syllables or [])]
            if not syl or "".join(syl) != s.word.lower() or any(t not in bank for t in syl):
                tiles_ok = False
            used.update(syl)
        if any(used[t] > bank[t] for t in used):
            tiles_ok = False
    # words
    expected: list[str] | None = None
    if gold_value is not None:
        gsols, _ = extract_solutions(gold_value)
        gmap = {s.index: s.word.upper() for s in gsols}
        expected = [gmap.get(i, "") for i in range(1, n + 1)]
    right = 0
    complete_fill = (
        len(by_idx) == n
        and all(1 <= i <= n for i in by_idx)
        and sum(used.values()) == sum(puzzle.slot_counts)
        and len(puzzle.bank) - sum(used.values()) == puzzle.red_herring_count
    )
    for i, w in enumerate(puzzle.words, 1):
        got = by_idx.get(i)
        if got is None:
            continue
        s = got
        if expected is not None:
            right += s.word.upper() == expected[i - 1]
            continue
        word = s.word.lower()
        fits = s.syllables is None or len(s.syllables) == w.n_slots
        if not fits:
            continue
        if _clue_matches(word, w.clue):
            right += 1
        elif tiles_ok and complete_fill:
            swapped = not _weak(w.clue) and any(
                o.index != i
                and 1 <= o.index <= n
                and _clue_matches(o.word.lower(), w.clue)
                and not _weak(puzzle.words[o.index - 1].clue)
                and _clue_matches(word, puzzle.words[o.index - 1].clue)
                for o in by_idx.values()
            )
            right += not swapped
    res["word_acc"] = right / n if n else 0.0
    res["tiles_valid"] = float(tiles_ok)
    res["inventory_ok"] = float(_inventory_ok(value, shape, puzzle, sols, tiles_ok))
    res["solved"] = float(right == n and tiles_ok)
    if gold_value is not None:
        res["exact"] = float(_strip_status(value) == _strip_status(gold_value))
    return res


def _strip_status(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_status(x) for k, x in v.items() if k not in _STATUS_KEYS}
    if isinstance(v, list):
        return [_strip_status(x) for x in v]
    return v
