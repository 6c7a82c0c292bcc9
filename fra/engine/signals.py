"""Each candidate's funding forecast, from its settled prints and the venue's prediction."""

from __future__ import annotations

from collections.abc import Iterable

from fra.app import App
from fra.core.forecast import Print, forecast, rate_8h, track
from fra.core.models import SnapshotRow
from fra.core.ranking import Signal


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


def signals(app: App, rows: Iterable[SnapshotRow]) -> dict[str, Signal]:
    """The Signal of every candidate among `rows`: the settled prints of the forecast's
    lookback, read from the venue, blended with the row's predicted rate."""
    s = app.settings.strategy
    params = s.forecast_params()
    now = app.now_ms()
    out: dict[str, Signal] = {}
    for row in candidates(app, rows):
        history = app.market.funding_history(row.perp_symbol, now - params.lookback_ms(), now)
        tracker = track(
            (Print(h.time_ms, h.rate, h.interval_hours) for h in history),
            params.half_life_hours,
            s.stop_funding_rate,
        )
        predicted = (
            rate_8h(row.funding_rate, row.interval_hours) if row.funding_rate is not None else None
        )
        out[row.perp_symbol] = Signal(
            forecast(tracker.mean, predicted, params), tracker.below_since_ms
        )
    return out
