"""SYLLO, the built-in task: lexicon, generator, parser, renderer, scorer, benchmarks.

Public API::

    score(prompt, output, golden=None) -> dict[str, float]
    generate(count, seed, *, tier="easy", level=None, variants=False, vocab_size=None,
             novel=False, split="train", exclude_benchmarks=None) -> list[dict]
    parse_prompt(text) -> Puzzle;  render_prompt(puzzle) -> str;  render_answer(puzzle, variant=None) -> str
    list_benchmarks() -> list[dict];  load_benchmark(name) -> list[dict]
    canonical_hash(prompt | Puzzle | row) -> str;  benchmark_hashes() -> set[str]
    find_contamination(rows) -> list[tuple[int, str, str]]
    scaffold_strings() -> list[str];  corpus(n, seed) -> list[str]

``score`` and ``parse_prompt`` need neither torch nor WordNet.
"""

from mentor.tasks.syllo.bench import (
    benchmark_hashes,
    canonical_hash,
    find_contamination,
    list_benchmarks,
    load_benchmark,
)
from mentor.tasks.syllo.generate import generate, iter_puzzles
from mentor.tasks.syllo.parse import parse_prompt, with_answers
from mentor.tasks.syllo.puzzle import Puzzle, Word
from mentor.tasks.syllo.render import VARIANTS, render_answer, render_prompt
from mentor.tasks.syllo.scaffold import corpus, scaffold_strings
from mentor.tasks.syllo.score import METRICS, score

__all__ = [
    "METRICS",
    "VARIANTS",
    "Puzzle",
    "Word",
    "benchmark_hashes",
    "canonical_hash",
    "corpus",
    "find_contamination",
    "generate",
    "iter_puzzles",
    "list_benchmarks",
    "load_benchmark",
    "parse_prompt",
    "render_answer",
    "render_prompt",
    "scaffold_strings",
    "score",
    "with_answers",
]
