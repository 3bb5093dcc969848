"""Live previews and evolution tracking during training (a ``transformers.TrainerCallback``).

Every ``eval.live_every`` optimizer steps :class:`LivePreviewCallback` asks the model being
trained to answer a fixed probe set that is never trained on (``eval.probe_count`` puzzles of
``syllo_probe_8``, or given held-out rows for other data), with one batched greedy generation
through the engine, and scores the answers (layered SYLLO scorer, else normalised exact match)
plus each probe's teacher-forced loss under the training mask. Prompts are rendered by the
training :class:`~mentor.data.chat.ChatRenderer` (same template, same system prompt: lessons
item 9).

Each preview appends one line to ``runs/<id>/previews.jsonl``, emits a ``preview`` event
(step, scores, solved share) and feeds ``recent_examples`` of the status snapshot. At the
log-spaced steps of :func:`is_evolution_step` (0, 10, 25, 50, 100, 250, 500, 1k, 2.5k, 5k, 10k,
then every 10k) the outputs also go to ``runs/<id>/evolution/step_<N>.json``.

The preview leaves training untouched: the model goes to ``eval()`` and back to its previous
mode, generation runs without grad, and the torch / CUDA / Python / NumPy RNG states are saved
and restored, so a run with previews trains the same adapter as one without.

Overhead: new tokens are capped to the probes' goldens (+25 % + 32), all probes go in one batch,
and the cadence is adaptive: a preview (evolution snapshots included) runs only while the time
spent previewing stays within ``budget_share`` (default 4 %) of the training time so far; see
:class:`LivePreviewCallback`. ``eval.live_every: 0`` switches previews and evolution snapshots off.

:class:`MonitorCallback` (same module, also self-contained) checks the alert rules of
:mod:`mentor.monitor.alerts` on every log and records them as events and ``active_alerts``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mentor.evals.evaluators import aggregate, get
from mentor.evals.tasks import Item, evaluators_for, items_from_rows, size_max_new_tokens, syllo_api
from mentor.monitor import alerts as alerts_mod
from mentor.paths import Workspace, atomic_write_json
from mentor.store import connect, events

log = logging.getLogger(__name__)

PROBE_BENCHMARK = "syllo_probe_8"
EVOLUTION_FIXED: tuple[int, ...] = (0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
EVOLUTION_EVERY = 10000
PREVIEWS_FILE = "previews.jsonl"
EVOLUTION_DIR = "evolution"


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


def evolution_file(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / EVOLUTION_DIR / f"step_{step}.json"


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
def preserved_rng() -> Iterator[None]:
    """Save the torch (CPU + every CUDA device), Python and NumPy RNG states; restore them after."""
    import torch

    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    py = random.getstate()
    try:
        import numpy as np

        npst: Any = np.random.get_state()
    except ImportError:  # numpy is optional here
        np, npst = None, None  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        random.setstate(py)
        if np is not None and npst is not None:
            np.random.set_state(npst)


def _is_main(state: Any) -> bool:
    return bool(getattr(state, "is_world_process_zero", True))


def _is_peft(model: Any) -> bool:
    m = _unwrap(model)
    return hasattr(m, "peft_config") and hasattr(m, "disable_adapter")


def _unwrap(model: Any) -> Any:
    while hasattr(model, "module") and not hasattr(model, "peft_config"):
        model = model.module  # DDP / DataParallel wrappers
    return model


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
        self.evaluator_names = evaluators_for(probes)
        self.scorer = get(self.evaluator_names[0])
        self.headline = self.scorer.headline or "exact"
        goldens = [p.golden for p in probes if p.golden]
        sized = size_max_new_tokens(self.tokenizer, goldens)
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
        """The model in eval mode, no grad, RNG states preserved; back to its mode after."""
        import torch

        engine = self.engine(model)
        device_type = str(engine.device).split(":")[0]
        amp = (
            torch.autocast(device_type=device_type, dtype=torch.bfloat16)
            if autocast_bf16 and device_type == "cuda"
            else contextlib.nullcontext()
        )
        was_training = bool(getattr(model, "training", False))
        with preserved_rng():
            model.eval()
            try:
                with torch.no_grad(), amp:
                    yield engine
            finally:
                model.train(was_training)

    def calibrate(self, model: Any) -> float:
        """Expected seconds of one preview: prefill + the cap x the per-token decode time,
        measured from two short generations (1 and 5 new tokens), + one more prefill for the loss."""
        from mentor.engine import GenRequest

        model = _unwrap(model)
        took = []
        with self._eval_mode(model, False) as engine:
            for n in (1, 5):
                t0 = time.perf_counter()
                engine.generate(
                    [GenRequest(p, max_new_tokens=n) for p in self.prompts],
                    batch_size=self.batch_size,
                )
                took.append(time.perf_counter() - t0)
        per_token = max(0.0, (took[1] - took[0]) / 4)
        return 2 * took[0] + per_token * max(0, self.max_new_tokens - 1)

    def run(
        self, model: Any, step: int, *, autocast_bf16: bool = False, base: bool = False
    ) -> dict[str, Any]:
        """One preview; ``base=True`` disables the adapters (the untrained model of a fresh LoRA)."""
        from mentor.engine import BASE_ADAPTER, GenRequest
        from mentor.evals.evaluators import PerplexityEvaluator

        model = _unwrap(model)
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
            off = model.disable_adapter() if base else contextlib.nullcontext()
            with off:
                losses = PerplexityEvaluator().compute(
                    engine, self.probes, batch_size=self.batch_size
                )
        gen_s = time.perf_counter() - t0
        examples, scores = [], []
        for item, res, lo in zip(self.probes, results, losses, strict=True):
            sc = self.scorer.score(item, res.text)
            scores.append(sc)
            loss = lo.get("loss")
            examples.append(
                {
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
            )
        agg = aggregate(scores)
        valid = [e["loss"] for e in examples if e["loss"] is not None]
        n = len(examples)
        solved = sum(1 for e in examples if e["matches"])
        return {
            "step": int(step),
            "ts": time.time(),
            "headline": self.headline,
            "scores": agg,
            "solved": solved,
            "n": n,
            "solved_share": solved / n if n else 0.0,
            "loss": sum(valid) / len(valid) if valid else None,
            "max_new_tokens": self.max_new_tokens,
            "new_tokens": sum(r.new_tokens for r in results),
            "seconds": round(gen_s, 4),
            "adapters": "off" if base else "on",
            "examples": examples,
        }


class LivePreviewCallback(TrainerCallback):  # type: ignore[misc]
    """Live previews + evolution snapshots during ``Trainer.train``.

    ``renderer`` is the training ChatRenderer; ``probes`` are held-out chat rows (None = the
    SYLLO probe set). ``every`` overrides ``eval.live_every``; ``budget_share`` bounds the share
    of training time spent previewing (``None`` = no budget: every due preview runs); ``status``
    is the :class:`mentor.monitor.status.StatusWriter` training uses (None = one of its own that
    re-reads the snapshot file before each update).

    The budget is amortised: a preview runs when the preview time so far plus the expected cost
    of this one (the last preview's, or before the first a calibration from generations of 1 and 5
    new tokens) stays within ``budget_share`` of the training time so far. A due preview that
    does not fit is skipped; an evolution step that does not fit stays pending and is taken at
    the first step that fits (``step`` = when taken, ``scheduled_step`` = the schedule's). The
    step-0 snapshot of a fresh PEFT adapter (LoRA B = 0, so adapters off = the untrained model)
    is likewise taken later with adapters disabled; for a full fine-tune it runs at once.
    """

    def __init__(
        self,
        ws: Workspace,
        cfg: Any,
        run_dir: Path,
        renderer: Any,
        probes: list[dict[str, Any]] | None = None,
        *,
        every: int | None = None,
        budget_share: float | None = 0.04,
        max_new_tokens: int | None = None,
        evolution: bool = True,
        status: Any = None,
        job_id: int | None = None,
    ) -> None:
        self.ws = ws
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.renderer = renderer
        self.every = int(cfg.eval.live_every if every is None else every)
        self.budget_share = budget_share
        self.evolution = evolution
        self.job_id = job_id
        self._status = status
        self.enabled = self.every > 0
        self.runner: PreviewRunner | None = None
        if self.enabled:
            items = load_probes(int(cfg.eval.probe_count), probes)
            self.runner = PreviewRunner(renderer, items, max_new_tokens=max_new_tokens)
        self.previews_file = self.run_dir / PREVIEWS_FILE
        self.preview_s = 0.0
        self.train_s = 0.0
        self.estimate_s: float | None = None
        self._mark: float | None = None
        self.skipped = 0
        self.pending_evolution: int | None = None
        self.pending_base = False
        self.records: list[dict[str, Any]] = []

    # -- timing ---------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.perf_counter()
        if self._mark is not None:
            self.train_s += now - self._mark
        self._mark = now

    def _affordable(self) -> bool:
        # The first preview of a run always runs, so a user sees answers early; after it the
        # time spent previewing stays within budget_share of the training time so far.
        if self.budget_share is None or not self.records:
            return True
        est = float(self.records[-1]["seconds_total"]) if self.records else self.estimate_s or 0.0
        return self.preview_s + est <= self.budget_share * self.train_s

    # -- Trainer hooks --------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        model = kwargs.get("model")
        if self.enabled and self.runner is not None and model is not None and _is_main(state):
            fresh = int(state.global_step) == 0 and self.evolution
            if self.budget_share is None or (fresh and not _is_peft(model)):
                if fresh:
                    self._preview(args, state, model, evolution=True, scheduled=0)
            else:
                t0 = time.perf_counter()
                try:
                    self.estimate_s = self.runner.calibrate(model)
                except Exception:  # never stop training for a preview
                    log.exception("live preview calibration failed")
                    self.estimate_s = None
                self.preview_s += time.perf_counter() - t0
                self.pending_base = fresh
        self._mark = time.perf_counter()
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._tick()
        if not self.enabled or not _is_main(state):
            return control
        step = int(state.global_step)
        if self.evolution and is_evolution_step(step) and self.pending_evolution is None:
            self.pending_evolution = step
        due = step % self.every == 0
        if not (due or self.pending_evolution is not None or self.pending_base):
            return control
        if not self._affordable():
            self.skipped += int(due)
            return control
        model = kwargs.get("model")
        if self.pending_base:
            self.pending_base = False
            self._preview(args, state, model, evolution=True, scheduled=0, base=True)
        else:
            scheduled = self.pending_evolution
            self.pending_evolution = None
            self._preview(args, state, model, evolution=scheduled is not None, scheduled=scheduled)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._tick()
        return control

    # -- the preview ----------------------------------------------------------------------
    def _preview(
        self,
        args: Any,
        state: Any,
        model: Any,
        *,
        evolution: bool,
        scheduled: int | None = None,
        base: bool = False,
    ) -> None:
        if model is None or self.runner is None:
            return
        step = 0 if base else int(state.global_step)
        t0 = time.perf_counter()
        try:
            rec = self.runner.run(
                model, step, autocast_bf16=bool(getattr(args, "bf16", False)), base=base
            )
        except Exception:  # a broken preview must never stop training
            log.exception("live preview at step %d failed", step)
            self._mark = time.perf_counter()
            return
        rec["taken_at_step"] = int(state.global_step)
        if scheduled is not None:
            rec["scheduled_step"] = scheduled
        rec["skipped_before"] = self.skipped
        self.skipped = 0
        self._write(rec, evolution)
        elapsed = time.perf_counter() - t0
        rec["seconds_total"] = round(elapsed, 4)
        self.preview_s += elapsed
        self.records.append(rec)
        self._mark = time.perf_counter()  # preview time is not training time

    def _write(self, rec: dict[str, Any], evolution: bool) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.previews_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        if evolution:
            keys = ("id", "tier", "prompt", "golden", "model_output", "scores", "matches", "loss")
            atomic_write_json(
                evolution_file(self.run_dir, rec["step"]),
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
                    "probes": [{k: e[k] for k in keys} for e in rec["examples"]],
                },
            )
        try:
            conn = connect(self.ws.db)
            try:
                events.emit(
                    conn,
                    "preview",
                    f"step {rec['step']}: {rec['headline']} {rec['solved']}/{rec['n']}",
                    job_id=self.job_id,
                    step=rec["step"],
                    scores=rec["scores"],
                    solved_share=rec["solved_share"],
                    loss=rec["loss"],
                    run=self.run_dir.name,
                )
            finally:
                conn.close()
        except Exception:
            log.exception("could not record the preview event")
        self._feed_status(rec)

    def _feed_status(self, rec: dict[str, Any]) -> None:
        try:
            writer = self._status
            if writer is None:
                from mentor.monitor.status import StatusWriter

                writer = StatusWriter(self.ws)  # re-reads the file: keeps training's fields
            for e in rec["examples"]:
                writer.add_example(
                    {
                        "step": rec["step"],
                        "prompt": e["prompt"],
                        "golden": e["golden"],
                        "model_output": e["model_output"],
                        "matches": e["matches"],
                        "loss": e["loss"],
                    }
                )
            writer.update()
            writer.flush()
        except Exception:
            log.exception("could not update the status snapshot")


class MonitorCallback(TrainerCallback):  # type: ignore[misc]
    """On every Trainer log: system sample + alert rules over ``metrics.jsonl`` -> events/status."""

    def __init__(
        self,
        ws: Workspace,
        cfg: Any,
        run_dir: Path,
        *,
        status: Any = None,
        job_id: int | None = None,
        dedup_s: float = 600.0,
    ) -> None:
        self.ws = ws
        self.run_dir = Path(run_dir)
        self.rules = alerts_mod.Rules.from_config(cfg)
        self._status = status
        self.job_id = job_id
        self.dedup_s = dedup_s

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if not getattr(state, "is_world_process_zero", True):
            return control
        try:
            self.check()
        except Exception:
            log.exception("alert check failed")
        return control

    def check(self) -> list[alerts_mod.Alert]:
        from mentor.monitor import system

        records = alerts_mod.tail_jsonl(self.run_dir / "metrics.jsonl", 50)
        found = alerts_mod.check(records, system.sample(self.ws), self.rules)
        conn = connect(self.ws.db)
        try:
            alerts_mod.record(conn, found, dedup_s=self.dedup_s, job_id=self.job_id)
        finally:
            conn.close()
        writer = self._status
        if writer is None:
            from mentor.monitor.status import StatusWriter

            writer = StatusWriter(self.ws)
        writer.update(active_alerts=[f"{a.level}: {a.message}" for a in found])
        writer.flush()
        return found
