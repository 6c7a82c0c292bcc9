"""The one place that builds the store and the venue from settings.

Everything below (engine, venues) receives them as arguments; commands call `open_app`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from fra.engine.interrupts import StopFlag
from fra.errors import BadInput, Refused
from fra.settings import Settings
from fra.store.db import Store

if TYPE_CHECKING:
    from fra.venues.base import Executor, MarketData


def wall_ms() -> int:
    return int(time.time() * 1000)


def sim_clock(settings: Settings, anchor_ms: int) -> Callable[[], int]:
    """The simulated market's clock: pinned, real time, or real time sped up from `anchor_ms`."""
    if settings.sim.now is not None:
        pinned = int(settings.sim.now.timestamp() * 1000)
        return lambda: pinned
    speed = settings.sim.speedup
    if speed == 1:
        return wall_ms
    return lambda: anchor_ms + int((wall_ms() - anchor_ms) * speed)


@dataclass
class App:
    settings: Settings
    store: Store
    stop: StopFlag = field(default_factory=StopFlag)

    @cached_property
    def clock(self) -> Callable[[], int]:
        return sim_clock(self.settings, self.store.created_ms)

    @cached_property
    def market(self) -> MarketData:
        # Imported here so commands that only read state never pay for building a venue.
        from fra.venues.simulated import SimulatedMarket, parse_shock

        shocks = [parse_shock(text) for text in self.settings.sim.shocks]
        return SimulatedMarket(seed=self.settings.sim.seed, clock=self.clock, shocks=shocks)

    @cached_property
    def executor(self) -> Executor:
        from fra.venues.paper import PaperExecutor

        return PaperExecutor(
            self.market,
            self.store,
            starting_balance=self.settings.paper.starting_balance,
            leverage=self.settings.risk.leverage,
            fill_delay_ms=self.settings.paper.fill_delay_ms,
        )

    def now_ms(self) -> int:
        """Time as the venue sees it; without building the venue for read-only commands."""
        return self.clock()

    @property
    def venue_label(self) -> str:
        return "SIMULATED" if self.settings.venue == "simulated" else self.settings.venue


@contextmanager
def open_app(settings: Settings) -> Iterator[App]:
    existed = settings.db.exists()
    store = Store.open(settings.db)
    try:
        yield App(settings, store)
    except (BadInput, Refused):
        if not existed and store.is_empty():
            # Bad input leaves no trace, not even a state file it would have created.
            store.close()
            store.delete_files()
        raise
    finally:
        store.close()
