"""The puzzle model shared by the renderer, the parser, the generator and the scorer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TIERS = ("easy", "medium", "hard")
TIER_RULE_RANGE = (4, 8)
LEVEL_RULE_RANGE = (4, 10)


@dataclass
class Word:
    """One hidden word: its clue and syllables (``label``/``syllables`` empty when parsed)."""

    clue: str
    syllables: list[str] = field(default_factory=list)
    label: str = ""
    n_slots: int = 0
    zipf: float | None = None
    hint_type: str = "definition"

    def __post_init__(self) -> None:
        if not self.n_slots:
            self.n_slots = len(self.syllables)
        if not self.label and self.syllables:
            self.label = "".join(self.syllables)

    @property
    def answer(self) -> str:
        return "".join(self.syllables).upper()


@dataclass
class Puzzle:
    puzzle_id: str
    difficulty: str  # easy | medium | hard (printed capitalised)
    words: list[Word]
    bank: list[str]
    red_herring_count: int = 0
    rule_range: tuple[int, int] = TIER_RULE_RANGE
    level: int | None = None
    variant: str | None = None
    format_instruction: str | None = None

    @property
    def slot_counts(self) -> list[int]:
        return [w.n_slots for w in self.words]

    @property
    def answers(self) -> list[str]:
        return [w.answer for w in self.words]

    @property
    def red_herrings(self) -> list[str]:
        """Bank tiles no answer uses, sorted (needs the words' syllables)."""
        rest = Counter(self.bank)
        rest.subtract(s for w in self.words for s in w.syllables)
        return sorted(rest.elements())

    @property
    def overlap(self) -> float:
        syl = [s for w in self.words for s in w.syllables]
        return (len(syl) - len(set(syl))) / len(syl) if syl else 0.0
