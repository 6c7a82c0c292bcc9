"""fra rank"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, iso, money, pct, print_json, settings, ts
from fra.commands.output import emit, styled, table


def rank(
    ctx: typer.Context,
    refresh: bool = typer.Option(False, "--refresh", help="Scan the venue first."),
    top: int = typer.Option(0, "--top", min=0, help="Show only the first N rows (0 = all)."),
    as_json: bool = JsonOption,
) -> None:
    """Rank the latest snapshot by net yield after fees and spreads, with the reason every
    filtered-out pair was filtered."""

    def body() -> None:
        from fra.app import open_app
        from fra.engine.market import latest_snapshot, rank_snapshot

        s = settings(ctx)
        with open_app(s) as app:
            snap = latest_snapshot(app, refresh)
            ranked = rank_snapshot(app, snap)
            label = app.venue_label
        rows = ranked[:top] if top else ranked
        horizon = s.strategy.min_holding_periods
        if as_json:
            print_json(
                {
                    "venue": label,
                    "snapshot_id": snap.id,
                    "taken_at": iso(snap.taken_ms),
                    "holding_periods_8h": horizon,
                    "rows": [
                        {
                            "rank": i,
                            "symbol": r.symbol,
                            "spot_symbol": r.row.spot_symbol,
                            "funding_rate": r.row.funding_rate,
                            "interval_hours": r.row.interval_hours,
                            "rate_8h": r.rate_8h,
                            "apr": r.apr,
                            "round_trip_cost": r.cost,
                            "net_yield": r.net_yield,
                            "net_apr": r.net_apr,
                            "breakeven_intervals": r.breakeven_intervals,
                            "quote_volume_24h": r.row.quote_volume_24h,
                            "eligible": r.eligible,
                            "reasons": list(r.reasons),
                        }
                        for i, r in enumerate(rows, 1)
                    ],
                }
            )
            return
        columns = ["#", "Perpetual", "Rate", "Every", "APR", "Round trip", "Net", "Net APR"]
        columns += ["Break-even", "Vol 24h (M)", "Status"]
        cells = [
            [
                str(i),
                r.symbol,
                pct(r.row.funding_rate),
                f"{r.row.interval_hours}h",
                pct(r.apr, 1),
                pct(r.cost, 3),
                pct(r.net_yield, 3),
                pct(r.net_apr, 1),
                "-" if r.breakeven_intervals is None else f"{r.breakeven_intervals:.1f}",
                money(r.row.quote_volume_24h / 1_000_000, 1),
                styled("eligible", "green") if r.eligible else ", ".join(r.reasons),
            ]
            for i, r in enumerate(rows, 1)
        ]
        title = f"{label} snapshot {snap.id} at {ts(snap.taken_ms)} UTC, net over {horizon} x 8h"
        emit(table(title, columns, cells, left={"Perpetual", "Status"}))

    guarded(body)
