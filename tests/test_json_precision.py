"""Figures in --json at sensible precision, as strings: every command's document is walked and
each figure held to the rule of fra.core.precision. A quotient (a rate per 8h, an APR, a cost, a
margin ratio) has at most 10 significant digits; derived money at most 8 decimal places; an
average price either; exact values (prices, quantities, rates, fees and funding as paid) keep
every digit and are checked, digit for digit, against the state file. No figure uses an
exponent or ends in zeros after its point."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, Fra, iso
from hypothesis import given, settings
from hypothesis import strategies as st
from test_binance import live_on, make_emulator, short_on_exchange

from fra.core import precision
from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
HOT_ETH = f"{ETH}@{iso(T0)}:funding=0.0008:hours=72"
HOT_SOL = f"{SOL}@{iso(T0)}:funding=0.0009:hours=72"

SIGNIFICANT, PLACES = 10, 8
RATIO_KEYS = {
    "rate_8h", "forecast_8h", "apr", "round_trip_cost", "net_yield", "net_apr",
    "breakeven_intervals", "worst_margin_ratio", "ratio",
    # the backtest's analytics (JSON numbers)
    "days", "net_return", "annual_return", "volatility", "sharpe", "max_drawdown",
    "time_in_market", "deployed", "days_held",
}  # fmt: skip
MONEY_KEYS = {
    "spot_pnl", "perp_pnl", "exposure", "realized_net_pnl", "paper_cash", "spot_usdt",
    "futures_usdt", "equity_usdt", "margin_balance", "maintenance_margin",
    # the backtest's money (JSON numbers)
    "start_equity", "end_equity", "pnl",
}  # fmt: skip
PRICE_KEYS = {"spot_entry_price", "perp_entry_price", "spot_exit_price", "perp_exit_price"}
# As the venue, the fills or the payments give them, or sums of those: every digit kept. Each is
# compared with the state file by the tests below rather than held to a number of digits.
EXACT_KEYS = {
    "funding_rate", "mark_price", "perp_bid", "perp_ask", "spot_bid", "spot_ask",
    "quote_volume_24h", "spot_amount", "perp_amount", "amount", "funding", "fees", "net_pnl",
    "unrealized_net_pnl",
}  # fmt: skip
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class Number(str):
    """A JSON number's text as written (a float of the backtest's analytics)."""


def parse(text: str) -> Any:
    return json.loads(text, parse_float=Number)


def figures(doc: Any, key: str = "") -> Iterator[tuple[str, str, bool]]:
    """(key, text, is a JSON number) of every number-like string and every float in `doc`."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from figures(v, k)
    elif isinstance(doc, list):
        for v in doc:
            yield from figures(v, key)
    elif isinstance(doc, Number):
        yield key, str(doc), True
    elif isinstance(doc, str) and NUMBER.fullmatch(doc):
        yield key, doc, False


def digits(text: str) -> tuple[int, int]:
    """(significant digits, decimal places) of a figure as written (a whole number's trailing
    zeros are not counted as significant: 10000000000 is one digit to ten places)."""
    _, numerals, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)
    return len("".join(map(str, numerals)).strip("0")) or 1, max(0, -exponent)


def problems(doc: Any) -> tuple[int, list[str]]:
    """How many figures `doc` holds, and what is wrong with any of them."""
    found, wrong = 0, []
    for key, text, number in figures(doc):
        found += 1
        sig, places = digits(text)
        what = f"{key}={text}"
        if not number:
            # Strings are ours to write: plain notation, no trailing zeros, no "-0".
            if "e" in text.lower():
                wrong.append(f"{what}: exponent")
            padded = "." in text and text.endswith(("0", "."))
            if padded or text in ("-0", "+0") or text[0] == "+":
                wrong.append(f"{what}: not in its shortest form")
        if key in EXACT_KEYS:
            continue
        if key in RATIO_KEYS and sig > SIGNIFICANT:
            wrong.append(f"{what}: a ratio with {sig} significant digits")
        elif key in MONEY_KEYS and places > PLACES:
            wrong.append(f"{what}: money with {places} decimal places")
        elif sig > SIGNIFICANT and places > PLACES:
            wrong.append(f"{what}: {sig} significant digits and {places} places")
    return found, wrong


def checked(fra: Fra, *args: str, code: int = 0, **env: str) -> Any:
    """`fra ARGS --json`, its figures held to the rule; the document."""
    doc = parse(fra(*args, "--json", code=code, **env).stdout)
    _, wrong = problems(doc)
    assert not wrong, (args, wrong)
    return doc


def exact(fra: Fra, sql: str, params: tuple[Any, ...] = ()) -> list[Decimal]:
    return [Decimal(v) for (v,) in fra.query(sql, params)]


def fees_from_fills(fra: Fra, position_id: int) -> Decimal:
    """A position's fees in USDT as charged: coin fees at the price of their fill."""
    total = Decimal(0)
    rows = fra.query(
        "SELECT fee, fee_currency, average_price FROM orders WHERE position_id = ?", (position_id,)
    )
    for fee, currency, price in rows:
        total += Decimal(fee) if currency in ("USDT", "") else Decimal(fee) * Decimal(price)
    return total


@pytest.fixture
def held(fra: Fra) -> Fra:
    """Paper on the simulated market: ETH opened by hand, SOL by a cycle, one settlement paid."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH, SOL]).shocks(HOT_ETH, HOT_SOL)
    checked(fra, "--init", "scan")
    checked(fra, "open", ETH, "--size", "700")
    checked(fra, "run-cycle")
    fra.advance(hours=9)
    checked(fra, "run-cycle")
    return fra


# -- the rule itself -------------------------------------------------------------------------


def test_the_reported_examples_come_out_short_and_unchanged_where_exact() -> None:
    cost = Decimal("0.003201503722025236070120712294")
    assert precision.plain(precision.ratio(cost)) == "0.003201503722"
    assert precision.plain(precision.ratio(Decimal("0.3933309184530262944801980004"))) == (
        "0.3933309185"
    )
    assert precision.plain(Decimal("9976.356585560000000000000000")) == "9976.35658556"
    assert precision.plain(Decimal("0.00010000")) == "0.0001"
    assert precision.plain(Decimal("1E-8")) == "0.00000001"
    assert precision.plain(Decimal("1E+3")) == "1000"
    assert precision.plain(Decimal("-0.000")) == "0"
    assert precision.plain(precision.money(Decimal("-0.000000001"))) == "0"
    # An average price keeps every place a venue quotes, and 10 digits of a tiny coin's.
    assert precision.price(Decimal("67123.12345678")) == Decimal("67123.12345678")
    assert precision.price(Decimal("0.00000451") / 3) == Decimal("0.000001503333333")


amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=None
).filter(lambda d: d.is_finite())


@settings(max_examples=200, deadline=None)
@given(amounts)
def test_plain_keeps_every_digit_in_plain_notation(value: Decimal) -> None:
    text = precision.plain(value)
    assert "e" not in text.lower() and Decimal(text) == value
    assert not ("." in text and text.endswith(("0", ".")))


@settings(max_examples=200, deadline=None)
@given(amounts)
def test_ratio_price_and_money_round_to_their_digits_and_no_further(value: Decimal) -> None:
    r, p, m = precision.ratio(value), precision.price(value), precision.money(value)
    assert digits(precision.plain(r))[0] <= SIGNIFICANT
    assert digits(precision.plain(m))[1] <= PLACES
    assert digits(precision.plain(p))[0] <= SIGNIFICANT or digits(precision.plain(p))[1] <= PLACES
    # Rounded, not cut: within half a unit of the last digit kept.
    assert abs(m - value) <= Decimal("0.5e-8")
    if value:
        assert abs(r - value) <= abs(value) * Decimal("0.5e-9") * 10
    # What already fits is left as it is: a venue's price or balance passes unchanged.
    short = value.quantize(Decimal("1e-8"))
    assert precision.price(short) == short and precision.money(short) == short
    if digits(precision.plain(value))[0] <= SIGNIFICANT:
        assert r == value


# -- every command ---------------------------------------------------------------------------


def test_trading_commands_print_figures_at_their_precision_and_exact_ones_exactly(
    held: Fra,
) -> None:
    rank = checked(held, "rank")
    eth = {r["symbol"]: r for r in rank["rows"]}[ETH]
    # The rank's quotients were 28 digits long; still what the table shows, to 10.
    assert eth["funding_rate"] == "0.0008"
    assert Decimal(eth["apr"]) == Decimal(eth["forecast_8h"]) * 1095
    for key in ("round_trip_cost", "net_yield", "net_apr", "breakeven_intervals"):
        assert 6 <= digits(eth[key])[0] <= SIGNIFICANT, (key, eth[key])
    # The scan's figures are the venue's, as stored.
    scan = checked(held, "scan")
    row = {r["symbol"]: r for r in scan["rows"]}[ETH]
    [(rate, mark)] = held.query(
        "SELECT funding_rate, mark_price FROM snapshot_rows WHERE snapshot_id = ?"
        " AND perp_symbol = ?",
        (scan["snapshot_id"], ETH),
    )
    assert (Decimal(row["funding_rate"]), Decimal(row["mark_price"])) == (
        Decimal(rate),
        Decimal(mark),
    )

    margin = checked(held, "margin-check")
    assert {leg["symbol"] for leg in margin["legs"]} == {ETH, SOL}
    for leg in margin["legs"]:
        quotient = Decimal(leg["maintenance_margin"]) / Decimal(leg["margin_balance"])
        assert abs(Decimal(leg["ratio"]) - quotient) <= quotient * Decimal("1e-9")

    status = checked(held, "status")
    positions = checked(held, "positions")
    assert sorted(positions, key=lambda p: p["id"]) == status["positions"]
    assert len(positions) == 2
    for p in positions:
        # A fill's price and size come out digit for digit; funding and fees as paid.
        [perp_price] = exact(
            held,
            "SELECT average_price FROM orders WHERE position_id = ? AND leg = 'perp'",
            (p["id"],),
        )
        [sold] = exact(
            held, "SELECT filled FROM orders WHERE position_id = ? AND leg = 'perp'", (p["id"],)
        )
        assert Decimal(p["perp_entry_price"]) == perp_price
        assert Decimal(p["perp_amount"]) == sold
        paid = exact(held, "SELECT amount FROM funding_payments WHERE position_id = ?", (p["id"],))
        assert len(paid) == p["funding_payments"] == 1
        assert Decimal(p["funding"]) == sum(paid)
        assert Decimal(p["fees"]) == fees_from_fills(held, p["id"])
        # The net is its parts as printed, to the last digit.
        parts = [Decimal(p[k]) for k in ("spot_pnl", "perp_pnl", "funding", "fees")]
        assert Decimal(p["net_pnl"]) == parts[0] + parts[1] + parts[2] - parts[3]
    # The totals are the rows' figures added up as printed.
    totals = status["totals"]
    for key, of in (("funding", "funding"), ("fees", "fees"), ("unrealized_net_pnl", "net_pnl")):
        assert Decimal(totals[key]) == sum(Decimal(p[of]) for p in positions), key
    [cash] = exact(held, "SELECT amount FROM paper_balances WHERE asset = 'USDT'")
    assert Decimal(totals["paper_cash"]) == cash.quantize(Decimal("1e-8"))

    closed = checked(held, "close", "1")
    assert [p["state"] for p in closed] == ["closed"]
    [spot_sold] = exact(
        held,
        "SELECT average_price FROM orders WHERE position_id = 1 AND leg = 'spot' AND side = 'sell'",
    )
    assert Decimal(closed[0]["spot_exit_price"]) == spot_sold
    stop = checked(held, "emergency-stop", "--reason", "test")
    assert [p["id"] for p in stop["closed"]] == [2]
    checked(held, "resume")
    # Everything closed: paper cash, the ETH and SOL dust at their exit prices, and the
    # realized P&L agree to the 8 places both are printed to.
    status = checked(held, "status")
    realized, cash = (Decimal(status["totals"][k]) for k in ("realized_net_pnl", "paper_cash"))
    dust = Decimal(0)
    for p in checked(held, "positions"):
        coin = p["spot_symbol"].split("/")[0]
        for (left,) in held.query("SELECT amount FROM paper_balances WHERE asset = ?", (coin,)):
            dust += Decimal(left) * Decimal(p["spot_exit_price"])
    assert abs(cash + dust - 10000 - realized) <= Decimal("1e-8")
    printed = sum(Decimal(p["net_pnl"]) for p in checked(held, "positions"))
    assert abs(printed - realized) <= Decimal("1e-8") * len(checked(held, "positions"))


def test_loop_config_and_notifications_print_figures_at_their_precision(held: Fra) -> None:
    out = held("loop", "--interval", "1", "--max-cycles", "1", "--json").stdout
    for line in out.splitlines():
        assert not problems(parse(line))[1], line
    config = checked(held, "config")
    assert config["strategy"]["min_funding_rate"] == "0.0003"  # as typed, as a figure
    checked(held, "notify", "log")
    checked(held, "status", "--check", code=ExitCode.OK)


def test_history_and_backtest_print_figures_at_their_precision(fra: Fra) -> None:
    since, until = "2025-03-01", "2025-03-11"
    checked(fra, "history", "fetch", "--exchange", "sim", "--since", since, "--until", until,
            "--symbols", "BTCUSDT,SOL/USDT:USDT")  # fmt: skip
    (fra.workdir / "f.csv").write_text(
        "exchange,symbol,funding_time_ms,funding_rate,interval_hours\n"
        "binance,ETHUSDT,1672531200000,0.000100000,8\n"
    )
    checked(fra, "history", "import", "f.csv")
    assert len(checked(fra, "history", "list")) >= 3
    shock = f"{SOL}@2025-03-03T00:00:00Z:funding=0.003:hours=96"
    shocked = {"FRA_SIM__SHOCKS": f'["{shock}"]'}
    report = checked(fra, "backtest", "--exchange", "sim", "--from", since, "--to", until,
                     "--symbols", "BTCUSDT,SOL/USDT:USDT", **shocked)  # fmt: skip
    # Floats (analytics) stay JSON numbers, rounded as their kind is.
    strategy = report["strategy"]
    assert isinstance(strategy["trades"], int) and isinstance(strategy["end_equity"], Number)
    sol = {f["symbol"]: f for f in report["per_symbol"]}[SOL]
    assert float(sol["funding"]) > 0
    sweep = checked(fra, "backtest", "--exchange", "sim", "--symbols", "BTCUSDT,SOL/USDT:USDT",
                    "--sweep", "--grid", "min_rate=0.0001,0.0005",
                    "--train", "2025-03-01..2025-03-06", "--test", "2025-03-06..2025-03-11",
                    **shocked)  # fmt: skip
    assert sweep["rows"] and {r["values"]["min_rate"] for r in sweep["rows"]} <= {
        "0.0001",
        "0.0005",
    }


def test_live_figures_from_the_venue_and_adopted_positions(fra: Fra) -> None:
    # The Binance emulator on 127.0.0.1: balances as the exchange reports them, an adopted pair.
    with make_emulator() as emulator:
        live = live_on(fra, emulator)
        report = checked(live, "run-cycle")
        assert report["balances"] is not None
        status = checked(live, "status")
        assert {k: status["balances"][k] for k in ("spot_usdt", "futures_usdt", "equity_usdt")} == {
            k: report["balances"][k] for k in ("spot_usdt", "futures_usdt", "equity_usdt")
        }
        short = short_on_exchange(emulator)
        live.db.unlink()
        Path(f"{live.db}-wal").unlink(missing_ok=True)
        report = checked(live, "--init", "run-cycle", code=ExitCode.UNTRACKED)
        found = {u["kind"]: u for u in report["untracked"]}
        assert Decimal(found["short"]["amount"]) == short
        checked(live, "doctor", code=ExitCode.UNTRACKED)
        adopted = checked(live, "adopt", ETH)
        assert Decimal(adopted["perp_amount"]) == short
        checked(live, "status")


def test_a_figure_left_unrounded_would_be_caught() -> None:
    # The walk itself: what the commands printed before this rule fails it.
    before = {
        "round_trip_cost": "0.003201503722025236070120712294",
        "paper_cash": "9976.356585560000000000000000",
        "worst_margin_ratio": "1.2E-8",
        "totals": {"exposure": "1998.403550001", "other": "12345.123456789"},
        "backtest": parse('{"annual_return": 0.39333091845302627, "end_equity": 10523.4567890123}'),
    }
    found, wrong = problems(before)
    flagged = {w.split("=")[0] for w in wrong}
    assert found == 7 and flagged == {
        "round_trip_cost", "paper_cash", "worst_margin_ratio", "exposure", "other",
        "annual_return", "end_equity",
    }, wrong  # fmt: skip
    after = {
        "round_trip_cost": "0.003201503722",
        "paper_cash": "9976.35658556",
        "funding": "1.0000000000000001",  # exact: any length
        "id": "12",
    }
    assert problems(after) == (4, [])
