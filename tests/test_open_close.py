"""Manual `fra open` / `fra close`, and every risk rule that can refuse an open."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import T0, Fra, iso

from fra.errors import ExitCode
from fra.venues.simulated import SimulatedMarket

ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"
HOT_SOL = f"{SOL}@{iso(T0)}:funding=0.0009:hours=48"
# BTC pinned at its usual 0.01 %/8h: a quote at the very start of an interval is noisy.
CALM_BTC = f"BTC/USDT:USDT@{iso(T0)}:funding=0.0001:hours=48"


@pytest.fixture
def hot(fra: Fra) -> Fra:
    fra.shocks(HOT, HOT_SOL, CALM_BTC)
    fra("status")  # create the state file so refusals can be checked against it
    return fra


def test_open_named_pair_buys_spot_and_shorts_the_same_quantity(hot: Fra) -> None:
    pos = hot.json("open", ETH, "--size", "1000")
    assert pos["state"] == "open"
    market = SimulatedMarket(7, clock=lambda: int(T0.timestamp() * 1000)).markets()
    spot_step = market["ETH/USDT"].amount_step
    perp_step = market[ETH].amount_step
    perp, spot = Decimal(pos["perp_amount"]), Decimal(pos["spot_amount"])
    assert perp % perp_step == 0
    assert perp * Decimal(pos["perp_entry_price"]) <= Decimal(1000)
    # Spot bought on its own step, covering the short after the 0.1 % fee taken in ETH.
    [(bought,)] = hot.query("SELECT filled FROM orders WHERE leg = 'spot'")
    assert Decimal(bought) % spot_step == 0
    assert spot >= perp and (spot - perp) / perp < Decimal("0.01")
    # Intent was written before each order: both orders are in the state file, filled.
    orders = hot.query("SELECT leg, purpose, side, state FROM orders ORDER BY created_ms, rowid")
    assert orders == [("spot", "open", "buy", "filled"), ("perp", "open", "sell", "filled")]


def test_open_without_symbol_takes_the_best_eligible_pair(hot: Fra) -> None:
    ranked = hot.json("rank", "--refresh")["rows"]
    best = next(r for r in ranked if r["eligible"])
    assert best["symbol"] == SOL  # the higher shocked rate wins
    pos = hot.json("open", "--size", "800")
    assert pos["symbol"] == SOL


def test_close_by_id_symbol_and_all(hot: Fra) -> None:
    hot("open", ETH, "--size", "600")
    hot("open", SOL, "--size", "600")
    hot.advance(hours=9)
    out = hot("close", "1").stdout
    assert "position 1 ETH/USDT:USDT closed" in out
    hot("open", ETH, "--size", "600")
    assert "SOL/USDT:USDT closed" in hot("close", "SOL/USDT").stdout
    assert "closed" in hot("close", "--all").stdout
    states = [p["state"] for p in hot.json("positions")]
    assert states == ["closed", "closed", "closed"]
    assert "nothing to close" in hot("close", "--all").stdout
    assert hot("close", "1", code=ExitCode.BAD_INPUT).stderr.startswith("error: position 1 is")


def test_close_unprofitable_closes_only_pairs_below_the_exit_rate(fra: Fra) -> None:
    fra.shocks(
        HOT,
        f"{SOL}@{iso(T0)}:funding=0.0009:hours=10",
        f"{SOL}@{iso(T0 + timedelta(hours=10))}:funding=-0.001:hours=24",
    )
    fra("open", ETH, "--size", "600")
    fra("open", SOL, "--size", "600")
    fra.advance(hours=11)
    closed = fra.json("close", "--unprofitable")
    assert [p["symbol"] for p in closed] == [SOL]
    assert "below exit rate" in closed[0]["close_reason"]
    assert [p["symbol"] for p in fra.json("status")["positions"]] == [ETH]


REFUSALS = [
    # (rule, extra env, open arguments)
    ("max_positions", {"FRA_RISK__MAX_POSITIONS": "0"}, [ETH, "--size", "500"]),
    ("max_position_usd", {}, [ETH, "--size", "5000"]),
    ("max_total_exposure_usd", {"FRA_RISK__MAX_TOTAL_EXPOSURE_USD": "400"}, [ETH, "--size", "500"]),
    ("insufficient_balance", {"FRA_PAPER__STARTING_BALANCE": "300"}, [ETH, "--size", "500"]),
    ("below_min_rate", {}, ["BTC/USDT:USDT", "--size", "500"]),
    ("volume_too_low", {"FRA_STRATEGY__MIN_VOLUME_USD": "1e12"}, [ETH, "--size", "500"]),
    ("not_in_symbols", {"FRA_STRATEGY__SYMBOLS": '["BTC/USDT:USDT"]'}, [ETH, "--size", "500"]),
    (
        "cost_exceeds_funding",
        {"FRA_STRATEGY__MIN_HOLDING_PERIODS": "1", "FRA_STRATEGY__MIN_FUNDING_RATE": "0.0001"},
        [ETH, "--size", "500"],
    ),
]


@pytest.mark.parametrize(("rule", "env", "args"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_risk_rule_refuses_by_name_and_changes_nothing(
    hot: Fra, rule: str, env: dict[str, str], args: list[str]
) -> None:
    before = hot.fingerprint()
    err = hot("open", *args, code=ExitCode.REFUSED, **env).stderr
    assert f"refused by {rule}" in err
    assert err.count("\n") == 1
    assert hot.fingerprint() == before
    assert hot.query("SELECT COUNT(*) FROM positions") == [(0,)]


def test_already_held_and_halted_refusals(hot: Fra) -> None:
    hot("open", ETH, "--size", "500")
    err = hot("open", ETH, "--size", "500", code=ExitCode.REFUSED).stderr
    assert "refused by already_held" in err
    hot("emergency-stop", "--reason", "test")
    err = hot("open", SOL, "--size", "500", code=ExitCode.REFUSED).stderr
    assert "refused by halted" in err and "fra resume" in err


def test_auto_size_respects_every_limit(hot: Fra) -> None:
    pos = hot.json("open", ETH, FRA_RISK__MAX_TOTAL_EXPOSURE_USD="700")
    notional = Decimal(pos["perp_amount"]) * Decimal(pos["perp_entry_price"])
    assert Decimal(600) < notional <= Decimal(700)
    # Nothing left under the exposure cap: the next auto-sized open is refused by it.
    err = hot("open", SOL, code=ExitCode.REFUSED, FRA_RISK__MAX_TOTAL_EXPOSURE_USD="700").stderr
    assert "max_total_exposure_usd" in err or "below_minimum" in err


def test_thin_book_partial_fill_is_hedged_to_what_filled(fra: Fra) -> None:
    # A size far beyond the book's depth on a small cap: the IOC order fills in part and the
    # other leg follows the filled quantity, so the position is still hedged.
    small = "ORDI/USDT:USDT"
    fra.shocks(f"{small}@{iso(T0)}:funding=0.002:hours=48")
    pos = fra.json(
        "open",
        small,
        "--size",
        "900000",
        FRA_RISK__MAX_POSITION_USD="1000000",
        FRA_RISK__MAX_TOTAL_EXPOSURE_USD="1000000",
        FRA_PAPER__STARTING_BALANCE="5000000",
        FRA_STRATEGY__MIN_VOLUME_USD="0",
    )
    states = {s for (s,) in fra.query("SELECT state FROM orders")}
    assert pos["state"] == "open"
    assert "partial" in states
    spot, perp = Decimal(pos["spot_amount"]), Decimal(pos["perp_amount"])
    assert perp > 0 and abs(spot - perp) / perp < Decimal("0.01")
