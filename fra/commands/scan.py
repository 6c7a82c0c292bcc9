"""fra scan"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, iso, pct, print_json, settings, ts
from fra.core.text import plural


def scan(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Fetch every perpetual's funding rate, interval, next funding time, mark price, spot and
    perp best bid/ask and 24h volume, and store them as a snapshot."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.common import setup_logging
        from fra.engine.market import scan as do_scan

        s = settings(ctx)
        setup_logging(s)
        with open_app(s) as app:
            snap = do_scan(app)
            label = app.venue_label
        rows = snap.rows
        if as_json:
            print_json(
                {
                    "snapshot_id": snap.id,
                    "venue": label,
                    "taken_at": iso(snap.taken_ms),
                    "perpetuals": len(rows),
                    "rows": [
                        {
                            "symbol": r.perp_symbol,
                            "spot_symbol": r.spot_symbol,
                            "funding_rate": r.funding_rate,
                            "interval_hours": r.interval_hours,
                            "next_funding": iso(r.next_funding_ms),
                            "mark_price": r.mark_price,
                            "perp_bid": r.perp_bid,
                            "perp_ask": r.perp_ask,
                            "spot_bid": r.spot_bid,
                            "spot_ask": r.spot_ask,
                            "quote_volume_24h": r.quote_volume_24h,
                        }
                        for r in rows
                    ],
                }
            )
            return
        intervals: dict[int, int] = {}
        for r in rows:
            intervals[r.interval_hours] = intervals.get(r.interval_hours, 0) + 1
        with_spot = sum(1 for r in rows if r.spot_symbol)
        top = sorted(
            (r for r in rows if r.funding_rate is not None),
            key=lambda r: r.funding_rate * 8 / r.interval_hours,  # type: ignore[operator]
            reverse=True,
        )[:5]
        from fra.commands.output import emit, line, styled

        intervals_text = ", ".join(f"{h}h x{n}" for h, n in sorted(intervals.items()))
        highest = ", ".join(
            f"{r.perp_symbol} {pct(r.funding_rate)}/{r.interval_hours}h" for r in top
        )
        emit(
            [
                line(
                    styled(label, "bold"),
                    f" snapshot {snap.id} at {ts(snap.taken_ms)} UTC:"
                    f" {plural(len(rows), 'perpetual')},"
                    f" {with_spot} with a spot market; intervals {intervals_text}",
                ),
                line(f"highest funding: {highest}"),
                line("next: `fra rank` to rank them net of costs"),
            ]
        )

    guarded(body)
