"""Live previews: what one preview of the model being trained does, and where it is written.

A preview asks the model to answer a fixed probe set that is never trained on
(``eval.probe_count`` puzzles of ``syllo_probe_8``, or given held-out rows for other data) with
one batched greedy generation through the engine, scores the answers (layered SYLLO scorer,
else normalised exact match) and measures each probe's teacher-forced loss under the training
mask. Prompts are rendered by the training :class:`~mentor.data.chat.ChatRenderer` (same
template, same system prompt: lessons item 9). New tokens are capped to the probes' goldens
(+25 % + 32).

A preview leaves training untouched: the model goes to ``eval()`` and back to its previous
mode, generation runs without grad, and the torch (CPU and CUDA), Python and NumPy random
states are forked around it, so a run with previews trains the same adapter as one without.

Each preview appends one line to the run's ``previews.jsonl``, emits a ``preview`` event and
feeds ``recent_examples`` of the status snapshot; at the log-spaced steps of
:func:`is_evolution_step` (0, 10, 25, 50, 100, 250, 500, 1k, 2.5k, 5k, 10k, then every 10k)
the outputs also go to ``evolution/step_<N>.json``. When previews run during training is the
callback's business (:class:`mentor.train.callbacks.LivePreviewCallback`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

from mentor.evals.evaluators import aggregate, get
from mentor.evals.tasks import Item, evaluators_for, items_from_rows, size_max_new_tokens, syllo_api
from mentor.paths import RunFolder, Workspace, atomic_write_json
from mentor.store import connect, events

log = logging.getLogger(__name__)

PROBE_BENCHMARK = "syllo_probe_8"
EVOLUTION_FIXED: tuple[int, ...] = (0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
EVOLUTION_EVERY = 10000


# -- evolution schedule ---------------------------------------------------------------------
def is_evolution_step(step: int) -> bool:
    """0, 10, 25, 50, 100, 250, 500, 1k, 2.5k, 5k, 10k, then every 10k."""
    if step < 0:
        return False
    return step in EVOLUTION_FIXED or (step > EVOLUTION_FIXED[-1] and step % EVOLUTION_EVERY == 0)


def evolution_steps(upto: int) -> list[int]:
    """Every evolution step in ``[0, upto]``."""
    steps = [s for s in EVOLUTION_FIXED if s <= upto]
    s = EVOLUTION_FIXED[-1] + EVOLUTION_EVERY
    while s <= upto:
        steps.append(s)
        s += EVOLUTION_EVERY
    return steps


# -- probes -----------------------------------------------------------------------------------
def load_probes(count: int = 8, rows: list[dict[str, Any]] | None = None) -> list[Item]:
    """The probe items: the given held-out rows, else the first ``count`` of ``syllo_probe_8``."""
    if rows is None:
        rows = syllo_api().load_benchmark(PROBE_BENCHMARK)
        source = PROBE_BENCHMARK
    else:
        source = "probes"
    items = items_from_rows(list(rows)[: max(1, count)], source)
    return [i for i in items if i.golden is not None]


@contextlib.contextmanager
def forked_rng() -> Iterator[None]:
    """Every random state a preview could draw from, restored after it: torch's (CPU and every
    initialised CUDA device, through ``torch.random.fork_rng``), Python's and NumPy's."""
    import numpy as np
    import torch

    py, npst = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(npst)


def unwrap(model: Any) -> Any:
    while hasattr(model, "module") and not hasattr(model, "peft_config"):
        model = model.module  # DDP / DataParallel wrappers
    return model


def is_peft(model: Any) -> bool:
    m = unwrap(model)
    return hasattr(m, "peft_config") and hasattr(m, "disable_adapter")


class PreviewRunner:
    """One preview of a model in memory: batched greedy generation + scores + per-probe loss."""

    def __init__(
        self,
        renderer: Any,
        probes: list[Item],
        *,
        max_new_tokens: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        if not probes:
            raise ValueError("live preview: no probes with a golden answer")
        self.renderer = renderer
        self.tokenizer = renderer.tokenizer
        self.probes = probes
        self.scorer = get(evaluators_for(probes)[0])
        self.headline = self.scorer.headline or "exact"
        sized = size_max_new_tokens(self.tokenizer, [p.golden for p in probes if p.golden])
        self.max_new_tokens = min(sized, max_new_tokens) if max_new_tokens else sized
        self.batch_size = batch_size or len(probes)
        self.prompts = [renderer.prompt(p.prompt_messages) for p in probes]
        self._engine: Any = None
        self._engine_model: Any = None

    def engine(self, model: Any) -> Any:
        if self._engine is None or self._engine_model is not model:
            from mentor.engine.hf import HFEngine

            self._engine = HFEngine(model, self.tokenizer, self.renderer)
            self._engine_model = model
        return self._engine

    @contextlib.contextmanager
    def _eval_mode(self, model: Any, autocast_bf16: bool) -> Iterator[Any]:
        """The model in eval mode, no grad, random states forked; back to its mode after."""
        import torch

        engine = self.engine(model)
        device_type = str(engine.device).split(":")[0]
        amp = (
            torch.autocast(device_type=device_type, dtype=torch.bfloat16)
            if autocast_bf16 and device_type == "cuda"
            else contextlib.nullcontext()
        )
        was_training = bool(getattr(model, "training", False))
        with forked_rng():
            model.eval()
            try:
                with torch.no_grad(), amp:
                    yield engine
            finally:
                model.train(was_training)

    def run(
        self, model: Any, step: int, *, autocast_bf16: bool = False, base: bool = False
    ) -> dict[str, Any]:
        """One preview; ``base=True`` disables the adapters (the untrained model of a fresh LoRA)."""
        from mentor.engine import BASE_ADAPTER, GenRequest
        from mentor.evals.evaluators import PerplexityEvaluator

        model = unwrap(model)
        t0 = time.perf_counter()
        adapter = BASE_ADAPTER if base else None
        with self._eval_mode(model, autocast_bf16) as engine:
            results = engine.generate(
                [
                    GenRequest(p, max_new_tokens=self.max_new_tokens, adapter=adapter)
                    for p in self.prompts
                ],
                batch_size=self.batch_size,
            )
            with model.disable_adapter() if base else contextlib.nullcontext():
                losses = PerplexityEvaluator().compute(
                    engine, self.probes, batch_size=self.batch_size
                )
        examples = [
            self._example(item, res, lo.get("loss"))
            for item, res, lo in zip(self.probes, results, losses, strict=True)
        ]
        valid = [e["loss"] for e in examples if e["loss"] is not None]
        n = len(examples)
        solved = sum(1 for e in examples if e["matches"])
        return {
            "step": int(step),
            "ts": time.time(),
            "headline": self.headline,
            "scores": aggregate([e["scores"] for e in examples]),
            "solved": solved,
            "n": n,
            "solved_share": solved / n if n else 0.0,
            "loss": sum(valid) / len(valid) if valid else None,
            "max_new_tokens": self.max_new_tokens,
            "new_tokens": sum(r.new_tokens for r in results),
            "seconds": round(time.perf_counter() - t0, 4),
            "adapters": "off" if base else "on",
            "examples": examples,
        }

    def _example(self, item: Item, res: Any, loss: float | None) -> dict[str, Any]:
        sc = self.scorer.score(item, res.text)
        return {
            "id": item.id,
            "tier": item.tier,
            "prompt": item.user_text,
            "golden": item.golden,
            "model_output": res.text,
            "scores": sc,
            "matches": bool(sc.get(self.headline, 0.0) >= 1.0),
            "loss": None if loss is None or loss != loss else round(float(loss), 5),
            "new_tokens": res.new_tokens,
            "finish_reason": res.finish_reason,
        }


# -- where a preview goes -------------------------------------------------------------------
EVOLUTION_KEYS = ("id", "tier", "prompt", "golden", "model_output", "scores", "matches", "loss")


def write_preview(
    ws: Workspace,
    folder: RunFolder,
    rec: dict[str, Any],
    *,
    evolution: bool,
    status: Any = None,
    job_id: int | None = None,
) -> None:
    """``previews.jsonl`` (+ the evolution snapshot), the ``preview`` event, the status snapshot's
    ``recent_examples``. ``status``: the training's StatusWriter (None = one that re-reads the
    snapshot file, keeping training's fields)."""
    folder.path.mkdir(parents=True, exist_ok=True)
    with open(folder.previews, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    if evolution:
        atomic_write_json(
            folder.evolution_file(rec["step"]),
            {
                "step": rec["step"],
                "scheduled_step": rec.get("scheduled_step", rec["step"]),
                "taken_at_step": rec.get("taken_at_step", rec["step"]),
                "adapters": rec.get("adapters", "on"),
                "ts": rec["ts"],
                "headline": rec["headline"],
                "scores": rec["scores"],
                "solved_share": rec["solved_share"],
                "loss": rec["loss"],
                "probes": [{k: e[k] for k in EVOLUTION_KEYS} for e in rec["examples"]],
            },
        )
    try:
        conn = connect(ws.db)
        try:
            events.emit(
                conn,
                "preview",
                f"step {rec['step']}: {rec['headline']} {rec['solved']}/{rec['n']}",
                job_id=job_id,
                step=rec["step"],
                scores=rec["scores"],
                solved_share=rec["solved_share"],
                loss=rec["loss"],
                run=folder.name,
            )
        finally:
            conn.close()
    except Exception:
        log.exception("could not record the preview event")
    _feed_status(ws, rec, status)


def _feed_status(ws: Workspace, rec: dict[str, Any], writer: Any) -> None:
    try:
        if writer is None:
            from mentor.monitor.status import StatusWriter

            writer = StatusWriter(ws)
        for e in rec["examples"]:
            writer.add_example(
                {k: e[k] for k in ("prompt", "golden", "model_output", "matches", "loss")}
                | {"step": rec["step"]}
            )
        writer.update()
        writer.flush()
    except Exception:
        log.exception("could not update the status snapshot")
