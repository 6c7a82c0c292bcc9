"""fra margin-check"""

from __future__ import annotations

import typer

from fra.commands.common import (
    JsonOption,
    exit_with,
    guarded,
    money,
    pct,
    price,
    print_json,
    settings,
)
from fra.commands.output import WideOption
from fra.core.text import plural


def margin_check(ctx: typer.Context, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """Margin ratio (maintenance margin / margin balance) of every perp leg: ok, alert (exit 7)
    or critical (exit 8, triggers the emergency stop)."""

    def body() -> None:
        from fra.app import open_app, require_state_file
        from fra.commands.common import cycle_lock, setup_logging
        from fra.engine.interrupts import deferred_signals
        from fra.engine.safety import margin_check as check
        from fra.errors import ExitCode

        s = settings(ctx)
        require_state_file(s)
        setup_logging(s)
        with cycle_lock(s, s.lock_wait_seconds), open_app(s, create=False) as app:
            app.ready(opening=False)
            with deferred_signals(app.stop):
                report = check(app)
            label = app.venue_label
        code = {
            "ok": ExitCode.OK,
            "alert": ExitCode.MARGIN_ALERT,
            "critical": ExitCode.MARGIN_CRITICAL,
        }[report.level.value]
        if as_json:
            from fra.core import precision

            print_json(
                {
                    "level": report.level.value,
                    "alert_at": s.risk.margin_alert,
                    "critical_at": s.risk.margin_critical,
                    "legs": [
                        {
                            "position_id": leg.position_id,
                            "symbol": leg.symbol,
                            "ratio": precision.ratio(leg.ratio),
                            "level": leg.level.value,
                            "mark_price": leg.mark_price,
                            "margin_balance": precision.money(leg.margin_balance),
                            "maintenance_margin": precision.money(leg.maintenance_margin),
                        }
                        for leg in report.legs
                    ],
                    "emergency_stopped": [p.id for p in report.stopped],
                }
            )
        else:
            from fra.commands.output import emit, table

            title = (
                f"{label} margin: {report.level.value.upper()} (alert at"
                f" {pct(s.risk.margin_alert, 0)}, critical at {pct(s.risk.margin_critical, 0)})"
            )
            columns = ["ID", "Perpetual", "Mark", "Margin balance", "Maint. margin", "Ratio"]
            cells = [
                [
                    str(leg.position_id),
                    leg.symbol,
                    price(leg.mark_price),
                    money(leg.margin_balance),
                    money(leg.maintenance_margin),
                    pct(leg.ratio, 2),
                    leg.level.value,
                ]
                for leg in report.legs
            ]
            # The ratio and its level are what the command is for; the rest is how it came out.
            drop = ["Mark", "Maint. margin", "Margin balance"]
            left = {"Perpetual", "Level"}
            emit(table(title, [*columns, "Level"], cells, left, drop=drop), wide)
            if report.stopped:
                print(
                    f"EMERGENCY STOP: closed {plural(len(report.stopped), 'position')};"
                    " run `fra resume` once it is safe to trade again"
                )
        exit_with(code)

    guarded(body)
