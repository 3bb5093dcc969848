"""Peak training memory, predicted from the model's shape and the training settings.

Training a small model on a 24 GB card fails late and expensively when it does not fit: the
model loads, the first micro-batch runs, and CUDA reports out of memory. This module predicts the
peak before anything is loaded, so training can lower the micro-batch (same effective batch) or
refuse with the config key to lower (:func:`fit_micro_batch`, ``training.micro_batch_auto``).

The prediction adds up what a LoRA step of a Qwen3-style decoder holds at its peak, the start of
the backward pass:

* **static**: the base weights; the trainable weights (LoRA adapters are kept in fp32 by PEFT)
  with their gradients and AdamW's two moments;
* **activations**: what autograd saves per token of the micro-batch (``batch_size x
  max_length``, packs are full) in each layer, counted tensor by tensor in
  :func:`layer_elements`; with gradient checkpointing only each layer's input,
  plus the last layer recomputed during the backward pass (when the head is freed again);
* **head**: the logits at trained positions (``logits_to_keep``) in fp32, their log-softmax and
  its gradient (three vocabulary-wide tensors), or with the chunked loss three chunk-sized ones.

Measured against the allocations of a real step (:class:`TensorPeak`, a dispatch mode that
counts the bytes of every live tensor storage, on the CPU; ``torch.cuda.max_memory_allocated``
on a GPU) in ``tests/unit/models/test_memory.py`` and ``benchmarks/perf/gpu_check.py``.
"""

from __future__ import annotations

import json
import logging
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mentor.errors import ConfigError

log = logging.getLogger(__name__)

GIB = 2**30
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory depends on."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    tied: bool = True

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        return cls(
            hidden=hidden,
            layers=int(config["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            ffn=int(config["intermediate_size"]),
            vocab=int(config["vocab_size"]),
            tied=bool(config.get("tie_word_embeddings", True)),
        )

    @classmethod
    def from_dir(cls, model_dir: Path) -> ModelShape:
        return cls.from_config(json.loads((Path(model_dir) / "config.json").read_text()))

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer of one decoder layer."""
        h, q, kv, f = self.hidden, self.q_dim, self.kv_dim, self.ffn
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, f),
            "up_proj": (h, f),
            "down_proj": (f, h),
        }

    @property
    def params(self) -> int:
        per_layer = sum(i * o for i, o in self.linears().values())
        per_layer += 2 * self.hidden + 2 * self.head_dim  # layer norms, q/k norms
        embed = self.vocab * self.hidden * (1 if self.tied else 2)
        return embed + self.layers * per_layer + self.hidden


@dataclass(frozen=True)
class Settings:
    """What a training step's memory depends on besides the shape (from ``training.*``)."""

    micro_batch: int = 2
    max_length: int = 2048
    method: str = "lora"
    lora_r: int = 64
    lora_targets: tuple[str, ...] = LINEARS
    lora_dropout: float = 0.05
    dropout_shared: bool = True
    weight_bytes: int = 4  # the base weights' dtype
    act_bytes: int = 4  # activations: 2 under bf16 autocast
    checkpointing: bool = False
    loss_chunk: int = 0  # 0 = the model's own loss over all kept logits
    trained_share: float = 1.0  # share of positions with a trained label (1.0: an upper bound)

    @property
    def tokens(self) -> int:
        return self.micro_batch * self.max_length


@dataclass
class Prediction:
    """Predicted peak bytes by part; ``peak_bytes`` is their sum."""

    parts: dict[str, int] = field(default_factory=dict)

    @property
    def peak_bytes(self) -> int:
        return sum(self.parts.values())

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB


def layer_elements(shape: ModelShape, s: Settings) -> tuple[int, int]:
    """(fp32 elements, activation-dtype elements) autograd saves per token in one layer.

    Counted from the Qwen3 layer with frozen base weights (a frozen linear saves nothing):
    each RMSNorm keeps its input (fp32); q/k norms keep theirs; SDPA keeps q, k, v and its
    output; the MLP keeps gate, up and their product's input to SiLU. A LoRA adapter keeps its
    input (the dropout output, with a mask of the same size; shared by q/k/v and by gate/up when
    ``dropout_shared``; without dropout the norm output or layer input itself) and its rank-r
    intermediate. A full fine-tune keeps every linear's input instead.
    """
    h, q, kv, f = shape.hidden, shape.q_dim, shape.kv_dim, shape.ffn
    fp32 = 2 * h + q + kv  # input_layernorm, post_attention_layernorm, q_norm, k_norm inputs
    act = (q + 2 * kv) + q + 3 * f  # SDPA q, k, v, out; SiLU input, gate out, up out
    ins = {"qkv": h, "o_proj": q, "gate_up": h, "down_proj": f}  # what each group reads
    groups = {
        "qkv": ("q_proj", "k_proj", "v_proj"),
        "o_proj": ("o_proj",),
        "gate_up": ("gate_proj", "up_proj"),
        "down_proj": ("down_proj",),
    }
    if s.method == "full":
        return fp32, act + sum(ins.values())
    for group, names in groups.items():
        n = sum(1 for m in names if m in s.lora_targets)
        if not n:
            continue
        act += s.lora_r * n
        if s.lora_dropout > 0:  # the mask and the dropped input, per draw
            act += 2 * ins[group] * (1 if s.dropout_shared else n)
        else:  # the adapter keeps the input itself (an otherwise unsaved tensor)
            act += ins[group]
    return fp32, act


def predict(shape: ModelShape, s: Settings) -> Prediction:
    """Predicted peak memory of one training step (see the module docstring)."""
    p = Prediction()
    p.parts["weights"] = shape.params * s.weight_bytes
    if s.method == "full":
        trainable = shape.params
    else:
        per_layer = sum(
            s.lora_r * (i + o) for name, (i, o) in shape.linears().items() if name in s.lora_targets
        )
        trainable = shape.layers * per_layer
        p.parts["adapters"] = trainable * 4  # PEFT keeps adapters in fp32
    p.parts["gradients"] = trainable * 4
    p.parts["optimizer"] = trainable * 8  # AdamW: two fp32 moments
    fp32, act = layer_elements(shape, s)
    per_layer = fp32 * 4 + act * s.act_bytes
    tokens = s.tokens
    if s.checkpointing:  # each layer's input only
        saved = tokens * shape.layers * shape.hidden * s.act_bytes
    else:  # (the layer's input is the first norm's, counted in per_layer)
        saved = tokens * shape.layers * per_layer
    p.parts["activations"] = saved + tokens * shape.hidden * 4  # + the final norm's input
    kept = max(1, round(tokens * s.trained_share))
    if s.loss_chunk:  # chunk-sized logits, softmax and gradient; the gradient of the kept states
        p.parts["head"] = 3 * min(kept, s.loss_chunk) * shape.vocab * 4 + kept * shape.hidden * 4
    else:  # fp32 logits (+ the autocast copy), their log-softmax and its gradient
        extra = shape.vocab * s.act_bytes if s.act_bytes < 4 else 0
        p.parts["head"] = kept * (3 * shape.vocab * 4 + extra)
    if s.checkpointing:
        # the last layer recomputed with the gradients flowing through it (1.5x its saved
        # activations, measured on the tiny model); the head is freed by then: the larger counts
        layer = int(1.5 * tokens * per_layer)
        p.parts["recomputed_layer"] = max(0, layer - p.parts["head"])
    return p


def settings_for(cfg: Any, device: str, *, micro_batch: int | None = None) -> Settings:
    """The :class:`Settings` of ``cfg`` on ``device`` (``training.*``, bf16 resolved)."""
    t = cfg.training
    dtype = str(cfg.model.dtype)
    bf16 = t.bf16 == "on" or (t.bf16 == "auto" and device.startswith("cuda"))
    if dtype == "auto":
        weight_bytes = 2 if device.startswith("cuda") and t.method != "full" else 4
    else:
        weight_bytes = 2 if dtype in ("bfloat16", "float16") else 4
    chunk = t.chunked_loss == "on" or (t.chunked_loss == "auto" and device.startswith("cuda"))
    targets = LINEARS if t.lora_targets == "all-linear" else tuple(t.lora_targets)
    return Settings(
        micro_batch=micro_batch or t.batch_size,
        max_length=t.max_length,
        method="full" if t.method == "full" else "lora",
        lora_r=t.lora_r,
        lora_targets=targets,
        lora_dropout=t.lora_dropout,
        dropout_shared=t.lora_dropout_shared,
        weight_bytes=weight_bytes,
        act_bytes=2 if bf16 else 4,
        checkpointing=t.gradient_checkpointing,
        loss_chunk=t.loss_chunk_tokens if chunk else 0,
    )


def predict_for_config(cfg: Any, model_dir: Path, device: str) -> Prediction:
    """The predicted peak of training ``model_dir`` with ``cfg`` on ``device``."""
    return predict(ModelShape.from_dir(model_dir), settings_for(cfg, device))


def fit_micro_batch(cfg: Any, shape: ModelShape, device: str, free_bytes: int) -> tuple[int, int]:
    """(batch_size, grad_accum) whose predicted peak fits ``training.memory_headroom`` of
    ``free_bytes``: the largest divisor of ``training.batch_size`` that fits, with grad_accum
    raised so the effective batch stays. Raises :class:`ConfigError` naming what to lower when
    one sequence does not fit, or when the configured batch does not and
    ``training.micro_batch_auto`` is off."""
    t = cfg.training
    budget = int(free_bytes * t.memory_headroom)
    base = settings_for(cfg, device)
    for b in sorted((d for d in range(1, t.batch_size + 1) if t.batch_size % d == 0), reverse=True):
        need = predict(shape, replace(base, micro_batch=b)).peak_bytes
        if need <= budget:
            return b, t.grad_accum * (t.batch_size // b)
        if not t.micro_batch_auto:
            raise ConfigError(
                f"training.batch_size={t.batch_size} needs about {need / GIB:.1f} GiB "
                f"(predicted), {budget / GIB:.1f} GiB free for training",
                hint="lower training.batch_size (raise training.grad_accum) or turn on "
                "training.micro_batch_auto",
            )
    one = predict(shape, replace(base, micro_batch=1)).peak_gib
    raise ConfigError(
        f"one sequence of training.max_length={t.max_length} tokens needs about {one:.1f} GiB "
        f"(predicted), {budget / GIB:.1f} GiB free for training",
        hint="lower training.max_length, turn on training.gradient_checkpointing, or "
        "training.chunked_loss=on",
    )


def adapt_to_device(cfg: Any, model_dir: Path, device: str, free_bytes: int | None = None) -> Any:
    """``cfg`` with a micro-batch that fits the device's free memory (CUDA, or ``free_bytes``
    given); unchanged on the CPU, where memory is the host's and swapping beats crashing."""
    if cfg.training.method == "qlora":  # 4-bit weights: not what the prediction counts
        return cfg
    if free_bytes is None:
        if not device.startswith("cuda"):
            return cfg
        import torch

        free_bytes = int(torch.cuda.mem_get_info(torch.device(device))[0])
    batch, accum = fit_micro_batch(cfg, ModelShape.from_dir(model_dir), device, free_bytes)
    if (batch, accum) == (cfg.training.batch_size, cfg.training.grad_accum):
        return cfg
    log.warning(
        "training.batch_size %d does not fit %.1f GiB free (predicted): micro-batch %d x "
        "grad_accum %d, the same effective batch",
        cfg.training.batch_size,
        free_bytes / GIB,
        batch,
        accum,
    )
    out = cfg.model_copy(deep=True)
    out.training.batch_size, out.training.grad_accum = batch, accum
    return out


class TensorPeak:
    """The peak bytes of live tensor storages while it is entered: every operation's outputs
    are counted once per storage until the storage is freed (a ``TorchDispatchMode``).
    Tensors that existed before entering count for nothing: add them (:func:`storage_bytes`).
    Works on any device; on the CPU it is the figure the allocator statistics do not give."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
                out = func(*args, **(kwargs or {}))
                tracker._count(out)
                return out

        self._mode = _Mode()
        self.live: dict[int, int] = {}
        self.now = 0
        self.peak = 0

    def _free(self, key: int) -> None:
        self.now -= self.live.pop(key, 0)

    def _count(self, out: Any) -> None:
        import torch
        from torch.utils._pytree import tree_leaves

        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            st = t.untyped_storage()
            key = st._cdata
            if key in self.live:
                continue
            self.live[key] = st.nbytes()
            self.now += self.live[key]
            self.peak = max(self.peak, self.now)
            weakref.finalize(st, self._free, key)

    def __enter__(self) -> TensorPeak:
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._mode.__exit__(*exc)


def storage_bytes(tensors: Any) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[st._cdata] = st.nbytes()
    return sum(seen.values())
