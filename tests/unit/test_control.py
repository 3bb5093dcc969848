"""control.on_sigterm: a scoped SIGTERM handler (training, tune and the demo use it)."""

from __future__ import annotations

import os
import signal

from mentor.control import on_sigterm


def test_sigterm_calls_the_handler_inside_the_block_and_the_old_one_is_back_after() -> None:
    got: list[int] = []
    before = signal.getsignal(signal.SIGTERM)
    with on_sigterm(lambda signum, frame: got.append(signum)):
        os.kill(os.getpid(), signal.SIGTERM)
    assert got == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before
