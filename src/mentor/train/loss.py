"""Chunked cross-entropy: the language-model head and its loss a chunk of positions at a time.

The plain path computes ``hidden @ lm_head.T`` for every trained position at once, upcasts it to
fp32, and keeps it (and the softmax) for the backward pass: for Qwen3's 151,936-token vocabulary
that is about 1.2 MB per trained position in fp32, most of a small model's activation memory.
:class:`ChunkedLinearCrossEntropy` walks the positions ``chunk`` at a time and, in the forward
pass, computes each chunk's loss *and* its gradients (softmax minus one-hot), so nothing of the
size of the logits outlives its chunk and the backward pass only scales the stored gradients.
This is the fused linear cross-entropy of Liger kernels and cut-cross-entropy written with
PyTorch's own operations (neither installs on this CPU-only machine).

The loss is the same sum over the same targets divided by ``num_items_in_batch`` (the Trainer's
token count of the whole accumulated batch) as ``transformers``' ``ForCausalLMLoss``, so the
Trainer's gradient-accumulation scaling is unchanged (``training.chunked_loss``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mentor.data.tokenize import IGNORE_INDEX

# Inputs of the causal LM that belong to its head or its loss, not to the decoder.
HEAD_KEYS = ("labels", "shift_labels", "logits_to_keep", "num_items_in_batch")


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``hidden @ weight.T`` against ``targets``, ``chunk`` rows at a
    time; gradients are computed in the forward pass and scaled in the backward pass."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        chunk: int,
    ) -> torch.Tensor:
        want_w = weight.requires_grad
        acc = torch.promote_types(hidden.dtype, torch.float32)  # bf16/fp16 upcast, fp64 kept
        grad_h = torch.zeros_like(hidden)
        grad_w = (  # a frozen head (LoRA) needs none: no vocabulary-sized buffer
            torch.zeros(weight.shape, dtype=acc, device=weight.device) if want_w else None
        )
        total = torch.zeros((), dtype=acc, device=hidden.device)
        w = weight.to(hidden.dtype)
        for i in range(0, hidden.shape[0], chunk):
            h, t = hidden[i : i + chunk], targets[i : i + chunk]
            logits = (h @ w.T).to(acc)
            total += F.cross_entropy(logits, t, ignore_index=IGNORE_INDEX, reduction="sum")
            grad = torch.softmax(logits, dim=-1)  # d(sum CE)/d logits = softmax - one-hot
            valid = t != IGNORE_INDEX
            rows = valid.nonzero().squeeze(1)
            grad[rows, t[rows]] -= 1.0
            grad[~valid] = 0.0
            grad_h[i : i + chunk] = (grad.to(w.dtype) @ w).to(hidden.dtype)
            if grad_w is not None:
                grad_w += grad.T @ h.to(acc)
        ctx.save_for_backward(grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        grad_h, grad_w = ctx.saved_tensors
        gh = grad_h * grad_out.to(grad_h.dtype)
        gw = None if grad_w is None else grad_w * grad_out
        return gh, gw, None, None


def chunked_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    num_items_in_batch: Any = None,
    chunk: int = 1024,
) -> torch.Tensor:
    """``ForCausalLMLoss`` over already-shifted ``targets`` without the full logits: the sum
    over trained positions divided by ``num_items_in_batch``, else by their count (mean)."""
    hidden = hidden.reshape(-1, hidden.shape[-1])
    targets = targets.reshape(-1).to(hidden.device)
    total = ChunkedLinearCrossEntropy.apply(hidden, weight, targets, chunk)
    if num_items_in_batch is None:
        return total / (targets != IGNORE_INDEX).sum().clamp(min=1)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


def causal_lm(model: Any) -> Any:
    """The ``*ForCausalLM`` inside a PEFT wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def chunked_lm_loss(model: Any, inputs: dict[str, Any], chunk: int) -> torch.Tensor:
    """The causal LM's training loss with the chunked head: the decoder (with its LoRA layers)
    runs as usual, the head and the loss run on the kept positions chunk by chunk.

    ``inputs`` are what the Trainer would pass to the model: ``shift_labels`` (+
    ``logits_to_keep`` as positions) from flat packs, else ``labels`` shifted here.
    """
    lm = causal_lm(model)
    body = {k: v for k, v in inputs.items() if k not in HEAD_KEYS}
    hidden = lm.model(**body).last_hidden_state
    keep = inputs.get("logits_to_keep")
    targets = inputs.get("shift_labels")
    if targets is None:
        labels = inputs["labels"]
        targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
    if torch.is_tensor(keep):
        hidden = hidden[:, keep]
    elif isinstance(keep, int) and keep > 0:
        hidden = hidden[:, -keep:]
    return chunked_cross_entropy(
        hidden,
        lm.get_output_embeddings().weight,
        targets,
        num_items_in_batch=inputs.get("num_items_in_batch"),
        chunk=chunk,
    )
