"""The SYLLO lexicon: words, pyphen syllables, Zipf frequency and WordNet senses.

The data file ``data/lexicon.jsonl.gz`` is built at development time by
``scripts/build_lexicon.py`` (WordNet 3.0 + pyphen + wordfreq); the runtime only reads it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

NOVEL_PERCENT = 10


@dataclass(frozen=True)
class Entry:
    word: str
    syllables: tuple[str, ...]
    zipf: float
    senses: tuple[tuple[str, str], ...]  # (gloss, pos)
    synonyms: tuple[str, ...]
    hypernyms: tuple[str, ...]
    antonyms: tuple[str, ...]
    domain: str
    examples: tuple[str, ...]
    related: tuple[str, ...]


@cache
def is_novel(word: str) -> bool:
    """The reserved ``novel`` split (~10% of words): training generation never draws them."""
    digest = hashlib.sha256(b"syllo-novel:" + word.encode()).digest()
    return int.from_bytes(digest[:2], "big") % 100 < NOVEL_PERCENT


@lru_cache(maxsize=1)
def load_lexicon() -> dict[str, Entry]:
    """word -> Entry, in alphabetical order (loaded once, cached)."""
    ref = resources.files("mentor.tasks.syllo").joinpath("data/lexicon.jsonl.gz")
    raw = gzip.decompress(ref.read_bytes()).decode("ascii")
    out: dict[str, Entry] = {}
    for line in raw.splitlines():
        d = json.loads(line)
        out[d["word"]] = Entry(
            word=d["word"],
            syllables=tuple(d["syllables"]),
            zipf=float(d["zipf"]),
            senses=tuple((s["gloss"], s["pos"]) for s in d["senses"]),
            synonyms=tuple(d["synonyms"]),
            hypernyms=tuple(d["hypernyms"]),
            antonyms=tuple(d["antonyms"]),
            domain=d["domain"],
            examples=tuple(d["examples"]),
            related=tuple(d["related"]),
        )
    return out


def lexicon_size() -> int:
    return len(load_lexicon())
