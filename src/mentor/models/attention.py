"""``mentor_packed_sdpa``: SDPA that attends within each packed example and computes nothing across.

With plain ``sdpa``, a pack of several examples gets a block-diagonal 4-D mask and every query
still meets all keys of the pack: a 1024-token pack of two 500-token rows computes twice the
attention it needs, and the masked path cannot use the fused CPU kernel. This backend takes the
example boundaries from ``cu_seq_lens_q`` (the packed collator passes them, the same keyword the
flash-attention backends read) or, failing that, from ``position_ids`` restarting at 0, and runs:

* on a CUDA device in half precision, where PyTorch has it: ``torch.nn.attention.varlen``'s
  ``varlen_attn`` (flash-attention varlen kernels) over the flattened pack;
* elsewhere: one causal SDPA call per example (4-D slices, so the fused kernel is used).

Everything that is not a pack (generation with a cache, left-padded batches, a 2-D mask) takes
the ordinary ``sdpa`` path with the ordinary ``sdpa`` mask, so one loaded model serves training
and its live previews.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

PACKED_SDPA = "mentor_packed_sdpa"


def register_packed_sdpa() -> str:
    """Register the backend with transformers (idempotent) and return its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
    AttentionMaskInterface.register(PACKED_SDPA, _packed_sdpa_mask)
    return PACKED_SDPA


def _packed_sdpa_mask(
    *,
    q_length: int,
    kv_length: int,
    kv_offset: int = 0,
    attention_mask: torch.Tensor | None = None,
    config: Any = None,
    **kwargs: Any,
) -> torch.Tensor | None:
    """No mask for a whole-sequence forward without padding (a pack, or one sequence): the
    attention below separates examples itself. Anything else gets the ``sdpa`` mask."""
    from transformers.masking_utils import sdpa_mask

    sliding = (
        config is not None
        and getattr(config, "sliding_window", None)
        and any(t != "full_attention" for t in getattr(config, "layer_types", None) or ())
    )
    if attention_mask is None and kv_offset == 0 and q_length == kv_length and not sliding:
        return None
    return sdpa_mask(
        q_length=q_length,
        kv_length=kv_length,
        kv_offset=kv_offset,
        attention_mask=attention_mask,
        config=config,
        **kwargs,
    )


def packed_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """``query`` (B, H, S, D), ``key``/``value`` (B, Hkv, S, D) -> output (B, S, H, D)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    b, _, s, _ = query.shape
    whole = attention_mask is None and key.shape[2] == s and s > 1
    cu = kwargs.get("cu_seq_lens_q") if whole else None
    if whole and cu is None:
        cu = _boundaries(kwargs.get("position_ids"), b, s)
    if cu is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    half = query.dtype in (torch.float16, torch.bfloat16)
    if query.is_cuda and half and not dropout:
        max_len = int(kwargs.get("max_length_q") or s)
        out = _try_varlen(query, key, value, cu, max_len, scaling)
        if out is not None:
            return out, None
    return _per_example_attention(query, key, value, cu, scaling, dropout), None


_VARLEN_FAILED: list[BaseException] = []  # the varlen kernel failed once in this process


def _try_varlen(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu: torch.Tensor,
    max_len: int,
    scaling: float | None,
) -> torch.Tensor | None:
    """The varlen kernel's output, or None where this PyTorch, build or GPU lacks it (said once,
    then the per-example path for the rest of the process). Out of memory is raised: training
    halves the micro-batch on it."""
    if _varlen() is None or _VARLEN_FAILED:
        return None
    try:
        return _varlen_attention(query, key, value, cu, max_len, scaling)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, TypeError) as err:
        _VARLEN_FAILED.append(err)
        log.warning("varlen attention unavailable (%s); attending per example instead", err)
        return None


def _boundaries(position_ids: torch.Tensor | None, b: int, s: int) -> torch.Tensor | None:
    """Cumulative example starts over the flattened (B*S) tokens: a new example wherever the
    position does not go up by exactly one, and at each row start."""
    if position_ids is None:
        return None
    pos = position_ids.expand(b, s)
    starts = torch.ones_like(pos, dtype=torch.bool)
    starts[:, 1:] = pos[:, 1:] != pos[:, :-1] + 1
    flat = starts.reshape(-1).nonzero().squeeze(1)
    return torch.cat([flat, flat.new_tensor([b * s])]).to(torch.int32)


def _per_example_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu: torch.Tensor,
    scaling: float | None,
    dropout: float = 0.0,
) -> torch.Tensor:
    b, h, s, _ = query.shape
    gqa = key.shape[1] != h
    spans = list(itertools.pairwise(cu.tolist()))
    rows = []
    for i in range(b):
        lo, hi = i * s, (i + 1) * s
        # split, not one slice per example: a slice's backward writes a zero-filled copy of the
        # whole row per example, split's is one concatenation (a packed step ~10% faster on CPU)
        lens = [y - x for x, y in spans if lo <= x < hi]
        q, k, v = (t[i : i + 1] if b > 1 else t for t in (query, key, value))
        parts = [
            F.scaled_dot_product_attention(
                qq, kk, vv, dropout_p=dropout, is_causal=True, scale=scaling, enable_gqa=gqa
            )
            for qq, kk, vv in zip(q.split(lens, 2), k.split(lens, 2), v.split(lens, 2), strict=True)
        ]
        rows.append(torch.cat(parts, dim=2) if len(parts) > 1 else parts[0])
    out = torch.cat(rows, dim=0) if b > 1 else rows[0]
    return out.transpose(1, 2).contiguous()


def _varlen_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu: torch.Tensor,
    max_len: int,
    scaling: float | None,
) -> torch.Tensor:
    fn, causal_kw, has_gqa = _varlen()  # type: ignore[misc]
    b, h, s, d = query.shape
    q = query.transpose(1, 2).reshape(b * s, h, d)
    k = key.transpose(1, 2).reshape(b * s, -1, d)
    v = value.transpose(1, 2).reshape(b * s, -1, d)
    extra: dict[str, Any] = dict(causal_kw)
    if k.shape[1] != h:
        if has_gqa:
            extra["enable_gqa"] = True
        else:
            k = k.repeat_interleave(h // k.shape[1], dim=1)
            v = v.repeat_interleave(h // v.shape[1], dim=1)
    cu = cu.to(device=q.device, dtype=torch.int32)
    out = fn(q, k, v, cu, cu, max_len, max_len, scale=scaling, **extra)
    return out.reshape(b, s, h, d)


@cache
def _varlen() -> tuple[Any, dict[str, Any], bool] | None:
    """PyTorch's varlen flash attention and how this version spells "causal", or None."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    params = inspect.signature(varlen_attn).parameters
    if "window_size" in params:
        causal: dict[str, Any] = {"window_size": (-1, 0)}
    elif "is_causal" in params:
        causal = {"is_causal": True}
    else:
        return None
    return varlen_attn, causal, "enable_gqa" in params
