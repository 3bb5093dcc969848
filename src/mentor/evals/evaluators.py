"""Evaluators: a small registry, name -> class.

- ``syllo``: the layered SYLLO scorer (json_valid, word_acc, tiles_valid, inventory_ok, solved,
  exact), scored from the prompt and the output, never one brittle string compare.
- ``exact_match``: generic chat data, exact match and token F1 against the last assistant turn,
  both normalised (lowercase, no punctuation, no articles, single spaces).
- ``perplexity``: mean NLL and perplexity on the assistant tokens exactly as training masks them
  (``ChatRenderer.render`` spans + fast-tokenizer offsets), batched, never truncated.

Generative evaluators score an output; the others compute their metrics from the model directly.
"""

from __future__ import annotations

import collections
import math
import re
import string
from collections.abc import Callable
from typing import ClassVar

from mentor.data.packing import PaddedCollator
from mentor.data.tokenize import labels_from_offsets
from mentor.engine import Engine
from mentor.errors import ConfigError
from mentor.evals.tasks import Item, syllo_api


class Evaluator:
    name: ClassVar[str] = ""
    generative: ClassVar[bool] = True
    binary: ClassVar[frozenset[str]] = frozenset()  # per-item 0/1 metrics (McNemar)
    headline: ClassVar[str] = ""

    def score(self, item: Item, output: str) -> dict[str, float]:
        raise NotImplementedError

    def compute(
        self,
        engine: Engine,
        items: list[Item],
        *,
        adapter: str | None = None,
        batch_size: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> list[dict[str, float]]:
        """Metrics of each item from the model under ``adapter`` (non-generative evaluators)."""
        raise NotImplementedError


REGISTRY: dict[str, type[Evaluator]] = {}


def register(cls: type[Evaluator]) -> type[Evaluator]:
    REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> Evaluator:
    if name not in REGISTRY:
        raise ConfigError(f"evaluator {name!r}: unknown", hint=f"one of {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def binary_metrics(names: list[str]) -> set[str]:
    out: set[str] = set()
    for n in names:
        out |= REGISTRY[n].binary
    return out


@register
class SylloEvaluator(Evaluator):
    name = "syllo"
    binary = frozenset({"json_valid", "tiles_valid", "inventory_ok", "solved", "exact"})
    headline = "solved"
    KEYS = ("json_valid", "word_acc", "tiles_valid", "inventory_ok", "solved", "exact")

    def score(self, item: Item, output: str) -> dict[str, float]:
        raw = syllo_api().score(item.user_text, output, item.golden)
        return {k: float(raw.get(k, 0.0)) for k in self.KEYS}


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(pred: str, gold: str) -> float:
    p, g = normalize(pred).split(), normalize(gold).split()
    if not p and not g:
        return 1.0
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


@register
class ExactMatchEvaluator(Evaluator):
    name = "exact_match"
    binary = frozenset({"exact"})
    headline = "exact"

    def score(self, item: Item, output: str) -> dict[str, float]:
        gold = item.golden or ""
        return {"exact": float(normalize(output) == normalize(gold)), "f1": token_f1(output, gold)}


@register
class PerplexityEvaluator(Evaluator):
    """Per item: ``loss`` (mean NLL over its trained tokens) and the sums behind the pooled loss."""

    name = "perplexity"
    generative = False
    headline = "loss"

    def compute(
        self,
        engine: Engine,
        items: list[Item],
        *,
        adapter: str | None = None,
        batch_size: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> list[dict[str, float]]:
        tok, renderer = engine.tokenizer, engine.renderer
        encoded: list[tuple[list[int], list[int]]] = []
        for it in items:  # the training text and mask, never truncated
            r = renderer.render(it.messages, where=it.id)
            enc = tok(r.text, add_special_tokens=False, return_offsets_mapping=True)
            labels, _ = labels_from_offsets(enc["offset_mapping"], r.spans, enc["input_ids"])
            encoded.append((list(enc["input_ids"]), labels))
        order = sorted(range(len(items)), key=lambda i: len(encoded[i][0]))
        out: list[dict[str, float]] = [{} for _ in items]
        collate = PaddedCollator(tok.pad_token_id if tok.pad_token_id is not None else 0)
        for start in range(0, len(order), max(1, batch_size)):
            idx = order[start : start + batch_size]
            batch = collate(
                [{"segments": [encoded[i]], "rows": (i,), "start": 0, "end": 0} for i in idx]
            )
            sums, counts = engine.nll(batch, adapter=adapter)
            for i, total, n in zip(idx, sums, counts, strict=True):
                out[i] = {
                    "loss": total / n if n else float("nan"),
                    "_nll_sum": total,
                    "_tokens": float(n),
                }
            if progress is not None:
                progress(len(idx))
        return out


def aggregate(scores: list[dict[str, float]]) -> dict[str, float]:
    """Means of the per-item metrics; pooled ``loss``/``perplexity`` from the NLL sums."""
    agg: dict[str, float] = {}
    keys = sorted({k for s in scores for k in s if not k.startswith("_")})
    for k in keys:
        vals = [s[k] for s in scores if k in s and not math.isnan(s[k])]
        if vals:
            agg[k] = sum(vals) / len(vals)
    tokens = sum(s.get("_tokens", 0.0) for s in scores)
    if tokens:
        loss = sum(s.get("_nll_sum", 0.0) for s in scores) / tokens
        agg["loss"] = loss
        agg["perplexity"] = math.exp(min(loss, 700.0))
    return agg
