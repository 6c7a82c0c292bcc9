"""The simulated market read at any instant, not just the clock's now.

The simulation is a pure function of (seed, shocks, time), so a second instance on a clock we
set ourselves (with the same extra markets) answers "what was the mark price at t?" exactly as
the live one did at t. The emulator needs that to open its 24h tickers and to find when,
between two requests, a position crossed its liquidation price.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from fra.core.models import FundingQuote, Ticker
from fra.emulator.listings import listed_market
from fra.venues.simulated import Shock, SimulatedMarket


class PastMarket:
    def __init__(self, seed: int, shocks: Sequence[Shock] = (), funding_noise: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._t = 0
        self._market = listed_market(
            SimulatedMarket(
                seed=seed, clock=lambda: self._t, shocks=shocks, funding_noise=funding_noise
            )
        )

    def funding_quote(self, symbol: str, at_ms: int) -> FundingQuote:
        with self._lock:
            self._t = at_ms
            return self._market.funding_quote(symbol)

    def tickers(self, at_ms: int) -> dict[str, Ticker]:
        with self._lock:
            self._t = at_ms
            return self._market.tickers()
