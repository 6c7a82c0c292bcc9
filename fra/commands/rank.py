"""fra rank"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from fra.commands.common import (
    JsonOption,
    age,
    guarded,
    iso,
    money,
    pct,
    print_json,
    settings,
    ts,
)
from fra.commands.output import WideOption, emit, styled, table

if TYPE_CHECKING:
    from fra.core.ranking import Advice


# Older than this, and cycles (every few minutes under cron) have not been scanning.
STALE_MS = 30 * 60_000


def rank(
    ctx: typer.Context,
    refresh: bool = typer.Option(False, "--refresh", help="Scan the venue first."),
    top: int = typer.Option(0, "--top", min=0, help="Show only the first N rows (0 = all)."),
    as_json: bool = JsonOption,
    wide: bool = WideOption,
) -> None:
    """Rank the latest snapshot by forecast net yield after fees and spreads, with what the
    strategy would do with each pair now and why."""

    def body() -> None:
        from fra.app import open_app
        from fra.engine.decisions import ranking_with_advice
        from fra.engine.market import latest_snapshot

        s = settings(ctx)
        with open_app(s) as app:
            snap = latest_snapshot(app, refresh)
            ranked, advice, _ = ranking_with_advice(app, snap)
            label = app.venue_label
            age_ms = max(app.now_ms() - snap.taken_ms, 0)
        if age_ms > STALE_MS:
            # Rates and books move by the minute: an old ranking is a picture of then, not now.
            print(
                f"warning: the snapshot is {age(snap.taken_ms, snap.taken_ms + age_ms)} old"
                f" (taken {ts(snap.taken_ms)} UTC); `fra rank --refresh` scans first",
                file=sys.stderr,
            )
        rows = ranked[:top] if top else ranked
        horizon = s.strategy.min_holding_periods
        if as_json:
            from fra.core import precision

            print_json(
                {
                    "venue": label,
                    "snapshot_id": snap.id,
                    "taken_at": iso(snap.taken_ms),
                    "snapshot_age_seconds": age_ms // 1000,
                    "holding_periods_8h": horizon,
                    "forecast_half_life_hours": s.strategy.forecast_half_life_hours,
                    "predicted_weight": s.strategy.predicted_weight,
                    "rows": [
                        {
                            "rank": i,
                            "symbol": r.symbol,
                            "spot_symbol": r.row.spot_symbol,
                            "funding_rate": r.row.funding_rate,
                            "interval_hours": r.row.interval_hours,
                            "rate_8h": precision.ratio(r.rate_8h),
                            "forecast_8h": precision.ratio(r.forecast),
                            "apr": precision.ratio(r.apr),
                            "round_trip_cost": precision.ratio(r.cost),
                            "net_yield": precision.ratio(r.net_yield),
                            "net_apr": precision.ratio(r.net_apr),
                            "breakeven_intervals": precision.ratio(r.breakeven_intervals),
                            "quote_volume_24h": r.row.quote_volume_24h,
                            "eligible": r.eligible,
                            "reasons": list(r.reasons),
                            "action": advice[r.symbol].action,
                            "why": advice[r.symbol].why,
                        }
                        for i, r in enumerate(rows, 1)
                    ],
                }
            )
            return
        columns = ["#", "Perpetual", "Rate", "Every", "Forecast", "APR", "Round trip", "Net"]
        columns += ["Break-even", "Vol 24h (M)", "Action"]
        cells = [
            [
                str(i),
                r.symbol,
                pct(r.row.funding_rate),
                f"{r.row.interval_hours}h",
                pct(r.forecast),
                pct(r.apr, 1),
                pct(r.cost, 3),
                pct(r.net_yield, 3),
                "-" if r.breakeven_intervals is None else f"{r.breakeven_intervals:.1f}",
                money(r.row.quote_volume_24h / 1_000_000, 1),
                _action(advice[r.symbol]),
            ]
            for i, r in enumerate(rows, 1)
        ]
        title = (
            f"{label} snapshot {snap.id} at {ts(snap.taken_ms)} UTC, net over {horizon} x 8h."
            " Rate: the venue's next rate per interval; Forecast: the expected rate per 8h"
            f" (settled prints, half-life {s.strategy.forecast_half_life_hours}h, blended"
            f" {s.strategy.predicted_weight} with the next rate); APR, Net and Action use it"
        )
        # The forecast, the net yield it gives and the action decide; the rest explains them
        # (APR restates the forecast), break-even the longest. Action's reasons need room to be
        # read in a line or two.
        drop = ["Every", "Round trip", "Vol 24h (M)", "Break-even", "APR", "Rate"]
        left = {"Perpetual", "Action"}
        table_ = table(title, columns, cells, left, drop=drop, wrap={"Action"}, min_wrap=28)
        emit(table_, wide)

    guarded(body)


_COLOURS = {"open": "green", "rotate in": "green", "close": "red", "rotate out": "red"}


def _action(advice: Advice) -> str:
    text = advice.action if advice.action in ("hold", "open") else f"{advice.action}: {advice.why}"
    colour = _COLOURS.get(advice.action)
    return styled(text, colour) if colour else text
