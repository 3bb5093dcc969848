"""The memory predictor: shapes and settings in, peak bytes out; checked against a measured step
of the real tiny model; used to fit the micro-batch to free memory or refuse."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mentor.config import Config
from mentor.errors import ConfigError
from mentor.models.memory import (
    GIB,
    ModelShape,
    Settings,
    TensorPeak,
    adapt_to_device,
    fit_micro_batch,
    predict,
    storage_bytes,
)
from mentor.models.tiny import QWEN3_0_6B_SHAPE

QWEN = ModelShape.from_config(QWEN3_0_6B_SHAPE)
GPU = Settings(micro_batch=2, max_length=3072, weight_bytes=2, act_bytes=2)


def test_shape_counts_qwen3_0_6b_parameters() -> None:
    assert QWEN.params == 596_049_920  # Qwen3-0.6B's published count (tied embeddings)
    assert replace(QWEN, tied=False).params == QWEN.params + 151936 * 1024


def test_parts_follow_the_settings() -> None:
    full_logits, chunked = predict(QWEN, GPU), predict(QWEN, replace(GPU, loss_chunk=1024))
    # 6144 positions x 151,936 fp32 logits, log-softmax and gradient: 11.1 GiB; chunks: 1.8 GiB
    assert full_logits.parts["head"] == 6144 * 3 * 151936 * 4 + 6144 * 151936 * 2
    assert chunked.parts["head"] < full_logits.parts["head"] / 6
    ckpt = predict(QWEN, replace(GPU, checkpointing=True))
    assert ckpt.parts["activations"] < full_logits.parts["activations"] / 10
    # LoRA r=64 on all seven linears of 28 layers: 40.4M adapter weights, fp32, with AdamW
    assert full_logits.parts["adapters"] == 40_370_176 * 4
    assert full_logits.parts["optimizer"] == 2 * full_logits.parts["adapters"]
    assert predict(QWEN, replace(GPU, micro_batch=4)).parts["activations"] == pytest.approx(
        2 * full_logits.parts["activations"], rel=1e-3
    )
    # the default recipe at max_length 3072 (chunked loss on a GPU) fits the 20 GiB target
    assert chunked.peak_gib < 20


def _qwen_cfg(batch: int = 8, accum: int = 2) -> Config:
    cfg = Config()
    cfg.training.batch_size, cfg.training.grad_accum, cfg.training.max_length = batch, accum, 3072
    return cfg


def test_micro_batch_fits_free_memory_with_the_same_effective_batch() -> None:
    cfg = _qwen_cfg()
    batch, accum = fit_micro_batch(cfg, QWEN, "cuda", free_bytes=int(22.5 * GIB))  # a 4090
    assert batch * accum == 16 and batch < 8
    need = predict(QWEN, replace(GPU, micro_batch=batch, loss_chunk=1024)).peak_bytes
    more = predict(QWEN, replace(GPU, micro_batch=batch * 2, loss_chunk=1024)).peak_bytes
    assert need <= 0.9 * 22.5 * GIB < more  # the largest micro-batch that fits
    assert fit_micro_batch(cfg, QWEN, "cuda", free_bytes=139 * GIB) == (8, 2)  # an H200: as set


def test_refusals_name_the_key_to_lower() -> None:
    with pytest.raises(ConfigError, match=r"training\.max_length=3072") as err:
        fit_micro_batch(_qwen_cfg(), QWEN, "cuda", free_bytes=4 * GIB)
    assert "training.gradient_checkpointing" in str(err.value)
    cfg = _qwen_cfg()
    cfg.training.micro_batch_auto = False
    with pytest.raises(ConfigError, match=r"training\.batch_size=8"):
        fit_micro_batch(cfg, QWEN, "cuda", free_bytes=int(22.5 * GIB))


def test_adapting_is_a_no_op_on_the_cpu(tiny_model_dir: Path) -> None:
    cfg = Config()
    cfg.training.batch_size, cfg.training.max_length = 16, 4096
    assert adapt_to_device(cfg, tiny_model_dir, "cpu") is cfg
    small = adapt_to_device(cfg, tiny_model_dir, "cpu", free_bytes=600 * 2**20)  # given: adapts
    assert small.training.batch_size < 16 and cfg.training.batch_size == 16
    assert small.training.batch_size * small.training.grad_accum == 16 * cfg.training.grad_accum


def test_tensor_peak_counts_live_storages() -> None:
    with TensorPeak() as tp:
        a = torch.ones(1000, 250)  # 1 MB
        b = a * 2
        del a
        c = b[:10] + 1  # a view's storage is its base's: 10 KB new
    assert tp.peak == 2_000_000 and tp.now == 1_010_000
    assert storage_bytes([b, b[:5], c]) == 1_010_000


def test_prediction_within_15_percent_of_a_measured_tiny_step(tiny_model_dir: Path) -> None:
    """One LoRA step of the real tiny model as the Trainer runs it (mentor's model, packed
    sdpa, flat packs, the model's loss, backward, AdamW), its second step measured by
    :class:`TensorPeak` plus the weights and optimizer state that existed before."""
    from mentor.data.packing import PackedCollator, flatten_trained_positions
    from mentor.models.attention import register_packed_sdpa
    from mentor.models.memory import settings_for
    from mentor.paths import Workspace
    from mentor.train.model import build_model

    cfg = Config()
    cfg.model.path = str(tiny_model_dir)
    cfg.training.batch_size, cfg.training.max_length = 2, 512
    model = build_model(Workspace(tiny_model_dir.parent / "unused-ws"), cfg, False, "cpu")
    model.set_attn_implementation(register_packed_sdpa())
    model.train()
    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(2):  # full packs of 3-4 rows, the first third of each row a prompt
        segs = []
        for n in (150, 120, 200, 42):
            ids = torch.randint(10, 2000, (n,), generator=g).tolist()
            segs.append((ids, [-100] * (n // 3) + ids[n // 3 :]))
        items.append({"segments": segs, "rows": (0, 1, 2, 3), "start": 0, "end": 4})
    batch = PackedCollator(pad_id=0)(items)
    batch = {k: v for k, v in batch.items() if not k.startswith("mentor_")}
    n_items = int((batch["labels"][:, 1:] != -100).sum())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], fused=True)

    def step() -> None:
        flat = flatten_trained_positions(batch)
        model(**flat, use_cache=False, num_items_in_batch=n_items).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # the optimizer's state exists from the first step on
    before = storage_bytes([*model.parameters(), *model.buffers()])
    before += storage_bytes(t for s in opt.state.values() for t in s.values() if t.dim())
    with TensorPeak() as tp:
        step()
    measured = before + tp.peak
    shape = ModelShape.from_dir(tiny_model_dir)
    settings = replace(settings_for(cfg, "cpu"), trained_share=n_items / batch["labels"].numel())
    predicted = predict(shape, settings).peak_bytes
    assert predicted == pytest.approx(measured, rel=0.15), (predicted, measured)
