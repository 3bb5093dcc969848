"""The demo's settings, in one place: word pool, data volume and files, model, training overlay.

What each value bought is measured in ``docs/demo.md``. The demo counts puzzles and steps, not
seconds, so its result repeats on a slower machine; only its duration changes.
"""

from __future__ import annotations

from typing import Literal

TIER = "easy"
WORDS = 150  # the most frequent eligible words: a pool a tiny model learns in minutes
MODEL_SIZE: Literal["demo"] = "demo"  # models/tiny.py: 3 layers of 96, its own tokenizer
PUZZLES = 23_100  # training puzzles over all files: 10 minutes on 2 cores (docs/demo.md)
FILES = 3  # dropped one after another; one optimizer and one schedule across them
HELDOUT = 50  # held-out puzzles (new puzzles over the same words), evaluated after each file
TRAIN_SEED = 1000  # file k of demo seed s: TRAIN_SEED + 100 * s + k
HELDOUT_SEED = 2000  # held-out set of demo seed s: HELDOUT_SEED + s
TOKENS_PER_PUZZLE = 172  # p50 of a demo puzzle with the demo tokenizer (prompt 97 + answer 76)

# The training overlay (``--set`` pairs) on top of mentor's defaults.
CONFIG: list[str] = [
    "training.method=full",
    "chat.train_on=all",  # loss on the prompt too: definitions and bank teach the pairs (run V2)
    "training.learning_rate=5e-3",
    "training.warmup_steps=30",
    "training.schedule=cosine",
    f"training.horizon_tokens={PUZZLES * TOKENS_PER_PUZZLE}",
    "training.replay_fraction=0",  # every file teaches the same words: nothing to forget
    "training.batch_size=1",  # one pack of 768 tokens (~4.4 puzzles) per step: runs A-C
    "training.grad_accum=1",
    "training.max_length=768",
    "training.save_steps=1000",
    "training.logging_steps=20",
    "data.holdout_max=16",
    "eval.val_every=0",
    "eval.live_every=0",
]


# The workspace's daemon and evaluation for a demo: no suite benchmarks (the 150-word model knows
# no other words; every version is scored on the demo's own held-out puzzles instead), a short
# settle time for files the demo drops itself, no daily snapshot, a small disk guard.
DAEMON_CONFIG: list[str] = [
    "eval.benchmarks=[]",
    "eval.quick_per_tier=0",
    "eval.full_when_idle=false",
    "daemon.settle_seconds=0.5",
    "daemon.poll_seconds=0.5",
    "daemon.backoff_seconds=0",
    "daemon.snapshot_at=null",
    "daemon.min_free_gib=0.5",
    "forgetting.probe_rows=0",  # a model trained from scratch has no general English to keep
    "forgetting.sample=0",  # earlier files' held-out loss only; the demo scores generation
]

METRICS = ("solved", "word_acc", "json_valid")  # the summary's metrics, headline first


def train_seed(seed: int, file_index: int) -> int:
    return TRAIN_SEED + 100 * seed + file_index


def heldout_seed(seed: int) -> int:
    return HELDOUT_SEED + seed
