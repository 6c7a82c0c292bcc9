"""The emulated exchange's clock: wall time plus an offset, or frozen at an instant.

Tests freeze it (or shift it) and move it by hand, so a funding settlement eight hours away is
one `advance` call away; everything time-dependent in the emulator (the simulated market, the
server time it reports, the recvWindow check of signed requests) reads this one clock.
"""

from __future__ import annotations

import threading
import time


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class EmulatorClock:
    """Milliseconds since the epoch, UTC. Thread-safe."""

    def __init__(self, *, frozen_at_ms: int | None = None, offset_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._frozen_at = frozen_at_ms
        self._offset = offset_ms

    @classmethod
    def frozen(cls, at_ms: int) -> EmulatorClock:
        """Stands still until moved. Signed requests age in wall time though: a client keeps
        passing the recvWindow only while it re-syncs (ccxt: `load_time_difference`)."""
        return cls(frozen_at_ms=at_ms)

    @classmethod
    def running_from(cls, at_ms: int) -> EmulatorClock:
        """Runs at wall-clock speed from `at_ms` on."""
        return cls(offset_ms=at_ms - _wall_ms())

    def now_ms(self) -> int:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return _wall_ms() + self._offset

    def advance(self, ms: int) -> int:
        """Move the clock forward (or back, for negative `ms`); returns the new time."""
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += ms
                return self._frozen_at
            self._offset += ms
            return _wall_ms() + self._offset

    def set(self, ms: int) -> None:
        """Jump to `ms`; a running clock keeps running from there."""
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = ms
            else:
                self._offset = ms - _wall_ms()
