"""``train_file``: train the workspace's lineage on one file, resumably (DESIGN "Continuous training").

The HF ``Trainer`` runs the loop; mentor subclasses it only where the stack's defaults are wrong
for a lineage that lives across files:

* ``create_scheduler``: a ``LambdaLR`` over :class:`LineageSchedule` (global step + lineage
  tokens), never built from this file's ``max_steps``; its step is restored from
  ``scheduler.pt`` with the optimizer, so warmup runs once and the curve never restarts.
* ``_get_train_sampler``: sequential. The dataset holds this file's packs starting at the saved
  row, in the seeded order (seed + file hash); ``ignore_data_skip=True`` stops the Trainer from
  fast-forwarding its loader by the old step count. ``max_steps`` = old global step + this file's
  steps.
* ``training_step``: bookkeeping (rows, tokens), the OOM retry (micro-batch split in halves, the
  same effective batch), NaN/Inf detection.

A :class:`MentorCallback` reads ``control()`` after every optimizer step, writes the row ledger,
checkpoints (every ``save_steps`` and on pause/stop/skip/SIGTERM), measures validation loss on
the held-out rows and writes ``metrics.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mentor import config as config_mod
from mentor.config import Config
from mentor.data.chat import ChatRenderer
from mentor.data.packing import (
    MENTOR_KEYS,
    VARLEN_KEYS,
    PackDataset,
    PackedCollator,
    PaddedCollator,
    arrange_for_packing,
    flatten_trained_positions,
    one_per_pack,
    pack_greedy,
    packing_supported,
)
from mentor.data.tokenize import IGNORE_INDEX
from mentor.data.validate import ValidationReport, validate_file
from mentor.errors import ConfigError, JobError
from mentor.evals.live import LivePreviewCallback, MonitorCallback
from mentor.evals.tasks import is_syllo, items_from_rows
from mentor.models.attention import register_packed_sdpa
from mentor.models.nll import row_nll
from mentor.monitor import system
from mentor.monitor.status import StatusWriter
from mentor.paths import Workspace, atomic_write_json, atomic_write_text
from mentor.store import connect, transaction
from mentor.store.events import emit
from mentor.train import state as st
from mentor.train.dropout import share_lora_dropout
from mentor.train.schedule import LineageSchedule

log = logging.getLogger(__name__)

# Backends that separate packed examples by boundaries, not by a mask ("sdpa" is swapped for
# mentor_packed_sdpa in training), so a micro-batch can be one row with logits where trained.
FLAT_PACK_BACKENDS = ("sdpa", "flash_attention_2", "flash_attention_3")

Status = Literal["completed", "paused", "stopped", "skipped", "failed"]
ACTIONS = ("pause", "stop", "skip")

# Test hook: called before every micro-batch with (global step, model); raising
# ``torch.OutOfMemoryError`` from it simulates a CUDA OOM, writing NaN into a weight simulates a
# diverged run (tests/integration/test_train_faults.py).
FAULT_HOOK: Callable[[int, Any], None] | None = None


@dataclass
class TrainOutcome:
    status: Status
    run_id: str | None
    file_hash: str
    rows_total: int  # training rows of the file (held-out rows excluded; x epochs_per_file)
    rows_trained: int  # rows trained by this call
    next_row: int  # position in the file's seeded order where training resumes
    global_step: int
    tokens: int  # non-padding input tokens trained by this call
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


# --------------------------------------------------------------------------- control


def file_control(ws: Workspace, since: float) -> Callable[[], str | None]:
    """Read ``ws.control_file`` (``{"action": "pause"}``); requests older than ``since`` are stale."""

    def read() -> str | None:
        f = ws.control_file
        try:
            if f.stat().st_mtime < since:
                return None
            action = json.loads(f.read_text(encoding="utf-8")).get("action")
        except (OSError, ValueError, AttributeError):
            return None
        return action if action in ACTIONS else None

    return read


def request(ws: Workspace, action: str) -> None:
    """Ask a running training (in any process) to pause, stop or skip."""
    if action not in ACTIONS:
        raise ConfigError(f"control {action!r}: expected one of {', '.join(ACTIONS)}")
    atomic_write_json(ws.control_file, {"action": action, "ts": time.time()})


# --------------------------------------------------------------------------- helpers


def _seed_for(seed: int, file_hash: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, int(file_hash[:8], 16), *extra])


def split_rows(keep: list[int], cfg: Config, file_hash: str) -> tuple[list[int], list[int]]:
    """(held-out rows, training rows): min(holdout_max, fraction x rows), seeded by seed + file."""
    perm = _seed_for(cfg.training.seed, file_hash, 0).permutation(np.asarray(keep, dtype=np.int64))
    n_hold = min(cfg.data.holdout_max, int(cfg.data.holdout_fraction * len(keep)))
    if len(keep) - n_hold < 1:
        n_hold = 0
    return sorted(int(x) for x in perm[:n_hold]), sorted(int(x) for x in perm[n_hold:])


def heldout_rows(report: ValidationReport, cfg: Config) -> list[dict[str, Any]]:
    """The held-out rows of a validated file as they appear in it, exactly as training splits them."""
    if report.parsed is None:
        return []
    held, _ = split_rows(report.keep, cfg, report.file_hash)
    return [json.loads(report.parsed.raw[i]) for i in held]


def _first_row_is_syllo(report: ValidationReport) -> bool:
    if report.parsed is None or not report.parsed.raw:
        return False
    return is_syllo(items_from_rows([json.loads(report.parsed.raw[0])]))


def training_order(train_rows: list[int], cfg: Config, file_hash: str, pass_no: int) -> list[int]:
    """The seeded order rows are consumed in (epochs_per_file passes, each shuffled)."""
    order: list[int] = []
    base = np.asarray(train_rows, dtype=np.int64)
    for epoch in range(cfg.training.epochs_per_file):
        order += [
            int(x)
            for x in _seed_for(cfg.training.seed, file_hash, 1 + pass_no, epoch).permutation(base)
        ]
    return order


def _versions() -> dict[str, str]:
    out = {}
    for name in ("mentor", "torch", "transformers", "peft", "datasets", "accelerate"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = "unknown"
    return out


def _git_hash() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def _mem_gib() -> float:
    import torch

    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**30, 3)
    try:
        import psutil

        return round(psutil.Process().memory_info().rss / 2**30, 3)
    except ImportError:
        return 0.0


def _new_run_id(ws: Workspace, file_hash: str) -> str:
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{file_hash[:8]}"
    run_id, n = base, 1
    while ws.run_dir(run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def resolve_bf16(cfg: Config, device: str) -> bool:
    import torch

    if cfg.training.bf16 == "on":
        return True
    if cfg.training.bf16 == "off":
        return False
    return device.startswith("cuda") and torch.cuda.is_bf16_supported()


def _cpu_bf16(ctx: RunContext, model: Any, collator: Any, train_ds: Any) -> bool:
    """bf16 autocast on the CPU only where it measured faster (``models/precision.py``):
    the model's forward+backward on this file's first micro-batch, cached per machine+shape."""
    from mentor.models.precision import choose_for_model

    t = ctx.cfg.training
    first = collator([train_ds[i] for i in range(min(t.batch_size, len(train_ds)))])
    inputs = {k: v for k, v in first.items() if k not in MENTOR_KEYS}
    if ctx.flat_packs:
        inputs = flatten_trained_positions(inputs)
    choice = choose_for_model(
        model,
        dict(inputs, use_cache=False),
        ctx.ws.cache / "precision.json",
        extra=f"{t.method}|{t.batch_size}x{t.max_length}|{ctx.cfg.model.attn_implementation}",
        rounds=t.bf16_probe_rounds,
    )
    with transaction(ctx.conn):
        emit(
            ctx.conn,
            "train.precision",
            choice.describe(),
            run_id=ctx.run_id,
            job_id=ctx.job_id,
            bf16=choice.bf16,
            fp32_s=choice.fp32_s,
            bf16_s=choice.bf16_s,
            cached=choice.cached,
        )
    return choice.bf16


# --------------------------------------------------------------------------- model


def build_model(ws: Workspace, cfg: Config, lineage: dict[str, Any] | None, device: str) -> Any:
    """The trainable model: base (+ the lineage's adapter, or a new LoRA adapter)."""
    import torch
    from transformers import set_seed

    from mentor.models.loader import check_model_dir, load_model

    method = cfg.training.method
    base = cfg.model_path(ws.home)
    set_seed(cfg.training.seed)
    if method == "qlora":
        if not device.startswith("cuda"):
            raise ConfigError(
                "training.method=qlora needs a CUDA GPU (bitsandbytes 4-bit)",
                hint="use training.method=lora on the CPU",
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError(
                "training.method=qlora needs bitsandbytes", hint="pip install 'mentor[qlora]'"
            ) from None
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        check_model_dir(base)
        model = AutoModelForCausalLM.from_pretrained(
            str(base),
            local_files_only=True,
            quantization_config=BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
            ),
            attn_implementation=cfg.model.attn_implementation,
            device_map={"": 0},
        )
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.training.gradient_checkpointing
        )
    else:
        dtype = cfg.model.dtype
        if method == "full" and dtype == "auto":
            dtype = "float32"  # master weights in fp32; bf16 comes from autocast
        model = load_model(
            base,
            dtype=dtype,
            device=device,
            attn_implementation=cfg.model.attn_implementation,
            trainable=True,
        )
    model.config.use_cache = False
    if method == "full":
        return model  # the Trainer loads the lineage's weights from ws.current on resume
    from peft import LoraConfig, PeftModel, get_peft_model

    t = cfg.training
    peft: Any
    if lineage is not None and (ws.current / "adapter_config.json").is_file():
        peft = PeftModel.from_pretrained(model, str(ws.current), is_trainable=True)
    else:
        lora = LoraConfig(
            r=t.lora_r,
            lora_alpha=t.lora_alpha,
            lora_dropout=t.lora_dropout,
            target_modules=t.lora_targets,
            task_type="CAUSAL_LM",
        )
        peft = get_peft_model(model, lora)
    if t.lora_dropout_shared:
        share_lora_dropout(peft)
    return peft


# --------------------------------------------------------------------------- the run


class RunContext:
    """Everything one ``train_file`` call shares between the trainer, the callback and the caller."""

    def __init__(self, **kw: Any) -> None:
        self.ws: Workspace = kw["ws"]
        self.cfg: Config = kw["cfg"]
        self.conn: sqlite3.Connection = kw["conn"]
        self.run_id: str = kw["run_id"]
        self.run_dir: Path = kw["run_dir"]
        self.job_id: int | None = kw["job_id"]
        self.lineage: dict[str, Any] = kw["lineage"]
        self.file_hash: str = kw["file_hash"]
        self.schedule: LineageSchedule = kw["schedule"]
        self.control: Callable[[], str | None] = kw["control"]
        self.progress: Callable[[dict[str, Any]], None] | None = kw["progress"]
        self.heldout: list[int] = kw["heldout"]
        self.data: tuple[list[list[int]], list[list[int]]] = kw["data"]
        self.steps_total: int = kw["steps_total"]
        self.start_step: int = kw["start_step"]
        self.rows_total: int = kw["rows_total"]
        self.pad_id: int = kw["pad_id"]
        self.trainer: Any = None
        self.restore_rng: str | None = kw.get("restore_rng")
        self.split = 1  # micro-batch split factor after an OOM
        # packs laid end to end, logits at trained positions only (flatten_trained_positions)
        self.flat_packs = False
        self.pending_rows: list[int] = []
        self.pending_end = -1
        self.step_loss = 0.0
        self.step_tokens = 0
        self.step_label_tokens = 0
        self.step_slots = 0
        self.window = {"t": time.perf_counter(), "tokens": 0, "labels": 0, "slots": 0}
        self.t0 = time.perf_counter()
        self.rows_trained = 0
        self.tokens = 0
        self.label_tokens = 0
        self.nan_step: int | None = None
        self.action: str | None = None
        self.sigterm = False
        self.last_loss: float | None = None
        self.last_val: float | None = None
        self.val_at_step: int | None = None
        self.ckpt_step = int(self.lineage.get("global_step", 0))
        self.metrics_file = self.run_dir / "metrics.jsonl"

    @property
    def entry(self) -> dict[str, Any]:
        return dict(self.lineage["files"][self.file_hash])

    def poll(self) -> str | None:
        if self.sigterm:
            return "stop"
        try:
            action = self.control()
        except Exception as err:  # a broken control source must not kill training
            log.warning("control read failed: %s", err)
            return None
        return action if action in ACTIONS else None

    # -- bookkeeping, called by the trainer per micro-batch
    def note(self, book: dict[str, Any], loss: float) -> None:
        rows = book["mentor_rows"].tolist()
        self.pending_rows += [r for r in rows if r >= 0]
        self.pending_end = max(self.pending_end, int(book["mentor_span"][:, 1].max()))
        tokens = int(book["mentor_tokens"])
        self.step_tokens += tokens
        self.step_slots += int(book["mentor_slots"])
        self.step_loss += loss
        self.schedule.tokens += tokens  # the schedule sees this step's tokens at its step()

    def note_labels(self, n: int) -> None:
        self.step_label_tokens += n

    def end_step(self, global_step: int) -> None:
        """After an optimizer step: ledger, position, counters."""
        with transaction(self.conn):
            st.write_ledger(
                self.conn,
                self.lineage["lineage_id"],
                self.file_hash,
                self.pending_rows,
                global_step,
                self.run_id,
            )
        files = self.lineage["files"]
        files[self.file_hash] = dict(
            files[self.file_hash], next_row=self.pending_end, status="in_progress"
        )
        self.lineage["global_step"] = global_step
        self.lineage["tokens"] = self.schedule.tokens
        self.lineage["label_tokens"] = (
            int(self.lineage.get("label_tokens", 0)) + self.step_label_tokens
        )
        self.rows_trained += len(self.pending_rows)
        self.tokens += self.step_tokens
        self.label_tokens += self.step_label_tokens
        for k, v in (
            ("tokens", self.step_tokens),
            ("labels", self.step_label_tokens),
            ("slots", self.step_slots),
        ):
            self.window[k] += v
        self.last_loss = self.step_loss
        self.pending_rows = []
        self.step_loss = 0.0
        self.step_tokens = self.step_label_tokens = self.step_slots = 0

    def checkpoint(self) -> None:
        trainer = self.trainer
        state = json.loads(json.dumps(self.lineage))

        def write(tmp: Path) -> None:
            trainer.save_model(str(tmp))
            trainer._save_optimizer_and_scheduler(str(tmp))
            trainer._save_rng_state(str(tmp))
            trainer.state.log_history = trainer.state.log_history[-200:]
            trainer.state.save_to_json(str(tmp / "trainer_state.json"))

        st.commit_checkpoint(self.ws, write, state)
        self.ckpt_step = int(self.lineage["global_step"])

    def val_loss(self, model: Any) -> float | None:
        """Token-weighted loss on the held-out rows, same mask as training, no truncation."""

        if not self.heldout:
            return None
        ids, labels = self.data
        collate = PaddedCollator(self.pad_id)
        bs = max(1, self.cfg.training.batch_size * 2)
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        try:
            for i in range(0, len(self.heldout), bs):
                rows = self.heldout[i : i + bs]
                batch = collate(
                    [
                        {"segments": [(ids[r], labels[r])], "rows": (r,), "start": 0, "end": 0}
                        for r in rows
                    ]
                )
                sums, counts = row_nll(model, batch)
                total += sum(sums)
                count += sum(counts)
        finally:
            if was_training:
                model.train()
        return total / max(count, 1)

    def throughput(self) -> dict[str, float]:
        now = time.perf_counter()
        dt = max(now - self.window["t"], 1e-9)
        w = self.window
        out = {
            "tokens_per_s": round(w["tokens"] / dt, 1),
            "trained_tokens_per_s": round(w["labels"] / dt, 1),
            "padding_share": round(1 - w["tokens"] / w["slots"], 4) if w["slots"] else 0.0,
        }
        self.window = {"t": now, "tokens": 0, "labels": 0, "slots": 0}
        return out

    def write_metrics(self, obj: dict[str, Any]) -> None:
        with open(self.metrics_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")


def _make_trainer_classes() -> tuple[type, type]:
    import torch
    from transformers import Trainer, TrainerCallback

    class MentorTrainer(Trainer):  # type: ignore[misc]
        def __init__(self, *args: Any, mentor: RunContext, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.mentor = mentor

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)  # type: ignore[arg-type]

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.lr_scheduler is None:
                sched = self.mentor.schedule
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer or self.optimizer,  # type: ignore[arg-type]
                    lambda step: sched.factor(step),
                )
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            inputs = {k: v for k, v in inputs.items() if k not in MENTOR_KEYS}
            if self.mentor.flat_packs and not return_outputs:
                inputs = flatten_trained_positions(inputs)
            inputs["use_cache"] = (
                False  # a cache disables packed-sequence masking (DESIGN pitfalls)
            )
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            ctx = self.mentor
            book = {k: inputs.pop(k) for k in MENTOR_KEYS if k in inputs}
            labels = inputs["labels"]
            if ctx.split > 1:
                loss = self._split_step(model, inputs, num_items_in_batch)
            else:
                try:
                    if FAULT_HOOK is not None:
                        FAULT_HOOK(self.state.global_step, model)
                    loss = super().training_step(model, inputs, num_items_in_batch)
                except torch.OutOfMemoryError:
                    loss = self._after_oom(model, inputs, num_items_in_batch)
            value = float(loss)
            if not math.isfinite(value) and ctx.nan_step is None:
                ctx.nan_step = self.state.global_step + 1
            if book:
                ctx.note(book, value)
            ctx.note_labels(int((labels[:, 1:] != IGNORE_INDEX).sum()))
            return loss

        def _after_oom(self, model: Any, inputs: Any, num_items_in_batch: Any) -> Any:
            ctx = self.mentor
            n = int(inputs["input_ids"].shape[0])
            if n // ctx.split < 2:
                raise JobError(
                    f"CUDA out of memory with a micro-batch of {max(1, n // ctx.split)} sequence(s) "
                    f"of {inputs['input_ids'].shape[1]} tokens",
                    hint="lower training.max_length or turn on training.gradient_checkpointing",
                )
            model.zero_grad(set_to_none=True)
            with contextlib.suppress(Exception):
                torch.cuda.empty_cache()
            ctx.split *= 2
            bs, acc = self.args.per_device_train_batch_size, self.args.gradient_accumulation_steps
            emit(
                ctx.conn,
                "train.oom_retry",
                f"out of memory at step {self.state.global_step + 1}: micro-batch {bs}/{ctx.split}, "
                f"accumulation x{ctx.split} (same effective batch)",
                level="warning",
                job_id=ctx.job_id,
                run_id=ctx.run_id,
                step=self.state.global_step + 1,
                micro_batch=max(1, bs // ctx.split),
                grad_accum=acc * ctx.split,
            )
            log.warning("OOM: splitting micro-batches by %d", ctx.split)
            return self._split_step(model, inputs, num_items_in_batch)

        def _split_step(self, model: Any, inputs: Any, num_items_in_batch: Any) -> Any:
            """The micro-batch in ``split`` chunks; with the loss normalised by the whole
            accumulated batch's label count the summed gradients equal the unsplit ones."""
            split = self.mentor.split
            n = int(inputs["input_ids"].shape[0])
            size = max(1, math.ceil(n / split))
            total = None
            for i in range(0, n, size):
                chunk = {  # example boundaries count over the whole batch: backends re-derive
                    k: (v[i : i + size] if torch.is_tensor(v) and v.dim() > 0 else v)
                    for k, v in inputs.items()
                    if k not in VARLEN_KEYS
                }
                part = super().training_step(model, chunk, num_items_in_batch)
                total = part if total is None else total + part
            return total

    class MentorCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self, ctx: RunContext) -> None:
            self.ctx = ctx

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self.ctx.t0 = time.perf_counter()
            self.ctx.window["t"] = self.ctx.t0
            return control

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            # Creating the epoch's DataLoader iterator draws from the torch RNG after the Trainer
            # restored it; restore again right before the first update so dropout masks match an
            # uninterrupted run exactly.
            if self.ctx.restore_rng is not None:
                self.ctx.trainer._load_rng_state(self.ctx.restore_rng)
                self.ctx.restore_rng = None
            return control

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            ctx = self.ctx
            step = int(state.global_step)
            if ctx.nan_step is not None:  # do not keep, log or checkpoint this update
                control.should_training_stop = True
                control.should_log = False
                return control
            ctx.end_step(step)
            action = ctx.poll()
            val_every = ctx.cfg.eval.val_every
            if val_every and step % val_every == 0:
                ctx.last_val = ctx.val_loss(kwargs["model"])
                ctx.val_at_step = step
            if action is not None:
                ctx.action = action
                ctx.checkpoint()
                control.should_training_stop = True
            elif step % ctx.cfg.training.save_steps == 0:
                ctx.checkpoint()
            if ctx.progress is not None:
                done = step - ctx.start_step
                elapsed = time.perf_counter() - ctx.t0
                ctx.progress(
                    {
                        "step": step,
                        "file_step": done,
                        "file_steps": ctx.steps_total,
                        "loss": ctx.last_loss,
                        "val_loss": ctx.last_val,
                        "lr": float(kwargs["lr_scheduler"].get_last_lr()[0])
                        if kwargs.get("lr_scheduler")
                        else None,
                        "tokens_per_s": ctx.tokens / elapsed if elapsed > 0 else 0.0,
                        "trained_tokens_per_s": ctx.label_tokens / elapsed if elapsed > 0 else 0.0,
                        "eta_s": elapsed / done * (ctx.steps_total - done) if done else None,
                        "rows_trained": ctx.rows_trained,
                        "next_row": ctx.entry["next_row"],
                        "rows_total": ctx.rows_total,
                        "action": action,
                    }
                )
            return control

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> Any:
            ctx = self.ctx
            if not logs or "loss" not in logs or ctx.nan_step is not None:
                return control
            step = int(state.global_step)
            obj = {
                "step": step,
                "loss": logs.get("loss"),
                "lr": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                **ctx.throughput(),
                "mem_gib": _mem_gib(),
                **system.metrics_fields(ctx.ws),
                "tokens": ctx.lineage.get("tokens"),
                "next_row": ctx.entry["next_row"],
                "file_hash": ctx.file_hash,
                "ts": time.time(),
            }
            if ctx.val_at_step == step:
                obj["val_loss"] = ctx.last_val
            ctx.write_metrics(obj)
            return control

    return MentorTrainer, MentorCallback


# --------------------------------------------------------------------------- entry point


def train_file(
    ws: Workspace,
    cfg: Config,
    path: Path,
    *,
    job_id: int | None = None,
    control: Callable[[], str | None] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    force: bool = False,
    on_overlength: str | None = None,
    report: ValidationReport | None = None,
    status: StatusWriter | None = None,
) -> TrainOutcome:
    """Train the workspace's lineage on ``path`` from its saved position; see the module docstring.

    Raises a :class:`~mentor.errors.MentorError` when nothing may be trained (the file fails
    validation, a config error); returns ``status="failed"`` when training started and had to stop
    (NaN/Inf loss), with the last good checkpoint kept in ``ws.current``.
    """
    path = Path(path)
    started = time.time()
    from mentor.models.loader import default_device, load_tokenizer

    tokenizer = load_tokenizer(cfg.model_path(ws.home))
    if report is None:
        report = validate_file(ws, cfg, path, tokenizer=tokenizer, on_overlength=on_overlength)
    report.raise_if_refused()  # never fail open: training takes its rows from a passed report
    ds = report.dataset
    file_hash = report.file_hash

    conn = connect(ws.db)
    try:
        return _train(
            ws,
            cfg,
            path,
            report,
            ds,
            file_hash,
            tokenizer,
            conn,
            started,
            job_id=job_id,
            control=control,
            progress=progress,
            force=force,
            device=default_device(),
            snapshot=status or StatusWriter(ws),
        )
    finally:
        conn.close()


def _train(
    ws: Workspace,
    cfg: Config,
    path: Path,
    report: ValidationReport,
    ds: Any,
    file_hash: str,
    tokenizer: Any,
    conn: sqlite3.Connection,
    started: float,
    *,
    job_id: int | None,
    control: Callable[[], str | None] | None,
    progress: Callable[[dict[str, Any]], None] | None,
    force: bool,
    device: str,
    snapshot: StatusWriter,
) -> TrainOutcome:
    from transformers import TrainingArguments

    lineage = st.load_state(ws)
    resume = lineage is not None
    if lineage is None:
        with transaction(conn):
            lineage_id = st.create_lineage(conn, str(cfg.model_path(ws.home)))
        lineage = st.new_state(lineage_id, str(cfg.model_path(ws.home)), cfg.training.method)
    elif lineage.get("method") != cfg.training.method:
        raise ConfigError(
            f"training.method={cfg.training.method} but the lineage in {ws.current} was trained with "
            f"{lineage.get('method')}",
            hint="consolidate or start a new lineage before switching methods",
        )
    # updates after the last checkpoint were lost; their rows are trained again
    with transaction(conn):
        st.drop_ledger_after(conn, lineage["lineage_id"], int(lineage["global_step"]))

    heldout, train_rows = split_rows(report.keep, cfg, file_hash)
    entry = lineage["files"].get(file_hash)
    if entry is not None and entry.get("status") == "completed":
        if not force:
            return TrainOutcome(
                "completed",
                None,
                file_hash,
                entry["rows_total"],
                0,
                entry["next_row"],
                int(lineage["global_step"]),
                0,
                {},
                f"{path.name} was already trained in this lineage; nothing to do (--force trains it again)",
            )
        entry = None
        pass_no = int(lineage["files"][file_hash].get("pass", 0)) + 1
    else:
        pass_no = int(entry.get("pass", 0)) if entry else 0
    order = training_order(train_rows, cfg, file_hash, pass_no)
    if entry is None:
        entry = {
            "name": path.name,
            "rows_total": len(order),
            "next_row": 0,
            "status": "in_progress",
            "pass": pass_no,
            "heldout": len(heldout),
        }
    lineage["files"][file_hash] = entry
    lineage["current_file"] = file_hash
    next_row = int(entry["next_row"])

    t = cfg.training
    use_packing = t.packing and packing_supported(cfg.model.attn_implementation)
    if t.packing and not use_packing:
        log.warning(
            "attention %s cannot separate packed examples; using padded batches",
            cfg.model.attn_implementation,
        )
    lengths = ds["length"]
    if use_packing:
        # Fixed when the file starts and kept in its entry, so a resumed file keeps its order.
        entry.setdefault("pack_length", t.max_length)
        entry.setdefault("pack_window", t.pack_window)
        order = arrange_for_packing(order, lengths, entry["pack_length"], entry["pack_window"])
    rest = order[next_row:]
    packs = (
        pack_greedy(rest, lengths, t.max_length, offset=next_row)
        if use_packing
        else one_per_pack(rest, offset=next_row)
    )
    micro_batches = math.ceil(len(packs) / t.batch_size)
    steps = math.ceil(micro_batches / t.grad_accum)
    start_step = int(lineage["global_step"])

    run_id = _new_run_id(ws, file_hash)
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", config_mod.dump_yaml(cfg))
    meta = {
        "run_id": run_id,
        "kind": "train",
        "file": str(path),
        "file_hash": file_hash,
        "rows_total": len(order),
        "heldout": len(heldout),
        "next_row_start": next_row,
        "lineage_id": lineage["lineage_id"],
        "global_step_start": start_step,
        "base_model": str(cfg.model_path(ws.home)),
        "method": t.method,
        "device": device,
        "packing": use_packing,
        "versions": _versions(),
        "git": _git_hash(),
        "job_id": job_id,
        "data": {path.name: file_hash},
        "started_at": started,
    }
    atomic_write_json(run_dir / "meta.json", meta)
    with transaction(conn):
        conn.execute(
            "INSERT INTO runs (id, job_id, kind, status, dir, started_at) VALUES (?, ?, 'train', 'running', ?, ?)",
            (run_id, job_id, str(run_dir), started),
        )
        emit(
            conn,
            "train.started",
            f"training {path.name} from row {next_row}/{len(order)}",
            job_id=job_id,
            run_id=run_id,
            file=str(path),
            file_hash=file_hash,
            next_row=next_row,
            rows_total=len(order),
            global_step=start_step,
            steps=steps,
        )

    if not packs:
        lineage["files"][file_hash] = dict(entry, status="completed", next_row=len(order))
        if resume:
            atomic_write_json(ws.current / st.STATE_NAME, lineage)
        return _finish(
            ws,
            conn,
            job_id,
            path,
            TrainOutcome(
                "completed",
                run_id,
                file_hash,
                rows_total=len(order),
                rows_trained=0,
                next_row=len(order),
                global_step=start_step,
                tokens=0,
                message="nothing left to train in this file",
            ),
        )

    ids_col: list[list[int]] = ds["input_ids"]
    labels_col: list[list[int]] = ds["labels"]
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    collator = PackedCollator(pad_id) if use_packing else PaddedCollator(pad_id)
    schedule = LineageSchedule.from_config(t, tokens=int(lineage.get("tokens", 0)))
    user_control = control or file_control(ws, since=started)
    ctx = RunContext(
        ws=ws,
        cfg=cfg,
        conn=conn,
        run_id=run_id,
        run_dir=run_dir,
        job_id=job_id,
        lineage=lineage,
        file_hash=file_hash,
        schedule=schedule,
        control=user_control,
        progress=progress,
        heldout=heldout,
        data=(ids_col, labels_col),
        steps_total=steps,
        start_step=start_step,
        rows_total=len(order),
        pad_id=pad_id,
        restore_rng=str(ws.current)
        if resume and (ws.current / "rng_state.pth").is_file()
        else None,
    )
    model = build_model(ws, cfg, lineage if resume else None, device)
    if use_packing and cfg.model.attn_implementation == "sdpa":
        model.set_attn_implementation(register_packed_sdpa())  # per-example attention in packs
    ctx.flat_packs = use_packing and cfg.model.attn_implementation in FLAT_PACK_BACKENDS
    train_ds = PackDataset(packs, ids_col, labels_col)
    bf16 = resolve_bf16(cfg, device)
    if t.bf16 == "auto" and not device.startswith("cuda"):
        bf16 = _cpu_bf16(ctx, model, collator, train_ds)
    report_to = t.report_to or "none"
    args = TrainingArguments(
        output_dir=str(run_dir / "trainer"),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        max_steps=start_step + steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        lr_scheduler_type="constant",  # replaced by create_scheduler
        warmup_steps=0,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        report_to=report_to,
        seed=t.seed,
        data_seed=t.seed,
        bf16=bf16,
        use_cpu=not device.startswith("cuda"),
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False}
        if t.gradient_checkpointing
        else None,
        ignore_data_skip=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        train_sampling_strategy="sequential",
        use_cache=False,
        logging_nan_inf_filter=False,
        label_names=["labels"],
    )
    # Live previews: the SYLLO probe split (never trained on) for SYLLO data, else this file's
    # held-out rows; off for other data without a held-out split.
    held = heldout_rows(report, cfg)
    syllo_data = is_syllo(items_from_rows(held)) if held else _first_row_is_syllo(report)
    preview = LivePreviewCallback(
        ws,
        cfg,
        run_dir,
        ChatRenderer.from_config(tokenizer, cfg.chat),
        probes=None if syllo_data else held,
        every=None if syllo_data or held else 0,
        status=snapshot,
        job_id=job_id,
    )
    trainer_cls, callback_cls = _make_trainer_classes()
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=train_ds,
        data_collator=collator,
        processing_class=tokenizer,  # checkpoints carry the tokenizer: current/ loads on its own
        callbacks=[
            callback_cls(ctx),
            preview,
            MonitorCallback(ws, cfg, run_dir, status=snapshot, job_id=job_id),
        ],
        mentor=ctx,
    )
    ctx.trainer = trainer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)

    def on_sigterm(signum: int, frame: Any) -> None:
        ctx.sigterm = True

    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        trainer.train(resume_from_checkpoint=str(ws.current) if resume else None)
    except Exception as err:
        with transaction(conn):
            conn.execute(
                "UPDATE runs SET status='failed', finished_at=?, summary=? WHERE id=?",
                (time.time(), json.dumps({"error": str(err)}), run_id),
            )
            emit(
                conn,
                "train.failed",
                f"{path.name}: {err}",
                level="error",
                job_id=job_id,
                run_id=run_id,
            )
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)

    global_step = int(lineage["global_step"])
    elapsed = time.perf_counter() - ctx.t0
    metrics: dict[str, Any] = {
        "loss": ctx.last_loss,
        "val_loss": ctx.last_val,
        "tokens_per_s": round(ctx.tokens / elapsed, 1) if elapsed > 0 else 0.0,
        "trained_tokens_per_s": round(ctx.label_tokens / elapsed, 1) if elapsed > 0 else 0.0,
        "label_tokens": ctx.label_tokens,
        "seconds": round(elapsed, 2),
        "lineage_tokens": lineage["tokens"],
        "lr": float(trainer.lr_scheduler.get_last_lr()[0]),
        "oom_split": ctx.split,
        "mem_gib": _mem_gib(),
    }
    if ctx.nan_step is not None:
        with transaction(conn):
            st.drop_ledger_after(conn, lineage["lineage_id"], ctx.ckpt_step)
        msg = (
            f"{path.name}: loss became NaN/Inf at step {ctx.nan_step}; training stopped and the last "
            f"good checkpoint (step {ctx.ckpt_step}) is kept in {ws.current}"
            if ctx.ckpt_step > 0 or resume
            else f"{path.name}: loss became NaN/Inf at step {ctx.nan_step}; training stopped, nothing was kept"
        )
        emit(conn, "train.nan", msg, level="error", job_id=job_id, run_id=run_id, step=ctx.nan_step)
        saved = (
            json.loads((ws.current / st.STATE_NAME).read_text())
            if (ws.current / st.STATE_NAME).is_file()
            else {}
        )
        nxt = int(saved.get("files", {}).get(file_hash, {}).get("next_row", 0))
        return _finish(
            ws,
            conn,
            job_id,
            path,
            TrainOutcome(
                "failed",
                run_id,
                file_hash,
                rows_total=len(order),
                rows_trained=0,
                next_row=nxt,
                global_step=ctx.ckpt_step,
                tokens=ctx.tokens,
                metrics=metrics,
                message=msg,
            ),
        )

    if ctx.val_at_step != global_step and ctx.action is None and heldout:
        ctx.last_val = ctx.val_loss(trainer.model)
        ctx.val_at_step = global_step
        metrics["val_loss"] = ctx.last_val
        ctx.write_metrics({"step": global_step, "val_loss": ctx.last_val, "ts": time.time()})
    status: Status
    if ctx.action is not None:
        status = {"pause": "paused", "stop": "stopped", "skip": "skipped"}[ctx.action]  # type: ignore[assignment]
        if ctx.action == "skip":
            lineage["files"][file_hash]["status"] = "skipped"
            ctx.checkpoint()
        message = (
            f"{path.name}: {status} at row {ctx.entry['next_row']}/{len(order)}, step {global_step}"
        )
    else:
        status = "completed"
        lineage["files"][file_hash] = dict(
            lineage["files"][file_hash], status="completed", next_row=len(order)
        )
        ctx.checkpoint()
        message = (
            f"{path.name}: trained {ctx.rows_trained} rows in {global_step - start_step} steps"
        )
    with transaction(conn):
        conn.execute(
            "INSERT INTO kv (key, value) VALUES ('train.tokens_per_s', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(metrics["tokens_per_s"]),),
        )
    return _finish(
        ws,
        conn,
        job_id,
        path,
        TrainOutcome(
            status,
            run_id,
            file_hash,
            rows_total=len(order),
            rows_trained=ctx.rows_trained,
            next_row=int(lineage["files"][file_hash]["next_row"]),
            global_step=global_step,
            tokens=ctx.tokens,
            metrics=metrics,
            message=message,
        ),
    )


def _finish(
    ws: Workspace, conn: sqlite3.Connection, job_id: int | None, path: Path, outcome: TrainOutcome
) -> TrainOutcome:
    """Record the run's end: its row in ``runs``, the finished/failed event, ``summary.json``."""
    status, run_id = outcome.status, outcome.run_id
    assert run_id is not None
    summary = {k: v for k, v in outcome.__dict__.items() if k != "run_id"}
    with transaction(conn):
        conn.execute(
            "UPDATE runs SET status=?, finished_at=?, summary=? WHERE id=?",
            (status, time.time(), json.dumps(summary, default=str), run_id),
        )
        kind = "train.finished" if status != "failed" else "train.failed"
        emit(
            conn,
            kind,
            outcome.message,
            level="info" if status != "failed" else "error",
            job_id=job_id,
            run_id=run_id,
            status=status,
            rows_trained=outcome.rows_trained,
            next_row=outcome.next_row,
            global_step=outcome.global_step,
            file=str(path),
        )
    atomic_write_json(ws.run_dir(run_id) / "summary.json", summary)
    return outcome


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
