"""Negative log-likelihood per row over the trained tokens: validation loss and perplexity."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mentor.data.tokenize import IGNORE_INDEX


def row_nll(model: Any, batch: dict[str, torch.Tensor]) -> tuple[list[float], list[int]]:
    """Summed NLL and trained-token count of each row of a padded batch (``input_ids``,
    ``attention_mask``, ``labels`` as :class:`~mentor.data.packing.PaddedCollator` makes them);
    token t predicts label t+1, and labels of -100 count for nothing."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            use_cache=False,
        ).logits[:, :-1]
        targets = batch["labels"][:, 1:].to(device)
        nll = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="none",
        ).view(targets.shape)
        return nll.sum(dim=1).tolist(), (targets != IGNORE_INDEX).sum(dim=1).tolist()
