"""The ``Trainer`` subclass: only what the HF defaults get wrong for a lineage across files.

* ``create_scheduler``: a ``LambdaLR`` over :class:`LineageSchedule` (global step + lineage
  tokens), never built from this file's ``max_steps``; its step is restored from
  ``scheduler.pt`` with the optimizer, so warmup runs once and the curve never restarts.
* ``compute_loss``: drops mentor's bookkeeping tensors, lays packed micro-batches end to end
  with logits only where a label is trained (``flat_packs``), and turns the model's cache off
  (a cache disables packed-sequence masking: DESIGN pitfalls).
* ``training_step``: bookkeeping of what the optimizer step trains (:class:`StepBook`: rows,
  position, tokens), NaN/Inf detection, and the OOM retry: the micro-batch split in halves with
  the same effective batch.

The data order needs no override: the dataset holds this file's packs from the saved row in the
seeded order, ``train_sampling_strategy="sequential"`` keeps that order, and
``ignore_data_skip=True`` stops the Trainer from fast-forwarding by the old step count.
With several ranks accelerate deals the micro-batches out in turn (:mod:`mentor.train.distributed`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from mentor.config import Config
from mentor.data.packing import MENTOR_KEYS, VARLEN_KEYS, flatten_trained_positions
from mentor.data.tokenize import IGNORE_INDEX
from mentor.data.validate import ValidationReport
from mentor.errors import JobError
from mentor.train.context import RunContext
from mentor.train.lineage import FilePlan
from mentor.train.schedule import LineageSchedule

log = logging.getLogger(__name__)

# Backends that separate packed examples by boundaries, not by a mask ("sdpa" is swapped for
# mentor_packed_sdpa in training), so a micro-batch can be one row with logits where trained.
FLAT_PACK_BACKENDS = ("sdpa", "flash_attention_2", "flash_attention_3")


@dataclass
class StepBook:
    """What the optimizer step being accumulated trains: its rows, where it ends in the file's
    order, its loss and token counts. Emptied by :meth:`take` after each optimizer step."""

    rows: list[int] = field(default_factory=list)
    end: int = -1  # position in the file's order after this step's last pack
    loss: float = 0.0
    tokens: int = 0  # non-padding input tokens
    labels: int = 0  # trained (target) tokens
    slots: int = 0  # batch width x sequences: tokens + padding

    def take(self) -> StepBook:
        done = StepBook(self.rows, self.end, self.loss, self.tokens, self.labels, self.slots)
        self.rows, self.loss, self.tokens, self.labels, self.slots = [], 0.0, 0, 0, 0
        return done


class MentorTrainer(Trainer):  # type: ignore[misc]
    """``Trainer`` with the lineage's schedule, flat packs, step bookkeeping and the OOM split.

    ``on_oom(step, micro_batch, grad_accum)`` is told when a micro-batch is split after an
    out-of-memory error (training records it as an event).
    """

    def __init__(
        self,
        *args: Any,
        schedule: LineageSchedule,
        flat_packs: bool = False,
        loss_chunk: int = 0,
        on_oom: Callable[[int, int, int], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        self.flat_packs = flat_packs
        self.loss_chunk = loss_chunk  # > 0: chunked cross-entropy (mentor.train.loss)
        self.on_oom = on_oom
        self.split = 1  # micro-batch split factor after an OOM
        self.nan_step: int | None = None  # the first optimizer step whose loss was not finite
        self.book = StepBook()

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        if self.lr_scheduler is None:
            sched = self.schedule
            opt = optimizer if optimizer is not None else self.optimizer
            assert opt is not None  # the Trainer creates the optimizer first
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda step: sched.factor(step)
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
        if self.flat_packs and not return_outputs:
            inputs = flatten_trained_positions(inputs)
        inputs["use_cache"] = False
        if self.loss_chunk and not return_outputs and "labels" in inputs:
            from mentor.train.loss import chunked_lm_loss

            inputs["num_items_in_batch"] = num_items_in_batch
            return chunked_lm_loss(model, inputs, self.loss_chunk)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        marks = {k: inputs.pop(k) for k in MENTOR_KEYS if k in inputs}
        labels = inputs["labels"]
        if self.split > 1:
            loss = self._split_step(model, inputs, num_items_in_batch)
        else:
            try:
                loss = super().training_step(model, inputs, num_items_in_batch)
            except torch.OutOfMemoryError:
                loss = self._after_oom(model, inputs, num_items_in_batch)
        value = float(loss)
        if not math.isfinite(value) and self.nan_step is None:
            self.nan_step = self.state.global_step + 1
        self._note(marks, value, int((labels[:, 1:] != IGNORE_INDEX).sum()))
        return loss

    def _note(self, marks: dict[str, Any], loss: float, labels: int) -> None:
        book = self.book
        book.loss += loss
        book.labels += labels
        if not marks:
            return
        book.rows += [r for r in marks["mentor_rows"].tolist() if r >= 0]
        book.end = max(book.end, int(marks["mentor_span"][:, 1].max()))
        tokens = int(marks["mentor_tokens"])
        book.tokens += tokens
        book.slots += int(marks["mentor_slots"])
        self.schedule.tokens += tokens  # the schedule sees this step's tokens at its step()

    def _after_oom(self, model: Any, inputs: Any, num_items_in_batch: Any) -> Any:
        n = int(inputs["input_ids"].shape[0])
        if n // self.split < 2:
            raise JobError(
                f"CUDA out of memory with a micro-batch of {max(1, n // self.split)} sequence(s) "
                f"of {inputs['input_ids'].shape[1]} tokens",
                hint="lower training.max_length or turn on training.gradient_checkpointing",
            )
        model.zero_grad(set_to_none=True)
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()
        self.split *= 2
        bs, acc = self.args.per_device_train_batch_size, self.args.gradient_accumulation_steps
        log.warning("OOM: splitting micro-batches by %d", self.split)
        if self.on_oom is not None:
            self.on_oom(self.state.global_step + 1, max(1, bs // self.split), acc * self.split)
        return self._split_step(model, inputs, num_items_in_batch)

    def _split_step(self, model: Any, inputs: Any, num_items_in_batch: Any) -> Any:
        """The micro-batch in ``split`` chunks; with the loss normalised by the whole
        accumulated batch's label count the summed gradients equal the unsplit ones."""
        n = int(inputs["input_ids"].shape[0])
        size = max(1, math.ceil(n / self.split))
        total = None
        for i in range(0, n, size):
            chunk = {  # example boundaries count over the whole batch: backends re-derive them
                k: (v[i : i + size] if torch.is_tensor(v) and v.dim() > 0 else v)
                for k, v in inputs.items()
                if k not in VARLEN_KEYS
            }
            part = super().training_step(model, chunk, num_items_in_batch)
            total = part if total is None else total + part
        return total


def logging_every(cfg: Config, steps: int) -> int:
    """Optimizer steps between metrics records: ``training.logging_steps``, fewer for a file
    too short to leave ``training.log_points_per_file`` points at that cadence."""
    t = cfg.training
    return max(1, min(t.logging_steps, steps // t.log_points_per_file))


def loss_chunk(cfg: Config, device: str) -> int:
    """Positions per chunk of the chunked cross-entropy, 0 for the model's own loss
    (``training.chunked_loss``: auto = on a CUDA device, where the logits are the memory)."""
    t = cfg.training
    on = t.chunked_loss == "on" or (t.chunked_loss == "auto" and device.startswith("cuda"))
    return t.loss_chunk_tokens if on and t.method != "qlora" else 0


def optimizer_name(cfg: Config, device: str) -> str:
    """``training.optimizer``: auto = PyTorch's fused AdamW (one kernel per parameter group
    instead of a loop over tensors) on CUDA and the CPU, which both have it; the plain AdamW
    elsewhere (MPS and other devices)."""
    name = cfg.training.optimizer
    if name == "auto":
        fused = device.startswith("cuda") or device == "cpu"
        return "adamw_torch_fused" if fused else "adamw_torch"
    return name


def training_args(
    cfg: Config,
    *,
    output_dir: Path,
    max_steps: int,
    log_every: int,
    device: str,
    bf16: bool | None = None,
) -> Any:
    """The ``TrainingArguments`` of a run: the lineage's step count, mentor's schedule and data
    order, checkpoints every ``training.save_steps`` (and at the run's last step, which the
    lineage callback asks for). ``bf16`` overrides ``training.bf16`` (a CPU measurement)."""
    from transformers import TrainingArguments

    from mentor.train import distributed
    from mentor.train.model import resolve_bf16

    t = cfg.training
    multi = distributed.ranks().multi
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        max_steps=max_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        lr_scheduler_type="constant",  # replaced by create_scheduler
        warmup_steps=0,
        logging_strategy="steps",
        logging_steps=log_every,
        save_strategy="steps",
        save_steps=t.save_steps,
        eval_strategy="no",
        report_to=t.report_to or "none",
        seed=t.seed,
        data_seed=t.seed,
        bf16=resolve_bf16(cfg, device) if bf16 is None else bf16,
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
        ddp_backend=distributed.backend_for(t.ddp_backend, device.startswith("cuda"))
        if multi
        else None,
        ddp_find_unused_parameters=False if multi and t.method != "full" else None,
        optim=optimizer_name(cfg, device),
        torch_compile=t.compile,
    )


def cpu_bf16(ctx: RunContext, model: Any, batch: dict[str, Any], flat: bool) -> bool:
    """bf16 autocast on the CPU only where it measured faster (``models/precision.py``): the
    model's forward+backward on this file's first micro-batch, both ways, cached per machine and
    shape in the workspace; the choice and its figures become a ``train.precision`` event."""
    from mentor.models.precision import choose_for_model
    from mentor.store.db import transaction
    from mentor.store.events import emit

    t = ctx.cfg.training
    inputs = {k: v for k, v in batch.items() if k not in MENTOR_KEYS}
    if flat:
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
            run_id=ctx.run.run_id,
            job_id=ctx.run.job_id,
            bf16=choice.bf16,
            fp32_s=choice.fp32_s,
            bf16_s=choice.bf16_s,
            cached=choice.cached,
        )
    return choice.bf16


def build_trainer(
    ctx: RunContext,
    report: ValidationReport,
    tokenizer: Any,
    plan: FilePlan,
    *,
    resume: bool,
    device: str,
    status: Any,
    extra: Sequence[Any] = (),
) -> MentorTrainer:
    """The model (the lineage's, or a new adapter) in a :class:`MentorTrainer` over the file's
    packs, with mentor's callbacks (+ ``extra``) and none of the Trainer's console printers."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from mentor.data.packing import PackDataset, PackedCollator, PaddedCollator
    from mentor.models.attention import register_packed_sdpa
    from mentor.train.callbacks import run_callbacks
    from mentor.train.model import build_model

    cfg, attn = ctx.cfg, ctx.cfg.model.attn_implementation
    model = build_model(ctx.ws, cfg, resume, device)
    if plan.packing and attn == "sdpa":
        model.set_attn_implementation(register_packed_sdpa())  # per-example attention in packs
    ids, labels = ctx.data
    dataset = PackDataset(plan.packs, ids, labels)
    collator = (PackedCollator if plan.packing else PaddedCollator)(ctx.pad_id)
    flat = plan.packing and attn in FLAT_PACK_BACKENDS
    bf16 = None
    from mentor.train import distributed

    # one process on the CPU: measure; several ranks keep fp32 (one probe per rank could disagree)
    single = not distributed.ranks().multi
    if cfg.training.bf16 == "auto" and not device.startswith("cuda") and single and len(dataset):
        first = [dataset[i] for i in range(min(cfg.training.batch_size, len(dataset)))]
        bf16 = cpu_bf16(ctx, model, collator(first), flat)
    trainer = MentorTrainer(
        model=model,
        args=training_args(
            cfg,
            output_dir=ctx.run.folder.trainer,
            max_steps=ctx.start_step + ctx.steps_total,
            log_every=logging_every(cfg, ctx.steps_total),
            device=device,
            bf16=bf16,
        ),
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,  # checkpoints carry the tokenizer: current/ loads on its own
        callbacks=[*run_callbacks(ctx, report, tokenizer, status), *extra],
        schedule=LineageSchedule.from_config(
            cfg.training,
            tokens=int(ctx.lineage["tokens"]),
            warmup_steps=ctx.lineage.get("warmup_steps"),
        ),
        flat_packs=flat,
        loss_chunk=loss_chunk(cfg, device),
        on_oom=ctx.oom_event,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    ctx.trainer = trainer
    return trainer
