"""Hyperparameter search (``mentor tune``): Optuna TPE over config keys, pruned on the held-out
loss, each trial on a scratch copy of the lineage, the best settings written as a config patch.

    from mentor.tune import SearchOptions, run_search
    result = run_search(ws, cfg, SearchOptions(data=Path("easy.jsonl"), trials=20))
"""

from mentor.tune.search import SearchEvents, SearchOptions, SearchResult, TrialRow, run_search
from mentor.tune.space import Space, default_space, load_space

__all__ = [
    "SearchEvents",
    "SearchOptions",
    "SearchResult",
    "Space",
    "TrialRow",
    "default_space",
    "load_space",
    "run_search",
]
