"""Cutting a real evaluation (tiny model, CPU): the interrupt reaches inside generation through
the real evals runner, and the daemon's evaluation child turns SIGTERM or a pause into an
``interrupted`` outcome within seconds.
"""

from __future__ import annotations

import json
import time

import pytest

from mentor import config as config_mod
from mentor.paths import Workspace

pytestmark = pytest.mark.slow

# long generations: an untrained model writes to the cap, so one batch takes a while on a CPU
OVR = ["eval.batch_size=8", "eval.max_new_tokens=512", "eval.full_when_idle=true"]


class Countdown:
    """An interrupt that fires on its ``n``-th call; records when."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.fired_at: float | None = None

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls >= self.n and self.fired_at is None:
            self.fired_at = time.monotonic()
        return self.calls >= self.n


def test_full_suite_is_cut_inside_a_batch(workspace: Workspace) -> None:
    from mentor.engine.base import GenerationInterrupted
    from mentor.evals.auto import full_suite

    cfg = config_mod.load(workspace.config_file, OVR)
    stop = Countdown(40)  # one poll before the first batch, then one per decode step
    with pytest.raises(GenerationInterrupted):
        full_suite(workspace, cfg, "base", interrupt=stop)
    assert stop.fired_at is not None
    assert stop.calls == 40  # the 40th poll cut it: no further step, no further batch
    late = time.monotonic() - stop.fired_at
    assert late < 5.0, f"{late:.1f}s from the cut to the exception"


def test_evaluation_child_is_cut_by_sigterm_and_by_a_pause(workspace: Workspace) -> None:
    """The real child process (``--mode evaluate-full``) with the real evaluation."""
    from mentor import control
    from mentor.daemon.launcher import Launcher

    launcher = Launcher(workspace, OVR)
    for how in ("sigterm", "pause"):
        log = workspace.logs / "evaluate-full.log"
        log.unlink(missing_ok=True)
        child = launcher.start("evaluate-full", version="base")
        deadline = time.monotonic() + 120
        while "generating;" not in (log.read_text() if log.exists() else ""):
            assert child.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(8.0)  # past the first batch's prefill (seconds on a loaded CPU): decoding
        t0 = time.time()
        if how == "sigterm":
            child.cut()
        else:
            control.request(workspace, "pause")
        rc = child.wait()
        exited = time.time() - t0
        out = child.outcome()
        assert rc == 0 and out is not None, log.read_text()
        assert out["status"] == "interrupted", json.dumps(out)
        assert out["cut_by"] == ("SIGTERM" if how == "sigterm" else "pause")
        cut = _logged_at(log, "evaluation cut") - t0  # the exception, before the exit
        assert cut < 5.0, f"{how}: generation ran on for {cut:.1f}s"
        assert exited < 30.0, f"{how}: the child took {exited:.1f}s to exit"
        control.clear(workspace)
        print(f"\n{how}: generation cut {cut:.2f}s, child exited {exited:.2f}s after the request")


def _logged_at(log, text: str) -> float:
    """Unix time of the child's log line holding ``text`` (``%(asctime)s`` prefix)."""
    line = next(x for x in log.read_text().splitlines() if text in x)
    stamp, ms = line[:23].split(",")
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000
