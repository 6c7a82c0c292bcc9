"""The funding forecast (fra.core.forecast) and the rules built on it, worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import Fra

from fra.core.forecast import MIN_PRINTS, ForecastParams, Print, Tracker, forecast, track
from fra.core.models import HOUR_MS
from fra.core.ranking import RankParams, Signal, advise, evaluate, exit_bar, exit_reason
from fra.core.risk import RiskLimits, capital_needed, check_open, largest_notional
from fra.errors import ExitCode

D = Decimal
H8 = 8 * HOUR_MS


def prints(*rates: str, hours: int = 8, start: int = 0) -> list[Print]:
    return [Print(start + i * hours * HOUR_MS, D(r), hours) for i, r in enumerate(rates)]


def test_no_forecast_below_the_minimum_history() -> None:
    few = prints(*["0.001"] * (MIN_PRINTS - 1))
    assert track(few, 72, None).mean is None
    assert forecast(None, D("0.001"), ForecastParams(72, D("0.5"))) is None, (
        "a prediction alone is not a history"
    )
    assert track(prints(*["0.001"] * MIN_PRINTS), 72, None).mean == D("0.001")


def test_weights_halve_every_half_life() -> None:
    # Half-life 8h, prints 8h apart: weights 1/4, 1/2, 1 (each print covers 8 hours).
    t = track(prints("0.0004", "0.0002", "0.0001"), 8, None)
    expected = (D("0.0004") / 4 + D("0.0002") / 2 + D("0.0001")) / (D(1) / 4 + D(1) / 2 + 1)
    assert t.mean == expected.quantize(D("1e-12"))


def test_a_1h_symbol_counts_as_much_as_an_8h_one() -> None:
    # 0.0001 per hour for 24 hours is 0.0008 per 8h, whatever the interval.
    hourly = track(prints(*["0.0001"] * 24, hours=1), 72, None)
    eight = track(prints(*["0.0008"] * 3), 72, None)
    assert hourly.mean == eight.mean == D("0.0008")


def test_a_print_counts_once_and_jitter_is_ignored() -> None:
    three = prints("0.0001", "0.0003", "0.0002")
    once = track(three, 24, None)
    again = track([*three, *three], 24, None)
    assert again.mean == once.mean and again.count == 3
    # Settlement times carry millisecond jitter on the venues: whole hours are what count.
    jittered = [three[0], *(p._replace(time_ms=p.time_ms + 1) for p in three[1:])]
    assert track(jittered, 24, None).mean == once.mean


def test_prediction_blend() -> None:
    p = ForecastParams(72, D("0.25"))
    assert forecast(D("0.0004"), D("0.0008"), p) == D("0.0005")
    assert forecast(D("0.0004"), None, p) == D("0.0004")
    assert forecast(D("0.0004"), D("0.0008"), ForecastParams(72, D(0))) == D("0.0004")


def test_stop_tracks_how_long_every_print_was_below_it() -> None:
    t = Tracker(72, D("-0.0005"))
    for p in prints("0.0001", "-0.001", "-0.002", start=0):
        t.add(p)
    assert t.below_since_ms == H8  # the first of the run below the stop
    t.add(Print(3 * H8, D("-0.0004"), 8))  # above the stop again: the run is over
    assert t.below_since_ms is None


def row(rate: str = "0.0003", **kw: object):
    from fra.core.models import SnapshotRow

    base = dict(
        perp_symbol="ETH/USDT:USDT",
        spot_symbol="ETH/USDT",
        funding_rate=D(rate),
        interval_hours=8,
        next_funding_ms=0,
        mark_price=D(2000),
        perp_bid=D(2000),
        perp_ask=D(2000),
        spot_bid=D(2000),
        spot_ask=D(2000),
        quote_volume_24h=D(10**9),
        perp_taker_fee=D("0.0005"),
        spot_taker_fee=D("0.001"),
    )
    base.update(kw)
    return SnapshotRow(**base)


def test_entry_and_exit_bars_differ_by_the_costs() -> None:
    params = RankParams(D("0.0001"), D(0), 21, exit_rate=D(0))
    # Round trip 0.3 % (fees, no spread): entry needs 21 x forecast > 0.3 %.
    assert evaluate(row(), params, False, False, Signal(D("0.000143"))).eligible
    assert not evaluate(row(), params, False, False, Signal(D("0.000142"))).eligible
    held = evaluate(row(), params, True, False, Signal(D("-0.00007")))
    assert exit_bar(held, params) == D(0) - D("0.0015") / 21
    # A dip between the bars is held through; below the exit bar it closes.
    assert exit_reason(held, Signal(D("-0.00007")), params, 0) is None
    below = evaluate(row(), params, True, False, Signal(D("-0.00008")))
    assert "below the exit bar" in exit_reason(below, Signal(D("-0.00008")), params, 0)


def test_the_stop_closes_after_its_hours_whatever_the_forecast() -> None:
    params = RankParams(D("0.0001"), D(0), 21, exit_rate=D(0), stop_rate=D("-0.0005"))
    r = evaluate(row(), params, True, False, Signal(D("0.001"), below_stop_since_ms=0))
    assert exit_reason(r, Signal(D("0.001"), 0), params, 23 * HOUR_MS) is None
    assert "stop rate" in exit_reason(r, Signal(D("0.001"), 0), params, 24 * HOUR_MS)


def test_advice_says_what_the_rules_would_do() -> None:
    params = RankParams(D("0.0001"), D(0), 21, exit_rate=D(0))
    rows = [
        row(perp_symbol="A/USDT:USDT", spot_symbol="A/USDT"),
        row(perp_symbol="B/USDT:USDT", spot_symbol="B/USDT"),
    ]
    signals = {"A/USDT:USDT": Signal(D("0.0002")), "B/USDT:USDT": Signal(D("0.002"))}
    from fra.core.ranking import rank

    ranked = rank(rows, params, {"A/USDT:USDT"}, False, signals)
    full = advise(ranked, {"A/USDT:USDT"}, signals, params, 0, slots=0)
    assert full["B/USDT:USDT"].action == "rotate in"
    assert full["A/USDT:USDT"].action == "rotate out"
    free = advise(ranked, {"A/USDT:USDT"}, signals, params, 0, slots=1)
    assert free["B/USDT:USDT"].action == "open" and free["A/USDT:USDT"].action == "hold"


def test_sizes_follow_equity() -> None:
    limits = RiskLimits(3, None, None, 3, D("0.5"), D("1"))
    per_unit = capital_needed(D(1), 3, D("0.001"), D("0.0005"))
    small = largest_notional(limits, D(0), D(1000), per_unit, D(1000))
    large = largest_notional(limits, D(0), D(100000), per_unit, D(100000))
    assert small == (D(500) / per_unit).quantize(D("0.01"), rounding="ROUND_DOWN")
    assert large / small == pytest.approx(100, rel=1e-4)
    refusals = check_open(
        limits=limits,
        notional=small * 3,
        open_positions=0,
        exposure=D(0),
        free_quote=D(1000),
        needed=small * 3 * per_unit,
        halt_reason=None,
        already_held=False,
        equity=D(1000),
        per_unit=per_unit,
    )
    assert [r.rule for r in refusals] == [
        "max_position_fraction",
        "max_total_fraction",
        "insufficient_balance",
    ]


@pytest.mark.parametrize(
    "env, name",
    [
        ({"FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS": "0"}, "FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS"),
        ({"FRA_STRATEGY__PREDICTED_WEIGHT": "1.5"}, "FRA_STRATEGY__PREDICTED_WEIGHT"),
        ({"FRA_STRATEGY__STOP_FUNDING_RATE": "0.001"}, "FRA_STRATEGY__STOP_FUNDING_RATE"),
        ({"FRA_RISK__MAX_POSITION_FRACTION": "2"}, "FRA_RISK__MAX_POSITION_FRACTION"),
        ({"FRA_RISK__MAX_TOTAL_FRACTION": "0"}, "FRA_RISK__MAX_TOTAL_FRACTION"),
    ],
)
def test_forecast_and_sizing_settings_out_of_range(fra: Fra, env: dict, name: str) -> None:
    fra("run-cycle")
    before = fra.fingerprint()
    result = fra("run-cycle", code=ExitCode.BAD_INPUT, **env)
    assert name in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fra.fingerprint() == before


@pytest.mark.parametrize("off", ["off", "", "none"])
def test_the_stop_and_the_usd_caps_can_be_switched_off(fra: Fra, off: str) -> None:
    on = fra.json("config")
    assert on["strategy"]["stop_funding_rate"] == "-0.0003"
    config = fra.json("config", FRA_STRATEGY__STOP_FUNDING_RATE=off, FRA_RISK__MAX_POSITION_USD=off)
    assert config["strategy"]["stop_funding_rate"] is None
    assert config["risk"]["max_position_usd"] is None
