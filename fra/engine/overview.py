"""The account at a glance, read from the state file without writing to it or taking the cycle
lock: what the dashboard shows and what `/metrics` and `fra metrics` export.

The figures are `fra status`'s: positions valued at the latest snapshot (fra.core.valuation),
the realized totals kept on each final position, the margin ratios the latest cycle or
margin-check measured, the paper account's cash."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from fra.app import App, check_binding, sim_clock, wall_ms
from fra.core.models import Snapshot
from fra.core.positions import HELD_STATES, Pnl, Position
from fra.core.risk import MarginLevel, margin_level
from fra.core.valuation import valued_pnl
from fra.settings import Settings
from fra.store.db import CycleRow
from fra.store.readonly import open_read_only
from fra.store.timeline import realized_parts

if TYPE_CHECKING:
    from fra.venues.base import MarketData


class Held(NamedTuple):
    position: Position
    pnl: Pnl
    margin_ratio: Decimal | None
    level: MarginLevel | None


class Overview(NamedTuple):
    mode: str
    venue: str  # as fra status labels it: "SIMULATED", "binance paper", ...
    simulated: bool
    now_ms: int
    halt_reason: str | None
    halted_ms: int | None
    last_cycle: CycleRow | None
    snapshot: Snapshot | None
    held: list[Held]
    exposure: Decimal
    unrealized: Decimal
    funding: Decimal  # received by every position, held and final
    fees: Decimal  # paid by every position, held and final
    closed: int
    realized: Decimal
    paper_cash: Decimal | None  # None in live mode: the cash is on the exchange
    margin_alert: Decimal
    margin_critical: Decimal

    @property
    def worst_margin_ratio(self) -> Decimal | None:
        return max((h.margin_ratio for h in self.held if h.margin_ratio is not None), default=None)

    @property
    def net(self) -> Decimal:
        return self.realized + self.unrealized


class ReadOnlyApp(App):
    """An App that only reads the state file: it never builds a venue, so nothing is asked of
    an exchange."""

    @cached_property
    def clock(self) -> Callable[[], int]:
        if not self.settings.simulated:
            return wall_ms
        # A reader shows the file as of its latest moment at least: a simulated clock pinned
        # earlier (reproducing a case) would otherwise show the last cycle in the future.
        clock, latest = sim_clock(self.settings, self.store.created_ms), self.store.latest_ms()
        return lambda: max(clock(), latest or 0)

    @property
    def market(self) -> MarketData:
        raise RuntimeError("a read-only view builds no venue")


@contextmanager
def read_only_app(settings: Settings) -> Iterator[App]:
    """The state file opened read-only; its own venue and mode win over unset settings."""
    store = open_read_only(settings.db_path)
    try:
        yield ReadOnlyApp(check_binding(store, settings), store)
    finally:
        store.close()


def overview(app: App) -> Overview:
    from fra.store.paper import PaperAccount

    store, s = app.store, app.settings
    snapshot = store.latest_snapshot()
    ratios = store.last_margin_ratios()
    held = []
    for p in store.positions(HELD_STATES):
        ratio = ratios.get(p.id)
        level = (
            None
            if ratio is None
            else margin_level(ratio, s.risk.margin_alert, s.risk.margin_critical)
        )
        held.append(Held(p, valued_pnl(p, snapshot), ratio, level))
    closed, realized = store.realized_totals()
    parts = realized_parts(store)
    halted = store.meta("halted_ms")
    return Overview(
        mode=s.mode,
        venue=app.venue_label,
        simulated=s.simulated,
        now_ms=app.now_ms(),
        halt_reason=store.halt_reason(),
        halted_ms=int(halted) if halted and halted.isdigit() else None,
        last_cycle=store.last_cycle(),
        snapshot=snapshot,
        held=held,
        exposure=sum((h.position.notional for h in held), Decimal(0)),
        unrealized=sum((h.pnl.net for h in held), Decimal(0)),
        funding=parts.funding + sum((h.pnl.funding for h in held), Decimal(0)),
        fees=parts.fees + sum((h.pnl.fees for h in held), Decimal(0)),
        closed=closed,
        realized=realized,
        paper_cash=None
        if s.mode == "live"
        else PaperAccount(store, s.paper.starting_balance).balance("USDT"),
        margin_alert=s.risk.margin_alert,
        margin_critical=s.risk.margin_critical,
    )
