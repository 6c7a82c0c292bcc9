"""The whole cycle through the CLI: open, fund, close, skip held pairs, margin, halt, resume."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from conftest import T0, Fra, iso

ETH = "ETH/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"  # 0.08 %/8h for two days
COLD = f"{ETH}@{iso(T0 + timedelta(hours=48))}:funding=-0.0003:hours=24"


def only_eth(fra: Fra) -> Fra:
    # Restrict trading to ETH so organic simulated funding elsewhere can't change the story.
    return fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT, COLD)


def test_cycle_opens_collects_funding_once_per_settlement_and_closes_on_drop(fra: Fra) -> None:
    only_eth(fra)
    fra("run-cycle")
    status = fra.json("status")
    [pos] = status["positions"]
    assert pos["symbol"] == ETH and pos["state"] == "open"
    assert Decimal(pos["perp_amount"]) > 0
    # Delta-neutral: the spot held (after the fee taken in ETH) covers the short.
    assert Decimal(pos["spot_amount"]) >= Decimal(pos["perp_amount"])
    assert pos["funding_payments"] == 0
    # The margin of a position opened by this very cycle is on record already.
    assert Decimal("0") < Decimal(status["worst_margin_ratio"]) < Decimal("0.3")

    fra.advance(hours=8, minutes=1)
    fra("run-cycle")
    fra("run-cycle")  # a repeated cycle must not count the 08:00 settlement twice
    [pos] = fra.json("status")["positions"]
    assert pos["funding_payments"] == 1
    rows = fra.query("SELECT amount, rate, mark_price, position_amount FROM funding_payments")
    [(amount, rate, mark, qty)] = rows
    assert Decimal(rate) == Decimal("0.0008")
    assert Decimal(amount) == Decimal(qty) * Decimal(mark) * Decimal(rate)
    assert Decimal(pos["funding"]) == Decimal(amount) > 0

    # A late cycle catches up every settlement it missed (16:00, 00:00, 08:00).
    fra.advance(hours=24)
    fra("run-cycle")
    assert fra.json("status")["positions"][0]["funding_payments"] == 4

    # Funding turns negative for the next settlement: the cycle closes the position.
    fra.at(T0 + timedelta(hours=48, minutes=1))
    out = fra("run-cycle").stdout
    assert "closed 1" in out
    [closed] = fra.json("positions")
    assert closed["state"] == "closed"
    assert "below the exit bar" in closed["close_reason"]
    assert closed["funding_payments"] == 6  # 08:00 .. 48:00, each settlement once
    net = Decimal(closed["net_pnl"])
    parts = (
        Decimal(closed["spot_pnl"])
        + Decimal(closed["perp_pnl"])
        + Decimal(closed["funding"])
        - Decimal(closed["fees"])
    )
    assert net == parts
    assert fra.json("status")["positions"] == []


def test_held_pair_is_skipped_not_opened_twice(fra: Fra) -> None:
    only_eth(fra)
    fra("run-cycle")
    fra.advance(hours=1)
    fra("run-cycle")
    ranked = {r["symbol"]: r for r in fra.json("rank")["rows"]}
    assert "already_held" in ranked[ETH]["reasons"]
    assert len(fra.json("positions")) == 1


def test_cycle_records_itself_and_each_position(fra: Fra) -> None:
    only_eth(fra)
    fra("run-cycle")
    fra.advance(hours=8, minutes=1)
    fra("run-cycle")
    cycles = fra.query("SELECT id, outcome, exit_code FROM cycles ORDER BY id")
    assert cycles == [(1, "ok", 0), (2, "ok", 0)]
    per_position = fra.query("SELECT cycle_id, position_id, state FROM cycle_positions")
    assert per_position == [(1, 1, "open"), (2, 1, "open")]
    last = fra.json("status")["last_cycle"]
    assert last["id"] == 2 and last["outcome"] == "ok"


def margin_env(fra: Fra, move: str) -> Fra:
    # Leverage 3 puts a third of the notional up as margin; the thresholds are set so that
    # +18 % on ETH is an alert and +30 % is critical (see test bodies for the arithmetic).
    # Margin top-ups are off: these tests are about what happens when they are not enough.
    return fra.set(
        FRA_STRATEGY__SYMBOLS=[ETH],
        FRA_RISK__LEVERAGE="3",
        FRA_RISK__MARGIN_ALERT="0.02",
        FRA_RISK__MARGIN_CRITICAL="0.1",
        FRA_RISK__TOPUP_CUSHION="0",
    ).shocks(HOT, f"{ETH}@{iso(T0 + timedelta(hours=1))}:price={move}:hours=12")


def test_margin_alert_has_its_own_exit_code(fra: Fra) -> None:
    margin_env(fra, "+18%")
    fra("run-cycle")
    fra("margin-check")
    fra.advance(hours=3)
    report = fra.json("margin-check", code=7)
    [leg] = report["legs"]
    assert leg["level"] == "alert"
    ratio = Decimal(leg["maintenance_margin"]) / Decimal(leg["margin_balance"])
    # The ratio as printed: to 10 significant digits (both figures are given to 8 places).
    assert abs(Decimal(leg["ratio"]) - ratio) <= ratio * Decimal("1e-9")
    assert Decimal("0.02") <= ratio < Decimal("0.1")
    # An alert warns; it closes nothing.
    assert fra.json("status")["positions"][0]["state"] == "open"
    fra("run-cycle", code=7)


def test_critical_margin_stops_everything_until_resume(fra: Fra) -> None:
    margin_env(fra, "+30%")
    fra("run-cycle")
    fra.advance(hours=3)
    out = fra("run-cycle", code=8).stdout
    assert "EMERGENCY STOP (critical margin ratio" in out
    status = fra.json("status")
    assert status["halted"] is True and "critical margin" in status["halt_reason"]
    assert status["positions"] == []
    [stopped] = fra.json("positions")
    assert stopped["state"] == "closed" and "emergency stop" in stopped["close_reason"]

    # Halted: ETH still pays well and the shock is over, but cycles open nothing.
    fra.advance(hours=12)
    fra("run-cycle")
    assert fra.json("status")["positions"] == []
    assert "halted" in {r["symbol"]: r for r in fra.json("rank")["rows"]}[ETH]["reasons"]
    fra("open", ETH, "--size", "500", code=4)

    assert "resumed" in fra("resume").stdout
    fra("run-cycle")
    [pos] = fra.json("status")["positions"]
    assert pos["symbol"] == ETH and pos["state"] == "open"


def test_emergency_stop_closes_all_and_halts(fra: Fra) -> None:
    only_eth(fra)
    fra("run-cycle")
    out = fra("emergency-stop", "--reason", "exchange incident").stdout
    assert "HALTED: exchange incident" in out
    assert "closed 1 position;" in out
    status = fra.json("status")
    assert status["halted"] and status["halt_reason"] == "exchange incident"
    assert status["positions"] == []
    fra.advance(hours=1)
    fra("run-cycle")
    assert fra.json("status")["positions"] == []
    fra("resume")
    assert "not halted" in fra("resume").stdout


def test_accounts_agree_paper_cash_equals_start_plus_realized(fra: Fra) -> None:
    only_eth(fra)
    fra("run-cycle")
    fra.advance(hours=20)
    fra("run-cycle")
    fra("close", "--all")
    status = fra.json("status")
    realized = Decimal(status["totals"]["realized_net_pnl"])
    cash = Decimal(status["totals"]["paper_cash"])
    # What's left of ETH after selling on the spot step is dust; value it at the exit price.
    [pos] = fra.json("positions")
    dust = fra.query("SELECT amount FROM paper_balances WHERE asset = 'ETH'")
    dust_value = Decimal(dust[0][0]) * Decimal(pos["spot_exit_price"]) if dust else Decimal(0)
    assert cash + dust_value - Decimal("10000") == realized


def test_a_liquidated_short_is_recorded_and_everything_stops(fra: Fra) -> None:
    # +40 % on ETH with a third of the notional as margin: past the bankruptcy price before
    # any cycle could look, so the (paper) venue liquidates the short itself.
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH], FRA_RISK__LEVERAGE="3").shocks(
        HOT, f"{ETH}@{iso(T0 + timedelta(hours=1))}:price=+40%:hours=12"
    )
    fra("run-cycle")
    fra.advance(hours=3)
    out = fra("run-cycle", code=8).stdout
    assert "EMERGENCY STOP (the venue liquidated the short on ETH/USDT:USDT)" in out
    [pos] = fra.json("positions")
    assert pos["state"] == "closed" and pos["close_reason"] == "perp leg liquidated by the venue"
    [(state, side)] = fra.query("SELECT state, side FROM orders WHERE purpose = 'liquidation'")
    assert (state, side) == ("filled", "buy")
    # Isolated margin: the short loses exactly the margin it posted, no more (to the 8 places
    # P&L is printed to).
    margin = Decimal(pos["perp_amount"]) * Decimal(pos["perp_entry_price"]) / 3
    assert Decimal(pos["perp_pnl"]) == -margin.quantize(Decimal("1e-8"))
    # The spot leg was sold, and the paper account still adds up.
    assert fra.query("SELECT COUNT(*) FROM paper_shorts") == [(0,)]
    status = fra.json("status")
    dust = fra.query("SELECT amount FROM paper_balances WHERE asset = 'ETH'")
    dust_value = Decimal(dust[0][0]) * Decimal(pos["spot_exit_price"]) if dust else Decimal(0)
    cash = Decimal(status["totals"]["paper_cash"])
    realized = Decimal(status["totals"]["realized_net_pnl"])
    # Cash and realized P&L are printed to 8 places (margin is notional / 3, a repeating
    # decimal): each may be half a unit of the 8th place off.
    assert abs(cash + dust_value - 10000 - realized) <= Decimal("1e-8")
