"""The one place that builds the store and the venue from settings.

Everything below (engine, venues) receives them as arguments; commands call `open_app`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from fra.engine.interrupts import StopFlag
from fra.errors import BadInput, Refused, from_venue
from fra.settings import SIM_LATEST_MS, Settings
from fra.store.db import Store
from fra.venues.base import VenueError

if TYPE_CHECKING:
    from fra.venues.base import Executor, MarketData
    from fra.venues.exchange import Caller


def exchange_caller(s: Settings, retries: int) -> Caller:
    """The ccxt client of the configured exchange, behind fra's retrying error boundary."""
    from fra.venues.exchange import Caller, build_exchange

    exchange = build_exchange(
        s.venue,
        api_key=s.api_key.get_secret_value() if s.api_key else None,
        api_secret=s.api_secret.get_secret_value() if s.api_secret else None,
        url=s.venue_url,
        timeout_seconds=s.venue_timeout_seconds,
    )
    return Caller(exchange, retries=retries)


def wall_ms() -> int:
    return int(time.time() * 1000)


def sim_clock(settings: Settings, anchor_ms: int) -> Callable[[], int]:
    """The simulated market's clock: pinned, real time, or real time sped up from `anchor_ms`
    (the state file's creation). Pinned and sped up, it starts at the pinned time at
    `anchor_ms`: a demo then shows the same market whatever the time of day it is run."""
    speed = settings.sim.speedup
    if settings.sim.now is not None:
        pinned = int(settings.sim.now.timestamp() * 1000)
        if speed == 1:
            return lambda: pinned
        return lambda: pinned + int((wall_ms() - anchor_ms) * speed)
    if speed == 1:
        return wall_ms
    return lambda: anchor_ms + int((wall_ms() - anchor_ms) * speed)


def _check_sim_clock(now_ms: int, latest_ms: int | None, settings: Settings) -> None:
    """A sped-up clock that ran past 2100 is refused (the market is not defined there); one
    behind what the state file holds is allowed (reproducing a case) but said: positions would
    close before they opened and funding would settle out of order."""
    if now_ms >= SIM_LATEST_MS:
        since = "FRA_SIM__NOW" if settings.sim.now is not None else "the state file's creation"
        raise BadInput(
            f"the simulated clock has run past 2100 (FRA_SIM__SPEEDUP={settings.sim.speedup:g}"
            f" from {since}, counted since the state file was created)",
            "unset FRA_SIM__SPEEDUP to read this file at FRA_SIM__NOW, or start a new state file"
            " (--db or FRA_DB)"
            if settings.sim.now is not None
            else "lower FRA_SIM__SPEEDUP and start a new state file (--db or FRA_DB)",
        )
    if latest_ms is not None and now_ms < latest_ms:
        logging.getLogger("fra").warning(
            "the simulated clock (%s) is earlier than the latest time the state file holds (%s):"
            " positions may close before they opened; set FRA_SIM__NOW later or use another"
            " state file",
            _utc(now_ms),
            _utc(latest_ms),
        )


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class App:
    settings: Settings
    store: Store
    stop: StopFlag = field(default_factory=StopFlag)
    _ready: bool | None = field(default=None, init=False)  # checked for opening, or closing

    @cached_property
    def clock(self) -> Callable[[], int]:
        if not self.settings.simulated:
            return wall_ms
        clock = sim_clock(self.settings, self.store.created_ms)
        now = clock()
        _check_sim_clock(now, self.store.latest_ms(), self.settings)
        if self.settings.sim.speedup != 1:
            # Sped up, a millisecond is seconds of market: the clock stands still for the
            # command (each of `fra loop`'s cycles), as a pinned one does, so that orders fill
            # at the prices the cycle decided on.
            return lambda: now
        return clock

    @cached_property
    def market(self) -> MarketData:
        # Imported here so commands that only read state never pay for building a venue.
        s = self.settings
        if s.simulated:
            from fra.venues.simulated import SimulatedMarket, parse_shock

            shocks = [parse_shock(text) for text in s.sim.shocks]
            return SimulatedMarket(
                seed=s.sim.seed,
                clock=self.clock,
                shocks=shocks,
                funding_noise=s.sim.funding_noise,
            )

        from fra.venues.ccxt_market import CcxtMarket

        try:
            return CcxtMarket(
                self.caller,
                self.store,
                cache_key=s.venue + (f"@{s.venue_url}" if s.venue_url else ""),
                markets_ttl_ms=s.markets_ttl_minutes * 60_000,
            )
        except VenueError as exc:
            raise BadInput(
                str(exc), "choose an exchange with perpetual swaps (FRA_VENUE)"
            ) from None

    @cached_property
    def caller(self) -> Caller:
        return exchange_caller(self.settings, self.settings.venue_retries)

    @cached_property
    def executor(self) -> Executor:
        if self.settings.mode == "live":
            from fra.venues.binance_live import BinanceLive
            from fra.venues.ccxt_market import CcxtMarket

            market = self.market
            assert isinstance(market, CcxtMarket)
            return BinanceLive(
                self.caller,
                market,
                leverage=self.settings.risk.leverage,
                margin_mode=self.settings.live.margin_mode,
            )
        from fra.venues.paper import PaperExecutor

        return PaperExecutor(
            self.market,
            self.store,
            starting_balance=self.settings.paper.starting_balance,
            leverage=self.settings.risk.leverage,
            fill_delay_ms=self.settings.paper.fill_delay_ms,
        )

    def ready(self, *, opening: bool) -> None:
        """Build the venue and, in live mode, check the account before anything is written:
        a wrong key or a key that can withdraw stops the command with the state file untouched.

        Commands that only reduce risk (close, emergency-stop) pass opening=False: a key with
        withdrawal rights is then a warning, so positions can still be closed."""
        if self._ready is True or (self._ready is False and not opening):
            return
        self.market.markets()
        if self.settings.mode != "live":
            return
        from fra.engine.preflight import check_live_account

        check_live_account(self, opening=opening)
        self._ready = opening

    def now_ms(self) -> int:
        """Time as the venue sees it; without building the venue for read-only commands."""
        if "market" in self.__dict__ and not self.settings.simulated:
            return self.market.now_ms()  # the exchange's clock, measured once per process
        return self.clock()

    @property
    def venue_label(self) -> str:
        s = self.settings
        if s.simulated:
            return "SIMULATED"
        return f"{s.venue} {s.mode}" + (f" via {s.venue_url}" if s.venue_url else "")


@contextmanager
def open_app(settings: Settings, *, create: bool = True) -> Iterator[App]:
    """The store and venue for one command. Commands that only report (create=False) never
    create a state file: a mistyped --db must not look like an empty account."""
    path = settings.db_path
    existed = path.exists()
    if not create:
        require_state_file(settings)
    store = Store.open(path, init=settings.init_state)
    try:
        settings = check_binding(store, settings)
        mark = store.intents_mark()
        try:
            yield App(settings, store)
        except VenueError as exc:
            nothing_done = store.intents_mark() == mark
            raise from_venue(exc, settings.venue, nothing_done) from None
        if store.meta("venue") is None and not store.is_empty():
            with store.tx():
                store.set_meta("venue", settings.venue)
                store.set_meta("mode", settings.mode)
    except (BadInput, Refused):
        if not existed and store.is_empty():
            # Bad input leaves no trace, not even a state file it would have created.
            store.close()
            store.delete_files()
        raise
    finally:
        store.close()


def require_state_file(settings: Settings) -> None:
    """For commands that only report: a mistyped --db must not look like an empty account."""
    path = settings.db_path
    if not path.exists() and path.parent.is_dir():
        raise BadInput(
            f"there is no state file at {path}",
            "check --db/FRA_DB and the directory you run fra in; `fra run-cycle` starts one",
        )


def check_binding(store: Store, settings: Settings) -> Settings:
    """A state file holds one venue's and one mode's positions and balances: never mix them.

    A venue left at its default follows the file (`fra status` on a simulated state file shows
    it as such); one set explicitly must match."""
    venue, mode = store.meta("venue"), store.meta("mode")
    if venue is not None and venue != settings.venue and "venue" not in settings.model_fields_set:
        settings = settings.model_copy(update={"venue": venue})
    if venue is None or (venue, mode) == (settings.venue, settings.mode):
        return settings
    raise BadInput(
        f"{store.path} holds {mode} trading on {venue}, not {settings.mode} on {settings.venue}",
        f"use another state file for {settings.venue} {settings.mode} (--db or FRA_DB), "
        f"or FRA_VENUE={venue} FRA_MODE={mode}",
    )
