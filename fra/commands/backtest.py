"""fra backtest"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from fra.commands.common import JsonOption, guarded, iso, print_json, settings


def _day_ms(text: str, option: str) -> int:
    from fra.errors import BadInput

    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{option} {text!r} is not a date", f"give {option} as YYYY-MM-DD") from None
    if day.tzinfo is None:
        day = day.replace(tzinfo=UTC)
    return int(day.timestamp() * 1000)


def backtest(
    ctx: typer.Context,
    since: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD, UTC)."),
    until: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD, UTC), up to its start."),
    exchange: str = typer.Option("binance", "--exchange", help="Whose history to replay."),
    symbols: str = typer.Option(
        None, "--symbols", help="Comma-separated perpetuals (BTC/USDT:USDT or BTCUSDT); all."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Replay history through run-cycle's own ranking, risk and exit rules; compare with
    holding BTC's carry trade and an equal-weight basket the whole period. Settings (FRA_*,
    .env) apply as they would live; FRA_BACKTEST__* sets capital, fees, spread, slippage."""

    def body() -> None:
        from fra.engine.backtest import backtest as replay

        s = settings(ctx)
        chosen = [x.strip() for x in symbols.split(",") if x.strip()] if symbols else None
        report = replay(
            s, exchange.lower(), chosen, _day_ms(since, "--from"), _day_ms(until, "--to")
        )
        if as_json:
            print_json(
                {
                    "exchange": report.exchange,
                    "from": iso(report.since_ms),
                    "to": iso(report.until_ms),
                    "symbols": list(report.symbols),
                    "strategy": report.strategy._asdict(),
                    "baselines": {k: v._asdict() for k, v in report.baselines.items()},
                    "per_symbol": [f._asdict() for f in report.per_symbol],
                    "events": report.events,
                    "warnings": report.warnings,
                }
            )
            return
        from fra.commands.output import emit, line, table

        def pc(x: float | None) -> str:
            return "-" if x is None else f"{x * 100:.2f}%"

        rows = [("strategy", report.strategy), *report.baselines.items()]
        out = table(
            f"Backtest {report.exchange} {since} .. {until}, {len(report.symbols)} symbols"
            f" (capital {s.backtest.capital:,} USDT)",
            ["", "Net/yr", "Total", "Vol/yr", "Sharpe", "Max DD", "Funding", "Fees", "Trades",
             "In market"],
            [
                [
                    name, pc(f.annual_return), pc(f.net_return), pc(f.volatility),
                    "-" if f.sharpe is None else f"{f.sharpe:.2f}", pc(f.max_drawdown),
                    f"{f.funding:,.2f}", f"{f.fees:,.2f}", str(f.trades), pc(f.time_in_market),
                ]
                for name, f in rows
            ],
            left={""},
        )  # fmt: skip
        out += table(
            "Per symbol (strategy)",
            ["Symbol", "Trades", "Days held", "Funding", "Fees", "Net P&L"],
            [
                [f.symbol, str(f.trades), f"{f.days_held:.1f}", f"{f.funding:,.2f}",
                 f"{f.fees:,.2f}", f"{f.pnl:,.2f}"]
                for f in report.per_symbol
            ],
            left={"Symbol"},
        )  # fmt: skip
        for event in report.events[:20]:
            out.append(line(f"event: {event}"))
        if len(report.events) > 20:
            out.append(line(f"... and {len(report.events) - 20} more events (--json)"))
        for warning in report.warnings:
            out.append(line(f"note: {warning}"))
        emit(out)

    guarded(body)
