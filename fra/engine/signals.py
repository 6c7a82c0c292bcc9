"""Each candidate's funding forecast, from the settled prints kept in state.db and the venue's
prediction.

Each call first brings state.db's prints up to date, with as few requests as the venue allows:

1. every perpetual's settlements since the last call, in one bulk call (`recent_settlements`:
   one request on Binance in the steady state);
2. per symbol (`funding_history`), the candidates whose stored history does not cover the
   forecast's lookback: seen for the first time (a new listing too), or, on a venue without a
   bulk call, settled since they were last read. At most MAX_HISTORY_REQUESTS requests per
   call, held pairs first, then the best-paying; the others follow in the next calls and
   have no forecast meanwhile, which ranks them `short_history` (never opened, kept if held);
3. prints older than the lookback are dropped.

Then it decides on what state.db holds, with the replay's own arithmetic (`track_stored`, the
Tracker's operations on the prints as stored, or the Tracker a cycle kept for the very same
prints) and `forecast()`.
Each step's writes are one transaction, so a venue error keeps what earlier steps stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fra.app import App
from fra.core.forecast import forecast, rate_8h
from fra.core.models import HOUR_MS, SnapshotRow
from fra.core.ranking import Signal
from fra.store.prints import FundingPrints, Span
from fra.venues.base import VenueError

log = logging.getLogger("fra.signals")

# Per-symbol history requests per call, counted as Binance pages them (1000 prints a page:
# the forecast's lookback of a 1h symbol is many pages). Binance counts funding history (with
# fundingInfo) against 500 requests per 5 minutes per IP, and `fra history fetch` leaves 50 of
# them to the cycles on the same IP (fra.engine.fetch.FUNDING_LIMITS): a cycle's scan, bulk
# call and paper funding, and these, stay within that. Symbols beyond it wait for the next
# cycles, held ones first.
MAX_HISTORY_REQUESTS = 40
HISTORY_PAGE = 1000
# A venue may list a settlement in its history a little after its time: what was read is
# trusted only up to this long before the read, and the rest is read again next time.
PUBLISH_GRACE_MS = 2 * 60_000
PRUNE_MARGIN_MS = 24 * HOUR_MS  # prints kept beyond the lookback, for a lookback set longer


def candidates(app: App, rows: Iterable[SnapshotRow]) -> list[SnapshotRow]:
    """The rows worth a forecast: held pairs, and pairs that pass the filters that need no
    forecast (a spot market to hedge with, a rate, the volume, the symbols list)."""
    s = app.settings.strategy
    held = app.store.held_symbols()
    listed = set(s.symbols)
    return [
        r
        for r in rows
        if r.perp_symbol in held
        or (
            r.spot_symbol is not None
            and r.funding_rate is not None
            and r.quote_volume_24h >= s.min_volume_usd
            and (not listed or r.perp_symbol in listed)
        )
    ]


def signals(
    app: App,
    rows: Iterable[SnapshotRow],
    *,
    strict: bool = True,
    errors: list[VenueError] | None = None,
    update: bool = True,
    keep: bool = False,
) -> dict[str, Signal]:
    """The Signal of every candidate among `rows` whose settled prints over the forecast's
    lookback are all in state.db (brought up to date first), blended with the row's predicted
    rate. Candidates without a complete history are left out: no forecast.

    A venue error while updating the prints keeps what was stored before it; `strict` (the
    trading commands) lets it through (exit 5, the next cycle carries on), otherwise (`fra
    rank`, a read; the cycle's exits) it is logged, added to `errors` when given, and the
    forecasts come from what state.db holds. Without `update` (a read-only state file: the
    dashboard) nothing is asked of the venue: the forecasts are what state.db holds. `keep`
    (the cycles) stores the trackers computed, for the commands that follow (`FundingPrints.
    trackers`)."""
    s = app.settings.strategy
    params = s.forecast_params()
    wanted = candidates(app, rows)
    book = FundingPrints(app.store)
    now: int | None = None
    try:
        # The venue's clock, which stamps the prints; a mere reader asks no venue.
        now = app.market.now_ms() if update else app.now_ms()
        start = now - params.lookback_ms()
        if update:
            update_prints(app, book, wanted, start, now)
    except VenueError as exc:
        if strict:
            raise
        if errors is not None:
            errors.append(exc)
        log.warning("funding history not brought up to date (%s): forecasts on what is stored", exc)
        if now is None:
            now = app.clock()
        start = now - params.lookback_ms()
    spans = book.spans()
    trackers = book.trackers(
        [r.perp_symbol for r in wanted],
        start,
        now,
        params.half_life_hours,
        s.stop_funding_rate,
        keep=keep,
    )
    out: dict[str, Signal] = {}
    for row in wanted:
        span = spans.get(row.perp_symbol)
        if span is None or span.since_ms > start:
            continue  # not read back over the lookback yet
        tracker = trackers[row.perp_symbol]
        predicted = (
            rate_8h(row.funding_rate, row.interval_hours) if row.funding_rate is not None else None
        )
        out[row.perp_symbol] = Signal(
            forecast(tracker.mean, predicted, params), tracker.below_since_ms
        )
    return out


def update_prints(
    app: App, book: FundingPrints, wanted: list[SnapshotRow], start: int, now: int
) -> None:
    """Bring the stored prints of `wanted` up to date over (start, now] (see the module doc).

    Bulk reads continue from `synced_ms`; a symbol's span plus the bulk reads since cover it.
    Only perpetuals with a span (or wanted now) are stored: the bulk answer holds every
    perpetual of the venue, most of which fra never trades."""
    market = app.market
    spans = book.spans()
    synced = book.synced_ms()
    trusted = now - PUBLISH_GRACE_MS
    bulk = None
    if synced is not None:
        bulk = market.recent_settlements(max(synced, start))
        if bulk is not None:
            # Read again under the write lock: a `fra rank` may run beside a cycle. Nothing
            # is written when nothing is new: a refused `fra open` leaves the file as it was.
            with app.store.tx():
                keep = set(book.spans()) | {r.perp_symbol for r in wanted}
                book.add(s for s in bulk if s.symbol in keep)
                if trusted > (book.synced_ms() or 0):
                    book.set_synced(trusted)
    newest = book.newest() if bulk is None else {}
    due: list[tuple[SnapshotRow, int]] = []  # (row, read after); after == start: all of it
    for row in _by_priority(app, wanted):
        span = spans.get(row.perp_symbol)
        if span is None or span.since_ms > start:
            due.append((row, start))
        elif bulk is None:
            known = max(span.until_ms, newest.get(row.perp_symbol, 0), synced or 0)
            if _last_settlement(row, now) > known:
                due.append((row, known))
    budget = MAX_HISTORY_REQUESTS
    for i, (row, after) in enumerate(due):
        symbol = row.perp_symbol
        pages = 1 + (now - after) // (max(row.interval_hours, 1) * HOUR_MS * HISTORY_PAGE)
        if i and pages > budget:
            # In priority order, so that an expensive one is not passed over for ever.
            log.info("%d symbols' funding history left for the next cycle", len(due) - i)
            break
        budget -= pages
        try:
            got = market.funding_history(symbol, after, now)
        except KeyError:
            log.info("%s: no longer listed, no funding history read", symbol)
            continue
        with app.store.tx():
            book.add(got)
            old = book.span(symbol)
            span = old
            if after == start:
                span = Span(start, max(trusted, old.until_ms) if old else trusted)
            elif old is not None:
                span = Span(old.since_ms, max(trusted, old.until_ms))
            if span != old and span is not None:
                book.set_span(symbol, span)
            # Bulk reads go on from no later than where this read is trusted, so that they
            # continue every span.
            current = book.synced_ms()
            if current is None or current > trusted:
                book.set_synced(trusted)
    with app.store.tx():
        book.prune(start - PRUNE_MARGIN_MS)


def _by_priority(app: App, rows: list[SnapshotRow]) -> list[SnapshotRow]:
    """Held pairs first (their exits depend on it), then the best-paying."""
    held = app.store.held_symbols()

    def key(r: SnapshotRow) -> tuple[bool, object]:
        rate = rate_8h(r.funding_rate, r.interval_hours) if r.funding_rate is not None else None
        return (r.perp_symbol not in held, -rate if rate is not None else float("inf"))

    return sorted(rows, key=key)


def _last_settlement(row: SnapshotRow, now: int) -> int:
    """When the row's perpetual last settled, from its next settlement (a stored snapshot's
    row may be some settlements old)."""
    step = max(row.interval_hours, 1) * HOUR_MS
    last = row.next_funding_ms - step
    return last + (now - last) // step * step
