"""Signals during a step: finish or unwind the step in flight, then stop."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from fra.errors import Interrupted


class StopFlag:
    """Records SIGINT/SIGTERM instead of dying mid-order; the engine checks it between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int, frame: FrameType | None = None) -> None:
        if self.signum is not None:
            # A second signal means "now": reconcile in the next cycle finishes what is left.
            raise Interrupted(
                "stopped at once by a second signal", "run `fra run-cycle` to reconcile"
            )
        self.signum = signum

    def check(self) -> None:
        if self.signum is not None:
            name = signal.Signals(self.signum).name
            raise Interrupted(f"stopped by {name} after finishing the step in flight")


@contextmanager
def deferred_signals(flag: StopFlag) -> Iterator[StopFlag]:
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, flag.request)
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
