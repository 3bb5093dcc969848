"""Model names and the adapter pool: resolution inside the workspace, eviction, swapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor import config as config_mod
from mentor.engine import BASE_ADAPTER, GenRequest
from mentor.engine.pool import ModelPool, Resolved, Resolver
from mentor.errors import ConfigError, NotFoundError
from mentor.store import connect, kv
from mentor.store.kv import Key


def fake_adapter(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text("{}")
    (d / "adapter_model.safetensors").write_bytes(b"x")
    return d


def make_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(str(out))
    return out


def resolver(ws) -> Resolver:
    return Resolver(ws, config_mod.load(ws.config_file))


def set_kv(ws, value: str) -> None:
    """Promote as the daemon does: kv ``serving_version`` in state.db."""
    conn = connect(ws.db)
    try:
        kv.put(conn, Key.SERVING_VERSION, value)
    finally:
        conn.close()


def test_names_resolve_inside_the_workspace(workspace):
    fake_adapter(workspace.versions / "v001_20260101_a" / "adapter")
    fake_adapter(workspace.versions / "v002_20260102_b" / "adapter")
    r = resolver(workspace)
    assert r.resolve("base") == Resolved("base", r.base)
    assert r.resolve("serving").name == "base"  # nothing promoted yet
    v1 = r.resolve("v001")
    assert v1.name == "v001" and v1.key == "v001_20260101_a"  # canonical id; folder is the key
    assert v1.adapter == workspace.versions / "v001_20260101_a" / "adapter"
    assert r.resolve("v002_20260102_b").key == "v002_20260102_b"
    set_kv(workspace, "v002_20260102_b")
    r.serving.ttl = 0
    assert r.resolve("serving").name == "v002"
    assert r.resolve(None).name == "v002"
    assert r.resolve("v002_20260102_b") == r.resolve("v002")  # the folder name is an alias
    assert r.versions() == ["v001_20260101_a", "v002_20260102_b"]


def test_full_model_version_and_current(workspace, tiny_model_dir):
    model = workspace.versions / "v003_x" / "model"
    model.parent.mkdir(parents=True)
    model.symlink_to(tiny_model_dir, target_is_directory=True)
    r = resolver(workspace)
    v3 = r.resolve("v003")
    assert v3.base == model and v3.adapter is None and v3.key == BASE_ADAPTER
    with pytest.raises(NotFoundError):
        r.resolve("current")
    (workspace.current / "adapter_config.json").write_text("{}")
    (workspace.current / "adapter_model.safetensors").write_bytes(b"x")
    cur = r.resolve("current")
    assert cur.key.startswith("current@") and cur.adapter == workspace.current


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "~/model", ".hidden", "v001/../../x", "a\\b", "x" * 300]
)
def test_a_request_never_names_a_file(workspace, name):
    with pytest.raises(ConfigError):
        resolver(workspace).resolve(name)


def test_unknown_and_ambiguous_versions(workspace):
    r = resolver(workspace)
    with pytest.raises(NotFoundError):
        r.resolve("v009")
    fake_adapter(workspace.versions / "v001_a" / "adapter")
    fake_adapter(workspace.versions / "v001_b" / "adapter")
    with pytest.raises(NotFoundError, match="ambiguous"):
        r.resolve("v001")


def test_cli_may_pass_a_path(workspace, tiny_model_dir):
    r = resolver(workspace)
    res = r.resolve(str(tiny_model_dir), allow_paths=True)
    assert res.base == tiny_model_dir.resolve() and res.adapter is None


@pytest.fixture()
def pool_of_one(workspace, tiny_model_dir) -> tuple[Resolver, ModelPool]:
    """Two versions with different adapters, and a pool that holds one adapter."""
    for i, name in enumerate(("v001_a", "v002_b"), start=1):
        make_adapter(tiny_model_dir, workspace.versions / name / "adapter", seed=i)
    cfg = config_mod.load(workspace.config_file)
    cfg.serve.adapter_pool = 1
    r = Resolver(workspace, cfg)
    return r, ModelPool(cfg, r.base)


def test_pool_evicts_only_idle_adapters(pool_of_one):
    """A pool of 1: an adapter with a request in flight is never evicted; idle ones are (LRU)."""
    r, pool = pool_of_one
    v1, v2 = r.resolve("v001"), r.resolve("v002")
    pool.prepare(v1)
    pool.acquire(v1)  # a request on v001 is in flight
    pool.prepare(v2)
    assert sorted(pool.loaded()) == ["v001", "v002"]  # over capacity rather than evicting
    pool.release(v1)
    pool.prepare(v1)  # v001 is used again: now the idle v002 goes
    assert pool.loaded() == ["v001"]
    engine = pool.engines[r.base]
    assert set(engine.model.peft_config) == {"v001_a"}


def test_pool_of_one_swaps_adapters(pool_of_one):
    r, pool = pool_of_one

    def req() -> GenRequest:
        return GenRequest(
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", max_new_tokens=6
        )

    def ask(name: str) -> str:
        return pool.generate([(r.resolve(name), req())])[0].text

    a1, a2 = ask("v001"), ask("v002")
    assert pool.loaded() == ["v002"]
    base = ask("base")
    assert ask("v001") == a1 and ask("v002") == a2 and base != a1

    # one call for a batch that names both adapters and the base: each row on its own weights,
    # though the pool holds one adapter (it goes over capacity for the batch, then shrinks)
    mixed = pool.generate([(r.resolve(n), req()) for n in ("v001", "base", "v002")])
    assert [m.text for m in mixed] == [a1, base, a2]
    assert sorted(pool.loaded()) == ["v001", "v002"]
    ask("v002")
    assert pool.loaded() == ["v002"]
    with pytest.raises(ValueError, match="one base model"):
        pool.generate([])
