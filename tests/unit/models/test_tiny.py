"""The tiny model factory: deterministic, Qwen3-shaped, loads through the common loader."""

import hashlib
from pathlib import Path

import pytest
import torch

from mentor.errors import ModelError
from mentor.models.chat_template import EMPTY_THINK
from mentor.models.loader import check_adapter_dir, load_model, load_tokenizer
from mentor.models.tiny import build_tiny


def digests(d: Path) -> dict[str, str]:
    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(d.iterdir())
        if f.is_file()
    }


@pytest.mark.slow
def test_same_seed_same_files_other_seed_other_weights(tmp_path: Path, tiny_model_dir: Path):
    again = build_tiny(tmp_path / "again", size="xs", seed=0)
    assert digests(again) == digests(tiny_model_dir)
    other = build_tiny(tmp_path / "other", size="xs", seed=1)
    assert digests(other)["model.safetensors"] != digests(tiny_model_dir)["model.safetensors"]


def test_loads_as_qwen3_and_generates(tiny_model_dir: Path):
    model = load_model(tiny_model_dir, device="cpu")
    tok = load_tokenizer(tiny_model_dir)
    assert model.config.model_type == "qwen3"
    assert model.num_parameters() < 3_000_000
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert (
        out.shape[1] == ids["input_ids"].shape[1] + 5
        or tok.convert_tokens_to_ids("<|im_end|>") in out[0]
    )


def test_special_tokens_are_single_tokens(tiny_model_dir: Path):
    tok = load_tokenizer(tiny_model_dir)
    for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"):
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1, t
    text = "SYLLO Puzzle x\nSyllable bank (shuffled):\nac | cept — ___ ___"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_chat_template_matches_qwen3_behaviour(tiny_model_dir: Path):
    tok = load_tokenizer(tiny_model_dir)
    msgs = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "<think>\nold reasoning\n</think>\n\na1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    full = tok.apply_chat_template(msgs, tokenize=False)
    # Earlier assistant turns lose their think blocks; the last one carries an empty block.
    assert "old reasoning" not in full
    assert full.endswith(f"<|im_start|>assistant\n{EMPTY_THINK}a2<|im_end|>\n")
    off = tok.apply_chat_template(
        msgs[:3], tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    on = tok.apply_chat_template(
        msgs[:3], tokenize=False, add_generation_prompt=True, enable_thinking=True
    )
    assert off.endswith(f"<|im_start|>assistant\n{EMPTY_THINK}")
    assert on.endswith("<|im_start|>assistant\n")
    assert full.startswith(off)
    thinking = tok.apply_chat_template(
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "reasoning_content": "r"},
        ],
        tokenize=False,
    )
    assert thinking.endswith("<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n")


def test_loader_names_what_is_missing(tmp_path: Path, tiny_model_dir: Path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "absent")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(ModelError, match=r"missing weights.*tokenizer"):
        load_model(broken)
    with pytest.raises(ModelError, match=r"adapter_config\.json"):
        check_adapter_dir(broken)
