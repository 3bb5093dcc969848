"""A real headless Chromium (Playwright) loads every dashboard page while a tiny training runs.

Background activity: the real ``mentor.train.train_file`` trains the tiny model on a small file
in a thread (its own run folder, metrics.jsonl), and a second thread keeps appending realistic
metrics, status, previews and evolution snapshots to another run (training does not yet call
LivePreviewCallback), so every page has moving data. Checks: each page renders a plotly chart
(``.main-svg``) or its table, a value changes between two reads, and the console shows no error.
Screenshots are kept under the test's tmp_path.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mentor import config as config_mod
from mentor.paths import Workspace, atomic_write_json

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is absent (apt-get update && apt-get install -y chromium)",
    ),
]


def _helpers() -> Any:
    path = Path(__file__).with_name("test_dashboard_api.py")
    spec = importlib.util.spec_from_file_location("dash_api_helpers", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _writer(ws: Workspace, h: Any, stop: threading.Event) -> None:
    rd = ws.run_dir(h.RUN)
    step = 30
    while not stop.is_set():
        step += 1
        with open(rd / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(h.metric_record(step)) + "\n")
        status = json.loads(ws.status_file.read_text())
        status.update(current_step=step, loss=h.metric_record(step)["loss"], timestamp=time.time())
        atomic_write_json(ws.status_file, status)
        if step % 2 == 0:
            h.write_preview(rd, step, evolution=step % 10 == 0)
        stop.wait(0.5)


def _train(ws: Workspace, stop: threading.Event, result: dict[str, Any]) -> None:
    try:
        from mentor.train import train_file

        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"What is {a} plus {a + 1}?"},
                    {"role": "assistant", "content": f"{a} plus {a + 1} is {2 * a + 1}."},
                ]
            }
            for a in range(120)
        ]
        path = ws.inbox / "tiny.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        cfg = config_mod.load(
            ws.config_file,
            [
                "training.batch_size=2",
                "training.grad_accum=1",
                "training.logging_steps=1",
                "training.max_length=256",
                "training.save_steps=1000",
                "training.warmup_steps=2",
            ],
        )
        out = train_file(
            ws, cfg, path, control=lambda: "stop" if stop.is_set() else None, force=True
        )
        result["status"] = getattr(out, "status", "?")
    except Exception as err:  # reported, not fatal: the pages are the subject here
        result["error"] = repr(err)


def test_every_page_in_chromium(workspace: Workspace, tmp_path: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from mentor.serve.dashboard import create_dashboard_app

    h = _helpers()
    h.fill_workspace(workspace)
    cfg = config_mod.load(workspace.config_file)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_dashboard_app(workspace, cfg), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    stop = threading.Event()
    train_result: dict[str, Any] = {}
    threads = [
        threading.Thread(target=server.run, daemon=True),
        threading.Thread(target=_writer, args=(workspace, h, stop), daemon=True),
        threading.Thread(target=_train, args=(workspace, stop, train_result), daemon=True),
    ]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    assert server.started
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on(
                "console",
                lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
            page.on(  # a poll in flight when the test moves to the next page is aborted: fine
                "requestfailed",
                lambda r: (
                    None
                    if "ERR_ABORTED" in (r.failure or "")
                    else errors.append(f"request failed: {r.url} ({r.failure})")
                ),
            )
            page.on(
                "response",
                lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
            )

            def changes(selector: str, within: float = 15.0) -> tuple[str, str]:
                first = page.text_content(selector) or ""
                end = time.time() + within
                while time.time() < end:
                    page.wait_for_timeout(300)
                    now = page.text_content(selector) or ""
                    if now != first and now != "–":
                        return first, now
                return first, first

            for name, path in (
                ("overview", "/dashboard/"),
                ("live", "/dashboard/live"),
                ("evolution", "/dashboard/evolution"),
                ("curve", "/dashboard/curve"),
                ("compare", "/dashboard/compare"),
                ("evals", "/dashboard/evals"),
            ):
                page.goto(base + path)
                page.wait_for_selector(".main-svg", timeout=20_000)
                assert page.locator(".main-svg").count() >= 1, name
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                if name == "overview":
                    a, b = changes("#v-step")
                    assert a != b, f"overview step did not change ({a})"
                    page.wait_for_function(
                        "document.querySelector('#chart-loss .main-svg') !== null", timeout=10_000
                    )
                    page.screenshot(path=str(shots / "overview-2.png"), full_page=True)
                if name == "live":
                    a, b = changes("#v-pstep")
                    assert a != b, f"live preview step did not change ({a})"
                    assert page.locator("#probes tbody tr").count() == 3
                if name == "curve":
                    page.wait_for_selector("#curve-verdicts li", timeout=20_000)
                    assert page.locator("#chart-curve-loss .main-svg").count() >= 1
                if name == "compare":
                    page.wait_for_selector("#cmp-verdict li", timeout=20_000)
                    assert page.locator("#cmp-a option").count() >= 1
                if name == "evolution":
                    page.wait_for_function(
                        "document.querySelector('#evo-diff').childNodes.length > 0", timeout=10_000
                    )
                    assert page.locator("#evo-diff ins, #evo-diff del").count() >= 0
            for name, path, rows in (
                ("versions", "/dashboard/versions", "#versions tbody tr"),
                ("reports", "/dashboard/reports", "#reports tbody tr"),
            ):
                page.goto(base + path)
                page.wait_for_selector(rows, timeout=20_000)
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            page.goto(base + "/dashboard/reports/daily-2026-01-01.html")
            assert "report" in page.content()
            browser.close()
    finally:
        stop.set()
        server.should_exit = True
        threads[2].join(timeout=120)
    assert not errors, errors
    assert len(list(shots.glob("*.png"))) >= 9
    print("background training:", train_result or "still running at the end")
