"""The generation engine on the tiny model (fp32, CPU): batching, stops, streaming, adapters."""

from __future__ import annotations

import pytest

from mentor.config import Config
from mentor.engine import BASE_ADAPTER, GenRequest, build_engine
from mentor.errors import ConfigError

PROMPTS = [
    "hello",
    "SYLLO Puzzle x\nWord slots:\n1. ___ ___ — a thing",
    "the model learns words from clues and tiles syllable bank answer " * 3,
    "a",
    "tiles | bank | answer | clue",
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    cfg = Config()
    cfg.model.dtype = "float32"
    return build_engine(tiny_model_dir, cfg=cfg, device="cpu")


def _reqs(engine, n=12, **kw):
    return [GenRequest(engine.renderer.prompt(p), max_new_tokens=n, **kw) for p in PROMPTS]


@pytest.mark.slow
def test_batched_equals_one_at_a_time(engine):
    reqs = _reqs(engine)
    batched = engine.generate(reqs, batch_size=8)
    single = [engine.generate([r], batch_size=1)[0] for r in reqs]
    assert [b.text for b in batched] == [s.text for s in single]
    assert [b.new_tokens for b in batched] == [s.new_tokens for s in single]
    # and equals the plain recipe: one model.generate call per prompt, greedy
    import torch

    for r, b in zip(reqs, batched, strict=True):
        ids = engine.tokenizer(r.prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = engine.model.generate(**ids, max_new_tokens=r.max_new_tokens, do_sample=False)
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        stops = set(engine.stop_ids)
        cut = next((i for i, t in enumerate(new) if t in stops), len(new))
        assert engine.tokenizer.decode(new[:cut], skip_special_tokens=True) == b.text


def test_results_in_request_order_and_per_request_caps(engine):
    reqs = [
        GenRequest(engine.renderer.prompt(p), max_new_tokens=3 + 2 * i)
        for i, p in enumerate(PROMPTS)
    ]
    res = engine.generate(reqs, batch_size=32)
    for r, g in zip(reqs, res, strict=True):
        assert g.new_tokens <= r.max_new_tokens
        if g.finish_reason == "length":
            assert g.new_tokens == r.max_new_tokens
        assert g.prompt_tokens == len(
            engine.tokenizer(r.prompt, add_special_tokens=False)["input_ids"]
        )
    seen = []
    engine.generate(reqs, batch_size=2, progress=seen.append)
    assert sum(seen) == len(reqs)


def test_continuous_batching_gives_the_static_batches_results(engine):
    """transformers' continuous batching (eval.continuous_batching): same greedy text, caps,
    counts and order as static batches; progress per finished request; stop strings keep the
    static path."""
    reqs = [
        GenRequest(engine.renderer.prompt(p), max_new_tokens=3 + 4 * i)
        for i, p in enumerate(PROMPTS)
    ]
    want = engine.generate(reqs, batch_size=2)
    engine.continuous = True
    try:
        seen: list[int] = []
        got = engine.generate(reqs, batch_size=2, progress=seen.append)
        stop = want[2].text[2:4]
        with_stop = GenRequest(reqs[2].prompt, max_new_tokens=11, stop=[stop])
        stopped = engine.generate([with_stop])
        mixed = engine.generate([with_stop, *reqs], batch_size=2)  # two groups, request order
    finally:
        engine.continuous = False
    assert got == want
    assert seen == [1] * len(reqs)
    assert stopped[0].text == want[2].text[: want[2].text.find(stop)]
    assert mixed == stopped + want
    assert engine.generate(reqs, batch_size=2) == want  # the model is left as it was


def test_stop_strings_are_trimmed(engine):
    req = _reqs(engine, n=24)[2]
    full = engine.generate([req])[0].text
    assert len(full) > 4
    stop = full[3:5]
    res = engine.generate([GenRequest(req.prompt, max_new_tokens=24, stop=[stop])])[0]
    assert res.text == full[: full.find(stop)]
    assert stop not in res.text
    assert res.finish_reason == "stop"
    assert (
        "".join(engine.stream(GenRequest(req.prompt, max_new_tokens=24, stop=[stop]))) == res.text
    )


def test_stream_yields_the_same_text_as_generate(engine):
    for r in _reqs(engine, n=16):
        deltas = list(engine.stream(r))
        assert "".join(deltas) == engine.generate([r])[0].text


def test_sampling_is_seeded(engine):
    reqs = _reqs(engine, n=10, temperature=1.0, top_p=0.9)
    a = [r.text for r in engine.generate(reqs)]
    b = [r.text for r in engine.generate(reqs)]
    assert a == b


def test_adapters_grouped_per_request(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from mentor.data.chat import ChatRenderer
    from mentor.engine.hf import HFEngine
    from mentor.models.loader import load_tokenizer

    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        pm = get_peft_model(
            base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        )
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.data.normal_(0, 0.5)
        pm.save_pretrained(tmp_path / f"a{seed}")
        paths.append(tmp_path / f"a{seed}")
    cfg = Config()
    cfg.model.dtype = "float32"
    eng = build_engine(tiny_model_dir, adapter=paths[0], cfg=cfg, device="cpu")
    eng.model.load_adapter(str(paths[1]), adapter_name="second")
    p = eng.renderer.prompt(PROMPTS[2])
    mixed = eng.generate(
        [
            GenRequest(p, max_new_tokens=12, adapter="second"),
            GenRequest(p, max_new_tokens=12),
            GenRequest(p, max_new_tokens=12, adapter=BASE_ADAPTER),
        ]
    )
    alone_second = eng.generate([GenRequest(p, max_new_tokens=12, adapter="second")])[0]
    alone_default = eng.generate([GenRequest(p, max_new_tokens=12, adapter="default")])[0]
    tok = load_tokenizer(tiny_model_dir)
    plain = HFEngine(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval(),
        tok,
        ChatRenderer.from_config(tok, cfg.chat),
    )
    base_text = plain.generate([GenRequest(p, max_new_tokens=12)])[0].text
    assert mixed[0].text == alone_second.text
    assert mixed[1].text == alone_default.text
    assert mixed[2].text == base_text
    assert len({mixed[0].text, mixed[1].text, mixed[2].text}) > 1
    # scoring without generating (perplexity) switches adapters the same way
    from mentor.data.packing import PaddedCollator
    from mentor.models.nll import row_nll

    ids = tok(p + "tiles", add_special_tokens=False)["input_ids"]
    batch = PaddedCollator(0)([{"segments": [(ids, ids)], "rows": (0,), "start": 0, "end": 0}])
    (base_sum,), (n,) = eng.nll(batch, adapter=BASE_ADAPTER)
    (plain_sum,), _ = row_nll(plain.model, batch)
    assert base_sum == pytest.approx(plain_sum, rel=1e-5) and n == len(ids) - 1
    (own,), _ = eng.nll(batch)
    assert own == pytest.approx(eng.nll(batch, adapter="default")[0][0], rel=1e-6)
    (second,), _ = eng.nll(batch, adapter="second")
    assert len({round(base_sum, 3), round(own, 3), round(second, 3)}) == 3
    with pytest.raises(ConfigError):
        eng.generate([GenRequest(p, adapter="missing")])


def test_vllm_backend_explains_itself(tiny_model_dir):
    pytest.importorskip("torch")
    try:
        import torch
        import vllm  # noqa: F401

        if torch.cuda.is_available():
            pytest.skip("vllm and CUDA present")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="vllm"):
        build_engine(tiny_model_dir, cfg=Config(), backend="vllm")
    with pytest.raises(ConfigError, match="unknown"):
        build_engine(tiny_model_dir, cfg=Config(), backend="nope")
