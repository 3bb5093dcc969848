"""LoRA dropout drawn once per input and shared by the adapters that read that input.

PEFT gives every LoRA module its own dropout, so q, k and v (and gate and up) each draw a fresh
mask over the same hidden states. On a CPU the random draw is the expensive part: a dropout over
a 2048 x 128 input costs about five 128 x 128 matmuls, and the draws were about 20% of a training
step of the tiny model. Sharing one draw per input keeps the rate and the scaling of every
adapter's dropout; what changes is that the adapters reading the same tensor see the same mask,
as if the dropout were applied once to the layer's normalised input. ``training.lora_dropout_shared``
turns it off.

On a CPU the mask also comes from fewer random numbers: PyTorch draws one 32-bit number per
element, while :func:`cpu_dropout` cuts each 64-bit draw into four 16-bit lanes (the rate is
rounded to a multiple of 1/65536). On a GPU ``F.dropout`` is already cheap and is used as is.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class SharedInputDropout(torch.nn.Module):
    """Dropout that returns the same sample when called again on the same, unchanged tensor."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self._last: tuple[torch.Tensor, int, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        last = self._last
        if last is not None and last[0] is x and last[1] == x._version:
            return last[2]
        out = F.dropout(x, self.p, training=True) if x.is_cuda else cpu_dropout(x, self.p)
        self._last = (x, x._version, out)
        return out

    def train(self, mode: bool = True) -> SharedInputDropout:
        self._last = None  # let go of the last activation
        return super().train(mode)

    def extra_repr(self) -> str:
        return f"p={self.p}, shared"


def cpu_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of ``x`` with four 16-bit random lanes per 64-bit draw (the default
    generator, so ``torch.manual_seed`` makes it reproducible)."""
    n = x.numel()
    draws = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64)
    lanes = draws.view(torch.int16)[:n].view(x.shape)
    keep = lanes >= -(2**15) + round(p * 2**16)  # P(drop) = round(p * 65536) / 65536
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


def share_lora_dropout(model: Any) -> int:
    """Give every LoRA module of ``model`` one shared dropout per rate; returns how many
    modules now share. Modules without dropout (``Identity``) are left alone."""
    shared: dict[float, SharedInputDropout] = {}
    n = 0
    for module in model.modules():
        drops = getattr(module, "lora_dropout", None)
        if not isinstance(drops, torch.nn.ModuleDict):
            continue
        for name, drop in list(drops.items()):
            if not isinstance(drop, torch.nn.Dropout) or drop.p == 0.0:
                continue
            drops[name] = shared.setdefault(drop.p, SharedInputDropout(drop.p))
            n += 1
    return n
