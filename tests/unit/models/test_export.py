"""``mentor export`` (issue 13 item 14): the adapter alone, or a merged model that transformers
loads on its own and that answers greedily exactly as the adapter on its base does."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from mentor.cli import app
from mentor.errors import ConfigError
from mentor.store import connect


def _version(workspace, tiny_model_dir: Path, tmp_path: Path) -> str:
    """v001: a LoRA adapter on the tiny model whose B matrices are not zero (so it changes the
    output), made a version the way the daemon makes one, with metrics in the versions table."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from mentor.daemon import versions
    from mentor.store import versions as version_rows

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    lora = LoraConfig(r=4, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    adapter = tmp_path / "lineage"
    get_peft_model(base, lora).save_pretrained(str(adapter))
    conn = connect(workspace.db)
    v = versions.create(
        workspace, conn, description="export test", lineage_dir=adapter, steps=12, lineage_id=1
    )
    version_rows.set_metrics(conn, v.name, {"quick.solved": 0.25, "heldout.exact": 0.5})
    conn.close()
    return v.short


def _greedy(model, tok, prompts: list[str]) -> list[list[int]]:
    outs = []
    for p in prompts:
        ids = tok(p, return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=12, do_sample=False)
        outs.append(gen[0, ids["input_ids"].shape[1] :].tolist())
    return outs


def test_merged_export_generates_as_the_adapter_does(workspace, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mentor.models.loader import load_model

    short = _version(workspace, tiny_model_dir, tmp_path)
    home = ["--home", str(workspace.home)]
    merged_dir, adapter_dir = tmp_path / "merged", tmp_path / "adapter"
    res = CliRunner().invoke(
        app, [*home, "export", short, "--out", str(merged_dir), "--merged", "--json"]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["merged"] and info["metrics"]["quick.solved"] == 0.25
    files = set(info["files"])
    assert {"config.json", "generation_config.json", "tokenizer.json", "README.md"} <= files
    assert any(f.endswith(".safetensors") for f in files) and "adapter_config.json" not in files
    readme = (merged_dir / "README.md").read_text()
    assert str(tiny_model_dir) in readme and "quick.solved | 0.2500" in readme

    prompts = ["Hello there", "1 2 3 4", "The puzzle is"]
    tok = AutoTokenizer.from_pretrained(str(merged_dir))  # the exported tokenizer
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()  # plain transformers
    with_adapter = load_model(
        tiny_model_dir,
        adapter=workspace.version_dir(short) / "adapter",
        dtype="float32",
        device="cpu",
    )
    base_alone = load_model(tiny_model_dir, dtype="float32", device="cpu")
    expected = _greedy(with_adapter, tok, prompts)
    assert _greedy(merged, tok, prompts) == expected
    assert _greedy(base_alone, tok, prompts) != expected  # the adapter does change the output

    # the adapter alone: PEFT files, tokenizer, README; a second export into it is refused
    res = CliRunner().invoke(app, [*home, "export", short, "--out", str(adapter_dir)])
    assert res.exit_code == 0, res.output
    names = {p.name for p in adapter_dir.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "README.md",
    } <= names
    assert "config.json" not in names
    again = CliRunner().invoke(app, [*home, "export", short, "--out", str(adapter_dir)])
    assert isinstance(again.exception, ConfigError) and "not empty" in str(again.exception)
