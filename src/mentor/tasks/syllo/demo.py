"""The demo's settings, in one place: word pool, data volume and files, model, training overlay.

What each value bought is measured in ``docs/demo.md``. The demo counts puzzles and steps, not
seconds, so its result repeats on a slower machine; only its duration changes.
"""

from __future__ import annotations

TIER = "easy"
WORDS = 150  # the most frequent eligible words: a pool a 1M model learns in minutes
MODEL_SIZE = "demo"  # models/tiny.py: the xs shape, tokenizer trained on this pool
PUZZLES = 24_000  # training puzzles over all files
FILES = 4  # dropped one after another; one optimizer and one schedule across them
HELDOUT = 50  # held-out puzzles (new puzzles over the same words), evaluated after each file
TRAIN_SEED = 1000  # file k of demo seed s: TRAIN_SEED + 100 * s + k
HELDOUT_SEED = 2000  # held-out set of demo seed s: HELDOUT_SEED + s
TOKENS_PER_PUZZLE = 200  # p50 of a demo puzzle with the demo tokenizer (prompt + answer)

# The training overlay (``--set`` pairs) on top of mentor's defaults.
CONFIG: list[str] = [
    "training.method=full",
    "training.learning_rate=5e-3",
    "training.warmup_steps=30",
    "training.schedule=cosine",
    f"training.horizon_tokens={PUZZLES * TOKENS_PER_PUZZLE}",
    "training.batch_size=4",
    "training.grad_accum=1",
    "training.max_length=768",
    "training.save_steps=1000",
    "training.logging_steps=20",
    "data.holdout_max=16",
    "eval.val_every=0",
    "eval.live_every=0",
]


def train_seed(seed: int, file_index: int) -> int:
    return TRAIN_SEED + 100 * seed + file_index


def heldout_seed(seed: int) -> int:
    return HELDOUT_SEED + seed
