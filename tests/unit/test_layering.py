"""Imports point one way (DESIGN.md): serve and cli are leaves; the core never imports them."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mentor"

# Layer of each top-level module or package; a module may import only its own layer or lower.
LAYERS = {
    "errors": 0,
    "paths": 0,
    "config": 0,
    "config_reference": 0,
    "config_patch": 0,
    "store": 0,
    "control": 0,
    "workspace": 2,
    "data": 1,
    "tasks": 1,
    "models": 2,
    "engine": 2,
    "train": 3,
    "evals": 3,
    "daemon": 4,
    "analysis": 4,
    "tune": 4,
    "demo": 4,  # mentor demo: starts the daemon and the dashboard, runs the analyses
    "monitor": 1,  # system figures and the status snapshot: training writes them
    "serve": 5,
    "cli": 6,
}
LEAF_ONLY = {"fastapi", "uvicorn", "starlette", "typer", "click"}
LEAF_ALLOWED = {"serve", "cli"}


def top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "mentor" else ""


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_every_module_has_a_layer():
    for p in SRC.iterdir():
        name = p.stem if p.suffix == ".py" else p.name
        if name.startswith("_") or p.name == "__pycache__":
            continue
        assert name in LAYERS, f"{p.name}: add it to LAYERS in this test"


def test_imports_point_one_way():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        own = rel.parts[0].removesuffix(".py")
        if own.startswith("__"):
            continue
        for name in imports(path):
            other = top(name)
            if other and other in LAYERS and LAYERS[other] > LAYERS[own]:
                bad.append(f"{rel}: imports mentor.{other}")
            if name.split(".")[0] in LEAF_ONLY and own not in LEAF_ALLOWED:
                bad.append(f"{rel}: imports {name} (only serve/cli may)")
    assert not bad, "\n".join(bad)


def test_daemon_and_server_never_call_each_other():
    for pkg, forbidden in (("daemon", "serve"), ("serve", "daemon")):
        for path in (SRC / pkg).rglob("*.py"):
            for name in imports(path):
                assert top(name) != forbidden, f"{path.relative_to(SRC)} imports mentor.{forbidden}"
