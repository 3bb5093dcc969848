"""Augment a JSONL file: SYLLO ops (``tasks/syllo/augment.py``) and system-prompt variation.

``augment_file(src, dst, cfg)`` is what ``mentor augment`` runs and what the daemon can call on a
file it takes (config ``data.augment``). Every source row gets ``factor`` copies; copy ``k`` of row
``i`` applies recipe ``(i * factor + k) mod len(recipes)``, so each recipe gets an even share. A
recipe is one op or several joined by ``+`` (composed). A copy is written only if it passes
``mentor syllo check`` (SYLLO rows), is not a benchmark puzzle (canonical hash, which ignores
clue and bank order) and is not a duplicate of a row already written; every other copy is
counted with its reason. The same seed gives the same bytes.

Split held-out rows off *before* augmenting: copies of one puzzle on both sides of a split make
the held-out score a training score (``metadata.augment`` names each copy's source row).
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.config import AUGMENT_OPS, AugmentConfig, Config
from mentor.data.jsonl import read_objects
from mentor.errors import ConfigError, DataError
from mentor.paths import atomic_write_text
from mentor.tasks.syllo.augment import (
    OPS as SYLLO_OPS,
)
from mentor.tasks.syllo.augment import (
    NotApplicable,
    SylloRow,
    apply_ops,
    augmented_id,
    check_row,
    read_row,
    to_row,
)
from mentor.tasks.syllo.bench import benchmark_index, canonical_hash

Progress = Callable[[int, int], None]
Recipe = tuple[str, ...]


@dataclass
class RecipeStats:
    """Copies one recipe was asked for, wrote, and refused (reason -> count)."""

    tried: int = 0
    written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass
class AugmentReport:
    src: str
    dst: str
    seed: int
    factor: int
    rows_in: int = 0
    originals: int = 0  # source rows written unchanged
    augmented: int = 0  # copies written
    source_benchmark_rows: int = 0  # source rows that are benchmark puzzles (never copied)
    recipes: dict[str, RecipeStats] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_out(self) -> int:
        return self.originals + self.augmented

    @property
    def rejected(self) -> int:
        return sum(sum(r.rejected.values()) for r in self.recipes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "seed": self.seed,
            "factor": self.factor,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "originals": self.originals,
            "augmented": self.augmented,
            "rejected": self.rejected,
            "source_benchmark_rows": self.source_benchmark_rows,
            "recipes": {
                name: {
                    "tried": r.tried,
                    "written": r.written,
                    "rejected": dict(sorted(r.rejected.items())),
                }
                for name, r in self.recipes.items()
            },
            "seconds": round(self.seconds, 2),
        }


def parse_recipes(spec: list[str] | str) -> list[Recipe]:
    """``"a,b+c"`` or ``["a", "b+c"]`` -> ``[("a",), ("b", "c")]``; unknown ops are an error."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    recipes: list[Recipe] = []
    for item in items:
        names = tuple(n.strip() for n in item.split("+") if n.strip())
        bad = [n for n in names if n not in AUGMENT_OPS]
        if not names or bad or len(set(names)) != len(names):
            raise ConfigError(
                f"augment ops: {item.strip()!r} is not a recipe",
                hint=f"ops are {', '.join(AUGMENT_OPS)}; join ops with '+' to compose them",
            )
        recipes.append(names)
    if not recipes:
        raise ConfigError("augment ops: no recipe given", hint="e.g. --ops shuffle_clues,typos")
    return recipes


def load_system_prompts(cfg: AugmentConfig, home: Path | None = None) -> list[str]:
    """``system_prompts`` plus the non-blank lines of ``system_prompts_file``, deduplicated."""
    prompts = list(cfg.system_prompts)
    if cfg.system_prompts_file:
        path = Path(cfg.system_prompts_file).expanduser()
        if not path.is_absolute() and home is not None:
            path = home / path
        if not path.is_file():
            raise ConfigError(
                f"data.augment.system_prompts_file: {path}: no such file",
                hint="one system prompt per line",
            )
        prompts += [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [p for p in dict.fromkeys(prompts) if p]


def _with_system(row: dict[str, Any], prompt: str) -> dict[str, Any]:
    """The row with ``prompt`` as its system turn; a row with its own keeps it (not augmented)."""
    msgs = row.get("messages")
    if not isinstance(msgs, list):
        if isinstance(row.get("prompt"), str):
            answer = row.get("completion", row.get("solution"))
            msgs = [{"role": "user", "content": row["prompt"]}]
            msgs.append({"role": "assistant", "content": answer})
        else:
            raise NotApplicable("not a chat row")
    if any(isinstance(m, dict) and m.get("role") == "system" for m in msgs):
        raise NotApplicable("row has its own system prompt")
    out = {
        k: copy.deepcopy(v) for k, v in row.items() if k not in ("prompt", "completion", "solution")
    }
    out["messages"] = [{"role": "system", "content": prompt}, *copy.deepcopy(msgs)]
    return out


def _row_key(row: dict[str, Any]) -> str:
    return json.dumps(row.get("messages", row.get("prompt", row.get("text"))), sort_keys=True)


class _Augmenter:
    """Holds the run's settings and the keys already written; makes one copy at a time."""

    def __init__(self, cfg: AugmentConfig, recipes: list[Recipe], prompts: list[str]) -> None:
        self.cfg, self.recipes, self.prompts = cfg, recipes, prompts
        if any("system_prompt" in r for r in recipes) and not prompts:
            raise ConfigError(
                "augment op system_prompt: no system prompts",
                hint="set data.augment.system_prompts or pass --system-prompts FILE",
            )
        self.bench = benchmark_index()
        self.seen: set[str] = set()

    def is_benchmark(self, row: dict[str, Any]) -> bool:
        try:
            return canonical_hash(row) in self.bench
        except DataError:
            return False

    def copy(
        self, row: dict[str, Any], syllo: SylloRow | str, recipe: Recipe, i: int, k: int
    ) -> dict[str, Any]:
        """Copy ``k`` of row ``i`` (``syllo``: the row read as a puzzle, or why it cannot be);
        raises NotApplicable with the reason the copy was refused."""
        rng = random.Random(f"augment:{self.cfg.seed}:{i}:{k}")
        syllo_ops = [op for op in recipe if op in SYLLO_OPS]
        out = row
        if syllo_ops:
            if isinstance(syllo, str):
                raise NotApplicable(f"not a usable SYLLO row: {syllo}")
            new = apply_ops(syllo, syllo_ops, rng, self.cfg)
            pid = augmented_id(self.cfg.seed, syllo.source_id, i, k)
            provenance = {
                "source_id": syllo.source_id,
                "source_index": i,
                "ops": list(recipe),
                "seed": self.cfg.seed,
            }
            out = to_row(new, pid, provenance)
        if "system_prompt" in recipe:
            # the j-th system_prompt copy of a row takes the j-th prompt of a per-row shuffle
            order = random.Random(f"augment:{self.cfg.seed}:{i}:system").sample(
                self.prompts, len(self.prompts)
            )
            j = sum("system_prompt" in self.recipe_for(i, c) for c in range(k))
            out = _with_system(out, order[j % len(order)])
            meta = out["metadata"] if isinstance(out.get("metadata"), dict) else {}
            aug = meta.get("augment") or {"source_index": i, "seed": self.cfg.seed}
            out["metadata"] = {**meta, "augment": {**aug, "ops": list(recipe)}}
        if not isinstance(syllo, str):
            reason = check_row(out)
            if reason is not None:
                raise NotApplicable(f"fails syllo check: {reason}")
            if self.is_benchmark(out):
                raise NotApplicable("benchmark puzzle")
        key = _row_key(out)
        if key in self.seen:
            raise NotApplicable("duplicate of a row already written")
        self.seen.add(key)
        return out

    def recipe_for(self, i: int, k: int) -> Recipe:
        return self.recipes[(i * self.cfg.factor + k) % len(self.recipes)]


def augment_rows(
    rows: list[dict[str, Any]],
    cfg: AugmentConfig,
    *,
    prompts: list[str] | None = None,
    report: AugmentReport | None = None,
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], AugmentReport]:
    """The output rows (each source row, then its copies) and the report of what was refused."""
    recipes = parse_recipes(cfg.ops)
    aug = _Augmenter(cfg, recipes, prompts if prompts is not None else list(cfg.system_prompts))
    rep = report or AugmentReport(src="", dst="", seed=cfg.seed, factor=cfg.factor)
    rep.recipes = {"+".join(r): RecipeStats() for r in recipes}
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        rep.rows_in += 1
        if cfg.keep_original:
            aug.seen.add(_row_key(row))
            out.append(row)
            rep.originals += 1
        try:
            syllo: SylloRow | str = read_row(row)
        except NotApplicable as why:
            syllo = str(why)
        source_is_bench = not isinstance(syllo, str) and aug.is_benchmark(row)
        rep.source_benchmark_rows += source_is_bench
        for k in range(cfg.factor):
            recipe = aug.recipe_for(i, k)
            stats = rep.recipes["+".join(recipe)]
            stats.tried += 1
            try:
                if source_is_bench:
                    raise NotApplicable("benchmark puzzle")
                out.append(aug.copy(row, syllo, recipe, i, k))
            except NotApplicable as why:
                stats.rejected[str(why)] += 1
                continue
            stats.written += 1
            rep.augmented += 1
        if progress is not None:
            progress(i + 1, len(rows))
    return out, rep


def augment_file(
    src: Path,
    dst: Path,
    cfg: AugmentConfig | Config,
    *,
    home: Path | None = None,
    progress: Progress | None = None,
) -> AugmentReport:
    """Augment ``src`` into ``dst`` (written atomically) with ``data.augment`` settings."""
    aug_cfg = cfg.data.augment if isinstance(cfg, Config) else cfg
    if Path(src).resolve() == Path(dst).resolve():
        raise DataError(f"{dst}: the output would overwrite the input", hint="choose another --out")
    t0 = time.perf_counter()
    rows = [obj for _, obj in read_objects(Path(src))]
    report = AugmentReport(src=str(src), dst=str(dst), seed=aug_cfg.seed, factor=aug_cfg.factor)
    out, report = augment_rows(
        rows, aug_cfg, prompts=load_system_prompts(aug_cfg, home), report=report, progress=progress
    )
    atomic_write_text(Path(dst), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    report.seconds = time.perf_counter() - t0
    return report
