"""The tiny model factory: a Qwen3-architecture causal LM built from a config, with a byte-level
BPE tokenizer trained here. Tests and the demo use it; nothing is downloaded.

The tokenizer carries the SYLLO format's fixed spans (``tasks/syllo/scaffold.py``: the text
between two variable fields, e.g. the three rule lines with their newlines, or ``": 1, "``) as
added (non-special) tokens, and its BPE model is trained on what is left between them: the text
and its decoding are unchanged, but a puzzle gets much shorter, so a tiny model sees more puzzles
per second (``spec/demo-notes.md``, ``docs/demo.md``). Same seed, same files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mentor.models.chat_template import CHATML_QWEN3_STYLE, EMPTY_THINK
from mentor.tasks.syllo import demo

log = logging.getLogger(__name__)

Size = Literal["xs", "s", "m", "demo"]


@dataclass(frozen=True)
class TinySize:
    """A tiny model's shape and the SYLLO text its tokenizer is trained on."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    corpus_tier: str = "mixed"  # tiers of the tokenizer's corpus (generate's ``tier``)
    corpus_pool: int | None = None  # words of the corpus (generate's ``vocab_size``)


SIZES: dict[str, TinySize] = {
    "xs": TinySize(128, 4, 4, 2, 384, 2048),
    "s": TinySize(256, 6, 8, 4, 768, 4096),
    "m": TinySize(512, 8, 8, 4, 1536, 8192),
    # The demo's model: narrower and shallower than xs (0.55M parameters, 1.5x the steps per
    # second, so more puzzles in the same minutes), its tokenizer trained on the demo's word
    # pool, so each clue word, tile and answer is one token (docs/demo.md).
    "demo": TinySize(96, 3, 4, 2, 288, 2048, corpus_tier=demo.TIER, corpus_pool=demo.WORDS),
}

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]
# The chat template's fixed text around a turn (role headers, the empty think block that opens
# every answer and ends every generation prompt) as whole tokens, like the format's spans.
CHAT_SPANS = ["user\n", "assistant\n", EMPTY_THINK]
CORPUS_PUZZLES = 800


def _corpus(seed: int, tier: str, pool: int | None) -> tuple[list[str], list[str]]:
    """Training text for the tokenizer and the fixed strings to add as whole tokens."""
    from mentor.tasks.syllo.scaffold import corpus, scaffold_strings, variable_text

    texts = corpus(CORPUS_PUZZLES, seed, tier=tier, vocab_size=pool)
    # Chat framing as the template renders it, so role headers merge too.
    texts += [f"<|im_start|>user\n{t}<|im_end|>\n<|im_start|>assistant\n" for t in texts[:50]]
    # Only the text between fixed spans: those become whole tokens, merges go to the rest.
    return [p for t in texts for p in variable_text(t)], scaffold_strings()


def train_tokenizer(
    vocab_size: int, seed: int, *, tier: str = "mixed", pool: int | None = None
):  # -> PreTrainedTokenizerFast
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts, scaffold = _corpus(seed, tier, pool)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    extra = [s for s in dict.fromkeys([*THINK_TOKENS, *CHAT_SPANS, *scaffold]) if s]
    tok.add_tokens([AddedToken(s, normalized=False, special=False) for s in extra])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=32768,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHATML_QWEN3_STYLE
    return fast


# Qwen3-0.6B's shape (from its config.json), for GPU benchmarks with random weights.
QWEN3_0_6B_SHAPE: dict[str, Any] = {
    "vocab_size": 151936,
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": True,
}


def random_qwen3_0_6b(tokenizer: Any, *, seed: int = 0, device: str = "cpu") -> Any:
    """A Qwen3-0.6B-shaped model with random bf16 weights and ``tokenizer``'s special ids."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    cfg = Qwen3Config(**QWEN3_0_6B_SHAPE, eos_token_id=im_end, pad_token_id=eot, bos_token_id=eot)
    torch.manual_seed(seed)
    model: Any
    with torch.device(device):
        model = Qwen3ForCausalLM(cfg)
    model = model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=[im_end, eot], pad_token_id=eot, do_sample=False
    )
    return model


def build_tiny(out: Path, *, size: Size = "xs", seed: int = 0) -> Path:
    """Write a tiny Qwen3 model + tokenizer to ``out`` in the Hugging Face layout."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    spec = SIZES[size]
    hidden, layers, heads, kv_heads, ffn = (
        spec.hidden,
        spec.layers,
        spec.heads,
        spec.kv_heads,
        spec.ffn,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(spec.vocab, seed, tier=spec.corpus_tier, pool=spec.corpus_pool)
    tokenizer.save_pretrained(out)

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    cfg = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=eot,
        eos_token_id=im_end,
        pad_token_id=eot,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        eos_token_id=[im_end, eot], pad_token_id=eot, bos_token_id=eot, do_sample=False
    )
    model.save_pretrained(out, safe_serialization=True)
    (out / "mentor_tiny.json").write_text(
        json.dumps({"size": size, "seed": seed, "parameters": model.num_parameters()}, indent=2)
        + "\n"
    )
    log.info("tiny model %s (%d parameters) at %s", size, model.num_parameters(), out)
    return out
