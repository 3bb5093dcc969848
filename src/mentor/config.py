"""One validated config: ``mentor.yaml`` -> pydantic models, ``--set a.b=value`` overrides.

Every field is typed, defaulted and described; the descriptions become the comments of the
``mentor.yaml`` that ``mentor init`` writes, so the file documents itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mentor.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    path: str = Field(
        "models/tiny",
        description="Base model: a local Hugging Face directory (absolute, or relative to the workspace).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype: auto = bfloat16 on a GPU, float32 on the CPU."
    )
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="Attention backend passed to transformers."
    )


class ChatConfig(Section):
    template: str = Field(
        "model",
        description="Chat template: 'model' uses the tokenizer's own; otherwise a path to a Jinja file.",
    )
    enable_thinking: bool = Field(
        False, description="Render Qwen3-style templates with thinking on (off: empty think block)."
    )
    default_system_prompt: str | None = Field(
        None,
        description="System prompt added only to rows that have none; the data's own system turns are kept.",
    )
    train_on: Literal["all_assistant", "last_assistant", "all"] = Field(
        "all_assistant",
        description="Which tokens carry loss: every assistant turn, the last one, or all (the "
        "prompt too, like LLaMA-Factory's train_on_prompt; evaluation loss uses the same mask).",
    )


AUGMENT_OPS = ("paraphrase", "typos", "shuffle_clues", "shuffle_bank", "variants", "system_prompt")


class AugmentConfig(Section):
    enabled: bool = Field(
        False,
        description="Augment each file taken from the inbox before training "
        "(mentor.data.augment.augment_file); `mentor augment` works either way.",
    )
    factor: int = Field(
        1, ge=1, description="Augmented copies drawn per source row (the originals are kept too)."
    )
    ops: list[str] = Field(
        default_factory=lambda: [
            "shuffle_clues",
            "shuffle_bank",
            "paraphrase",
            "typos",
            "variants",
        ],
        description="Recipes, one per copy in turn: an op name, or op names joined by '+' to "
        "compose them. Ops: " + ", ".join(AUGMENT_OPS) + ".",
    )
    seed: int = Field(0, description="Seed of every random choice (same seed, same output).")
    keep_original: bool = Field(True, description="Write the source rows too, before their copies.")
    system_prompts: list[str] = Field(
        default_factory=list,
        description="System prompts the system_prompt op draws from (rows with their own keep it).",
    )
    system_prompts_file: str | None = Field(
        None,
        description="A text file of system prompts, one per line, added to system_prompts "
        "(relative to the workspace).",
    )
    paraphrase_share: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="paraphrase: share of the eligible clues (definitions, synonyms) rewritten; "
        "at least one.",
    )
    typo_clues: int = Field(1, ge=1, description="typos: clues that get one typo each, at most.")
    variants: list[str] = Field(
        default_factory=list,
        description="variants: answer shapes drawn from (canonical or the twelve ten-level "
        "shapes); empty = all thirteen.",
    )

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, recipes: list[str]) -> list[str]:
        for recipe in recipes:
            names = [n.strip() for n in recipe.split("+")]
            unknown = [n for n in names if n not in AUGMENT_OPS]
            if unknown or len(set(names)) != len(names):
                raise ValueError(
                    f"recipe {recipe!r}: unknown or repeated op (ops: {', '.join(AUGMENT_OPS)})"
                )
        if not recipes:
            raise ValueError("at least one recipe")
        return recipes


class DataConfig(Section):
    holdout_fraction: float = Field(
        0.05, ge=0.0, lt=1.0, description="Share of each file held out for validation."
    )
    holdout_max: int = Field(100, ge=0, description="At most this many held-out rows per file.")
    max_line_bytes: int = Field(
        8 * 2**20,
        ge=1024,
        description="A JSONL line longer than this is refused before it is parsed or tokenized "
        "(a 100 MB line would take the daemon's memory; far above any row of training.max_length).",
    )
    on_overlength: Literal["refuse", "drop"] = Field(
        "refuse",
        description="A row longer than training.max_length: refuse the file, or drop the row to quarantine.",
    )
    on_empty_answer: Literal["refuse", "drop"] = Field(
        "refuse",
        description="A row with a trained assistant answer (or text) that is empty or only "
        "whitespace: refuse the file, or drop the row to quarantine.",
    )
    tokenize_batch_size: int = Field(1000, ge=1, description="Rows per fast-tokenizer batch.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Other field names of your rows, mentor's name -> yours: keys messages, role, "
        "content (inside each message), prompt, completion, text; e.g. {messages: dialog, role: "
        "speaker, content: text}. ShareGPT (conversations/from/value) and Alpaca "
        "(instruction/input/output) rows are read without a mapping.",
    )
    roles: dict[str, str] = Field(
        default_factory=dict,
        description="Other role names of mapped messages -> system, user or assistant; "
        "e.g. {bot: assistant, customer: user}.",
    )
    estimate_steps: int = Field(
        3,
        ge=1,
        description="mentor validate's time estimate before anything was trained: timed "
        "forward+backward steps of the model at hand (after one warm-up step; cached in "
        "data/cache/throughput.json).",
    )
    augment: AugmentConfig = Field(
        default_factory=AugmentConfig, description="Data augmentation (mentor augment, inbox)."
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, str]) -> dict[str, str]:
        known = ("messages", "role", "content", "prompt", "completion", "text")
        unknown = [k for k in fields if k not in known]
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(known)}")
        return fields

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: dict[str, str]) -> dict[str, str]:
        bad = [f"{k}: {v}" for k, v in roles.items() if v not in ("system", "user", "assistant")]
        if bad:
            raise ValueError(f"{', '.join(bad)}: a role maps to system, user or assistant")
        return roles


class EarlyStoppingConfig(Section):
    enabled: bool = Field(
        False,
        description="Stop a file's training when its metric stops improving, and keep the best "
        "checkpoint (not the last) as the lineage's state.",
    )
    metric: str = Field(
        "val_loss",
        description="val_loss (held-out loss, every eval.val_every steps) or preview.<name>: a "
        "live-preview metric (every eval.live_every steps), e.g. preview.solved_share, "
        "preview.loss; loss-like metrics are lower-is-better.",
    )
    patience: int = Field(
        3,
        ge=1,
        description="Evaluations in a row without an improvement of more than min_delta before "
        "the file stops.",
    )
    min_delta: float = Field(
        0.0, ge=0.0, description="Smallest change of the metric that counts as an improvement."
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric != "val_loss" and not (metric.startswith("preview.") and len(metric) > 8):
            raise ValueError("expected val_loss or preview.<metric> (e.g. preview.solved_share)")
        return metric


class TrainingConfig(Section):
    method: Literal["lora", "qlora", "full"] = Field("lora", description="Fine-tuning method.")
    lora_targets: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="LoRA target modules: 'all-linear' or a list of module names."
    )
    lora_r: int = Field(64, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(64, ge=1, description="LoRA alpha (the users set alpha = r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout.")
    lora_dropout_shared: bool = Field(
        True,
        description="One dropout mask per input, shared by the adapters that read it (q/k/v, "
        "gate/up): same rate, about 2x fewer random draws. false = PEFT's mask per adapter.",
    )
    learning_rate: float = Field(2e-4, gt=0.0, description="Peak learning rate.")
    schedule: Literal["constant", "cosine", "wsd"] = Field(
        "cosine", description="LR schedule of the lineage (never restarts per file)."
    )
    warmup_steps: int = Field(
        100, ge=0, description="Warmup steps at most, once per lineage (see warmup_ratio)."
    )
    warmup_ratio: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Warmup is this share of the lineage's first file's optimizer steps (rounded "
        "down), at most warmup_steps; fixed when the lineage starts and never repeated. By steps, "
        "as HF/LLaMA-Factory's warmup_ratio, because the LR moves per optimizer step: a 300-row "
        "first file of a few steps then trains nearly all of them at full LR, where a fixed 100 "
        "would keep all of them near zero. 1.0 = warmup_steps unless the first file is shorter; "
        "0 = no warmup.",
    )
    horizon_tokens: int = Field(
        50_000_000,
        ge=1,
        description="Schedule length in trained tokens for cosine/wsd decay over the lineage.",
    )
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0, description="Floor of the decay, x peak LR.")
    wsd_decay_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="wsd: share of the horizon spent decaying."
    )
    batch_size: int = Field(2, ge=1, description="Micro-batch size (sequences per device step).")
    grad_accum: int = Field(8, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(2048, ge=16, description="Longest trained sequence in tokens.")
    packing: bool = Field(
        True, description="Pack examples into sequences (exact per-example masks)."
    )
    pack_window: int = Field(
        128,
        ge=1,
        description="Rows packed together first-fit-decreasing; rows stay inside their window of the seeded order.",
    )
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Gradient clipping norm.")
    save_steps: int = Field(200, ge=1, description="Checkpoint every N optimizer steps.")
    logging_steps: int = Field(
        10,
        ge=1,
        description="Log metrics at least every N optimizer steps; a short file logs more often "
        "(see log_points_per_file) and the last step of every run is always logged.",
    )
    log_points_per_file: int = Field(
        20,
        ge=1,
        description="A file of fewer than logging_steps x this many steps logs every "
        "steps/this steps (every step at least), so each file leaves about this many points.",
    )
    seed: int = Field(42, description="Seed of row order, held-out split and initialisation.")
    bf16: Literal["auto", "on", "off"] = Field(
        "auto",
        description="bf16 mixed precision: auto = on a GPU with bf16; on the CPU, autocast only if "
        "it measured faster for this machine and model shape (timed once at training start, "
        "cached in data/cache/precision.json).",
    )
    bf16_probe_rounds: int = Field(
        3,
        ge=1,
        description="bf16 auto on the CPU: timed forward+backward passes per precision "
        "(interleaved, median taken) when the choice is not cached yet.",
    )
    report_to: list[str] = Field(
        default_factory=list, description="Trackers passed to the Trainer (tensorboard, wandb...)."
    )
    epochs_per_file: int = Field(1, ge=1, description="Passes over each file.")
    early_stopping: EarlyStoppingConfig = Field(
        default_factory=EarlyStoppingConfig,
        description="Early stopping within each file, counted in evaluations.",
    )
    gpus: int = Field(
        1,
        ge=1,
        description="Processes (one per GPU) that train together with DDP through torchrun; "
        "on a CPU, processes on the gloo backend. The global batch is batch_size x gpus x "
        "grad_accum.",
    )
    ddp_backend: Literal["auto", "nccl", "gloo"] = Field(
        "auto", description="Process-group backend with gpus > 1: auto = NCCL on CUDA, else gloo."
    )
    accelerate_config: str | None = Field(
        None,
        description="An accelerate config file (FSDP, DeepSpeed...): with gpus > 1 the ranks "
        "start through `accelerate launch --config_file` with it, passed as is.",
    )
    replay_fraction: float = Field(
        0.25,
        ge=0.0,
        lt=1.0,
        description="Share of the trained rows that are replayed rows of earlier files of the "
        "lineage (their trained rows, read back through the ledger from data/done/), mixed into "
        "the seeded order; 0 = off. Replayed rows are marked in the ledger and never count as "
        "the new file's progress (docs/forgetting.md: the experiment behind the default).",
    )
    replay_files: int = Field(
        8,
        ge=1,
        description="Replay draws from at most this many earlier files (the most recent).",
    )
    chunked_loss: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Cross-entropy over loss_chunk_tokens positions at a time, gradients taken "
        "chunk by chunk, so the full-vocabulary logits never exist at once (the 152k-vocabulary "
        "head is most of a small model's activation memory). auto = on a CUDA device; off on "
        "the CPU, where the tiny model's head is small (measured on and off: "
        "docs/performance.md).",
    )
    loss_chunk_tokens: int = Field(
        1024, ge=16, description="Positions per chunk of the chunked cross-entropy."
    )
    optimizer: Literal["auto", "adamw_torch", "adamw_torch_fused"] = Field(
        "auto",
        description="AdamW implementation: auto = PyTorch's fused AdamW on CUDA and the CPU "
        "(measured on and off: docs/performance.md), the plain one on other devices.",
    )
    compile: bool = Field(
        False,
        description="torch.compile the model (TrainingArguments.torch_compile). Off until "
        "measured faster: packs change length and the per-example attention loops in Python "
        "(docs/performance.md).",
    )
    micro_batch_auto: bool = Field(
        True,
        description="On a CUDA device, halve batch_size (doubling grad_accum, same effective "
        "batch) until the predicted peak memory fits the free memory; refuse when one sequence "
        "does not fit. No effect on the CPU.",
    )
    memory_headroom: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="Share of the device's free memory the predicted training peak may use.",
    )

    @field_validator("chunked_loss", "bf16", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        """YAML reads a bare on/off as true/false: take them as the words they were."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("bf16", mode="before")
    @classmethod
    def _bf16_yaml_bool(cls, v: Any) -> Any:
        """YAML reads a bare ``on``/``off`` (``--set training.bf16=off``) as a boolean."""
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v


class AlertsConfig(Section):
    window: int = Field(10, ge=2, description="Logged steps compared on each side of a trend rule.")
    loss_spike_ratio: float = Field(
        2.0,
        gt=1.0,
        description="Loss spike: the latest loss over this multiple of the recent mean.",
    )
    throughput_drop_share: float = Field(
        0.4, gt=0.0, lt=1.0, description="Throughput drop: tokens/s fell by more than this share."
    )
    val_gap_abs: float = Field(
        0.3, ge=0.0, description="Validation-train gap: val_loss - loss above this (and above rel)."
    )
    val_gap_rel: float = Field(
        0.25, ge=0.0, description="Validation-train gap relative to the training loss."
    )
    gpu_warn_c: float = Field(85.0, description="GPU temperature warning, degrees C.")
    gpu_crit_c: float = Field(90.0, description="GPU temperature critical, degrees C.")


class EvalConfig(Section):
    benchmarks: list[str] = Field(
        default_factory=lambda: ["syllo_easy_100", "syllo_medium_100", "syllo_hard_100"],
        description="Benchmark suite of the full evaluation.",
    )
    quick_per_tier: int = Field(
        30, ge=0, description="Puzzles per tier in the quick benchmark after each file."
    )
    quick_budget_share: float = Field(
        1.0,
        ge=0.0,
        description="The daemon sizes the quick benchmark after a file so the evaluation takes "
        "at most this multiple of the file's training time: items per tier = share x training "
        "seconds / seconds per item of the last evaluation (kv eval.seconds_per_item) / "
        "benchmarks, at most eval.quick_per_tier. 0 = eval.quick_per_tier always (also before the first "
        "evaluation was measured).",
    )
    live_every: int = Field(10, ge=0, description="Live preview every N steps (0 = off).")
    val_every: int = Field(50, ge=0, description="Validation loss every N steps (0 = off).")
    probe_count: int = Field(8, ge=1, description="Probe puzzles in a live preview.")
    batch_size: int = Field(32, ge=1, description="Generation batch size of evaluations.")
    continuous_batching: bool = Field(
        False,
        description="Generate evaluations with transformers' continuous batching (paged KV cache, "
        "finished rows replaced at once, CUDA graphs on a GPU) instead of static batches. For a "
        "GPU; on a CPU it is slower.",
    )
    max_new_tokens: int | None = Field(
        None, description="New-token cap; unset = sized to the task (full hard answers fit)."
    )
    gate_metric: str = Field("solved", description="Metric of the regression gate.")
    gate_alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="A drop significant at this level refuses promotion."
    )
    gate_enabled: bool = Field(True, description="Promote only versions that pass the gate.")
    full_when_idle: bool = Field(True, description="Run the full suite when the daemon is idle.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert rules.")


class ForgettingConfig(Section):
    enabled: bool = Field(
        True,
        description="After each version, score the held-out rows of the lineage's earlier files "
        "and the general-text probe again (the forgetting matrix, docs/forgetting.md). Cost per "
        "version on the tiny model: about (max_files + 1) x rows_per_file scored rows plus "
        "sample generations per SYLLO file (measured in docs/forgetting.md).",
    )
    rows_per_file: int = Field(
        64,
        ge=1,
        description="Held-out rows scored per earlier file (the same seeded rows each time).",
    )
    max_files: int = Field(
        8, ge=1, description="Earlier files scored per version (the most recent ones)."
    )
    sample: int = Field(
        8,
        ge=0,
        description="Held-out SYLLO rows per file also generated and scored (0 = loss only).",
    )
    probe_rows: int = Field(
        64, ge=0, description="Rows of the shipped general-text probe scored (0 = no probe)."
    )
    margin: float = Field(
        0.05,
        ge=0.0,
        description="Allowed rise of an earlier file's (or the probe's) mean per-row held-out "
        "loss, nats/token, since it was trained; a rise significantly above it refuses promotion.",
    )
    alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="Significance level of the forgetting gate's paired test."
    )
    gate: bool = Field(True, description="Refuse to promote a version that forgot (see margin).")


class DaemonConfig(Section):
    settle_seconds: float = Field(
        2.0,
        ge=0.0,
        description="An inbox file is taken once it ends with a newline, no writer holds it "
        "open, and its size and mtime are unchanged this long.",
    )
    incomplete_grace_seconds: float = Field(
        120.0,
        ge=0.0,
        description="An inbox file unchanged this long is taken even without a final newline or "
        "a seen close (validation judges it); 0 = never.",
    )
    poll_seconds: float = Field(1.0, gt=0.0, description="Polling fallback interval.")
    progress_log_seconds: float = Field(
        30.0,
        ge=0.0,
        description="An evaluation's items done/total and ETA go to the daemon's log at most "
        "this often.",
    )
    default_priority: Literal["high", "normal", "low"] = Field(
        "normal", description="Priority of files dropped into the inbox."
    )
    max_attempts: int = Field(3, ge=1, description="Attempts before a job is failed for good.")
    backoff_seconds: float = Field(30.0, ge=0.0, description="Wait before a retry (doubles).")
    consolidate_at: str | None = Field(
        None, description="Daily consolidation time HH:MM when idle (unset = never)."
    )
    snapshot_at: str | None = Field("02:00", description="Daily snapshot time HH:MM.")
    min_free_gib: float = Field(
        5.0, ge=0.0, description="Disk guard: refuse to start training below this free space."
    )
    keep_last: int = Field(3, ge=1, description="Retention: keep the last K checkpoints.")
    keep_best: int = Field(3, ge=0, description="Retention: keep the K best versions by eval.")
    keep_daily_days: int = Field(7, ge=0, description="Retention: one version per day for D days.")
    disk_budget_gib: float = Field(50.0, gt=0.0, description="Retention disk budget.")


class ServeConfig(Section):
    host: str = Field("127.0.0.1", description="Bind address (other than loopback needs a key).")
    port: int = Field(9000, ge=1, le=65535, description="REST API and dashboard port.")
    api_keys: list[str] = Field(
        default_factory=list, description="sha256 hashes of accepted bearer keys."
    )
    max_tokens: int = Field(2048, ge=1, description="Cap on max_tokens of one request.")
    max_request_bytes: int = Field(1_000_000, ge=1024, description="Cap on a request body.")
    max_concurrency: int = Field(64, ge=1, description="Requests in flight at once.")
    adapter_pool: int = Field(4, ge=1, description="Adapters kept loaded (LRU).")
    batch_wait_ms: float = Field(5.0, ge=0.0, description="Wait to gather a batch of requests.")
    max_batch: int = Field(
        32, ge=1, description="Requests generated together in one batch at most."
    )
    default_max_tokens: int = Field(
        256, ge=1, description="New-token limit of a request that sets no max_tokens."
    )
    reload_seconds: float = Field(
        1.0,
        gt=0.0,
        description="How often the server checks state.db for a newly promoted version.",
    )


class SmtpConfig(Section):
    host: str | None = Field(None, description="SMTP server (unset = no mail).")
    port: int = Field(587, description="SMTP port.")
    sender: str | None = Field(None, description="From address.")
    to: list[str] = Field(default_factory=list, description="Recipients.")
    starttls: bool = Field(
        True, description="Upgrade the connection with STARTTLS before sending (port 587)."
    )
    username: str | None = Field(None, description="SMTP login (unset = no login).")
    password_env: str | None = Field(
        None,
        description="Name of the environment variable that holds the SMTP password (never the "
        "password itself in mentor.yaml).",
    )
    timeout_s: float = Field(30.0, gt=0.0, description="SMTP connection timeout, seconds.")


class CurveConfig(Section):
    smoothing: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="Smoothing of the learning curve: EMA span as a share of the logged points.",
    )
    tail_share: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="Share of the last points whose trend decides 'still falling' or 'flat' at the end.",
    )
    tail_min_points: int = Field(
        5, ge=3, description="At least this many points in the end window of a trend test."
    )
    alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="Significance level of the trend tests (slope t-test)."
    )
    noise_z: float = Field(
        2.0,
        gt=0.0,
        description="A rise or a gap counts only beyond this many noise standard deviations.",
    )
    plateau_share: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Plateau: from the step where less than this share of the total improvement "
        "(and no more than the noise) was still to come.",
    )
    plateau_min_share: float = Field(
        0.25,
        gt=0.0,
        lt=1.0,
        description="A plateau is reported only when it spans at least this share of the steps.",
    )
    underfit_ratio: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Underfitting: the loss still falls over the end window at least this share "
        "of the run's average rate (it has not slowed down).",
    )
    divergence_share: float = Field(
        0.5,
        gt=0.0,
        description="Divergence: the loss climbed back by more than this share of the drop it had "
        "made (or above where it started).",
    )


class ReportConfig(Section):
    time: str = Field("07:00", description="Daily report time HH:MM.")
    webhook: str | None = Field(
        None, description="URL the daily report summary is POSTed to (Slack-compatible JSON)."
    )
    webhook_timeout_s: float = Field(10.0, gt=0.0, description="Webhook POST timeout, seconds.")
    smtp: SmtpConfig = Field(default_factory=SmtpConfig, description="Mail delivery.")
    headline_metric: str = Field(
        "quick.solved",
        description="Version metric (versions table) that ranks versions: best version, ROI, "
        "improvement over time. e.g. quick.solved, heldout.exact.",
    )
    lagging_share: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="Daily report: a tier lags when it gained less than this share of the other "
        "tiers' mean gain over the untrained model (-> more data of that tier).",
    )
    serve_snapshot_seconds: float = Field(
        30.0,
        gt=0.0,
        description="How often the API server writes status/serve_metrics.json (latency and "
        "throughput for reports).",
    )
    curve: CurveConfig = Field(
        default_factory=CurveConfig, description="Learning-curve analysis (mentor curve)."
    )


class CostConfig(Section):
    currency: str = Field("USD", description="Currency label of the cost figures.")
    gpu_price_per_hour: float = Field(
        0.0, ge=0.0, description="Price of one GPU for one hour (cost of GPU runs)."
    )
    gpu_count: int = Field(1, ge=1, description="GPUs a training or evaluation run occupies.")
    cpu_price_per_hour: float = Field(
        0.0, ge=0.0, description="Price of the machine for one hour when a run uses the CPU only."
    )
    energy_price_per_kwh: float = Field(
        0.0, ge=0.0, description="Electricity price per kWh (0 = energy not priced)."
    )
    power_watts: float = Field(
        0.0,
        ge=0.0,
        description="Power draw assumed when the metrics carry no NVML power (CPU machines; "
        "0 = energy unknown there).",
    )


class TuneConfig(Section):
    trials: int = Field(
        20, ge=1, description="Trials of a search when `mentor tune` gets no --trials."
    )
    seed: int = Field(0, description="Seed of the TPE sampler when `mentor tune` gets no --seed.")
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median",
        description="Stops hopeless trials early on their validation loss: median (worse than the "
        "median of finished trials at the same point), hyperband (successive halving brackets), none.",
    )
    sampler_startup_trials: int = Field(
        10, ge=0, description="Trials sampled at random before TPE models the results."
    )
    pruner_startup_trials: int = Field(
        3, ge=0, description="median: trials that must finish before any trial is pruned."
    )
    pruner_warmup_points: int = Field(
        0, ge=0, description="median: report points a trial passes before it may be pruned."
    )
    hyperband_reduction_factor: int = Field(
        3, ge=2, description="hyperband: 1/N of the trials in a bracket go on at each rung."
    )
    report_points: int = Field(
        20,
        ge=1,
        description="The pruner compares trials at the same share of the file trained (not the "
        "same optimizer step, which means more rows at a larger batch): a trial reports its "
        "validation loss once in each of N equal parts of the file.",
    )
    val_every: int = Field(
        10,
        ge=1,
        description="Validation loss every N optimizer steps inside a trial (the pruner's signal; "
        "eval.val_every is for normal training).",
    )
    live_previews: bool = Field(
        False,
        description="Run live previews inside trials (they cost generation time and do not change "
        "the objective).",
    )
    baseline_first: bool = Field(
        True,
        description="A new study's first trial runs the current settings (when they lie in the "
        "space), so the best patch changes something only when a trial beat them.",
    )
    max_retries: int = Field(
        2,
        ge=0,
        description="A trial killed or interrupted mid-way runs again with the same settings on "
        "resume, at most this many times.",
    )
    keep_weights: bool = Field(
        False,
        description="Keep each trial's adapter and optimizer after it ends (off: only its runs/ "
        "folder with metrics stays).",
    )


class Config(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="Base model.")
    chat: ChatConfig = Field(default_factory=ChatConfig, description="Chat template and prompts.")
    data: DataConfig = Field(default_factory=DataConfig, description="Data checks and splits.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation.")
    forgetting: ForgettingConfig = Field(
        default_factory=ForgettingConfig,
        description="The forgetting matrix and its gate (docs/forgetting.md).",
    )
    daemon: DaemonConfig = Field(default_factory=DaemonConfig, description="Daemon.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="REST API and dashboard.")
    report: ReportConfig = Field(default_factory=ReportConfig, description="Reports.")
    cost: CostConfig = Field(default_factory=CostConfig, description="Costs.")
    tune: TuneConfig = Field(
        default_factory=TuneConfig, description="Hyperparameter search (mentor tune)."
    )

    def model_path(self, home: Path) -> Path:
        p = Path(self.model.path).expanduser()
        return p if p.is_absolute() else home / p


def parse_overrides(pairs: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["training.lr=1e-4", ...]`` -> nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {pair!r}: expected KEY=VALUE", hint="e.g. --set training.lora_r=32"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair!r}: {part} is both a value and a section")
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: sections merge key by key, values replace."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def error_parts(e: Any) -> tuple[str, str]:
    """(dotted key, message) of one pydantic error, worded for a user."""
    loc = ".".join(str(p) for p in e["loc"]) or "(top)"
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key (see `mentor config show` for the valid ones)"
    return loc, msg


def format_errors(err: ValidationError, source: str) -> list[str]:
    return [f"{source}: {loc}: {msg}" for loc, msg in map(error_parts, err.errors())]


def build(
    raw: dict[str, Any], overrides: list[str] | None = None, *, source: str = "config"
) -> Config:
    merged = merge(raw, parse_overrides(overrides))
    try:
        return Config.model_validate(merged)
    except ValidationError as err:
        lines = format_errors(err, source)
        raise ConfigError("; ".join(lines)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found", hint="create a workspace with `mentor init`"
        ) from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return raw


def load(path: Path, overrides: list[str] | None = None) -> Config:
    return build(read_yaml(path), overrides, source=str(path))


def validate_file(path: Path, overrides: list[str] | None = None) -> list[str]:
    """Every error of the file at once (empty list when valid)."""
    try:
        raw = read_yaml(path)
    except ConfigError as err:
        return [str(err)]
    try:
        Config.model_validate(merge(raw, parse_overrides(overrides)))
    except ValidationError as err:
        return format_errors(err, str(path))
    return []


def to_dict(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


def commented_yaml(cfg: Config | None = None) -> str:
    """The whole config as YAML with each field's description as a comment above it."""
    cfg = cfg or Config()
    out = [
        "# mentor workspace config. Every key is optional; the values below are the defaults.",
        "# Override any of them for one command with --set section.key=value.",
        "",
    ]

    def emit(model: BaseModel, indent: int) -> None:
        pad = "  " * indent
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if field.description:
                out.append(f"{pad}# {field.description}")
            if isinstance(value, BaseModel):
                out.append(f"{pad}{name}:")
                emit(value, indent + 1)
                if indent == 0:
                    out.append("")
            else:
                dumped = yaml.safe_dump({name: value}, default_flow_style=True, allow_unicode=True)
                out.append(pad + dumped.strip().removeprefix("{").removesuffix("}"))

    emit(cfg, 0)
    return "\n".join(out).rstrip() + "\n"
