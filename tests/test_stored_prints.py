"""Live forecasts from the prints as state.db stores them (`track_stored`, the fast path
`fra rank` and the cycles take) are the replay's Tracker to the last digit."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from conftest import Fra
from hypothesis import given, settings
from hypothesis import strategies as st

from fra.core.forecast import Print, Tracker, track, track_stored
from fra.core.models import HOUR_MS

RATES = st.one_of(
    st.sampled_from(["0.0001", "0.00010000", "-0.0003", "0", "0.000125", "-0.00005"]),
    st.decimals(min_value=Decimal("-0.03"), max_value=Decimal("0.03"), places=8).map(str),
    st.decimals(min_value=Decimal("-0.003"), max_value=Decimal("0.003"), places=12).map(str),
)
STEPS = st.one_of(
    st.sampled_from([HOUR_MS, 4 * HOUR_MS, 8 * HOUR_MS]),
    st.integers(min_value=-8 * HOUR_MS, max_value=30 * 24 * HOUR_MS),  # repeats, gaps, jitter
)


@st.composite
def stored_prints(draw: st.DrawFn) -> list[tuple[int, str, int]]:
    time_ms = draw(st.integers(min_value=1_500_000_000_000, max_value=1_800_000_000_000))
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=60))):
        time_ms += draw(STEPS)
        rows.append((time_ms, draw(RATES), draw(st.sampled_from([1, 2, 4, 8]))))
    return rows


def state(t: Tracker) -> tuple[object, ...]:
    return (t.total, t.weight, t.count, t.last_ms, t.below_since_ms, t.mean)


@settings(max_examples=300, deadline=None)
@given(
    rows=stored_prints(),
    half_life=st.sampled_from([1, 8, 72, 2160, 8760]),
    stop=st.sampled_from([None, Decimal("-0.0003"), Decimal("-0.00001")]),
)
def test_the_stored_path_is_the_tracker_to_the_last_digit(
    rows: list[tuple[int, str, int]], half_life: int, stop: Decimal | None
) -> None:
    prints = [Print(t, Decimal(rate), hours) for t, rate, hours in rows]
    reference = track(prints, half_life, stop)
    fast = track_stored(rows, half_life, stop)
    assert state(fast) == state(reference)
    # Exactly equal Decimals, digits and exponent alike: a str() of either is the same.
    assert (str(fast.total), str(fast.weight)) == (str(reference.total), str(reference.weight))
    # The tracker it returns carries on like one fed print by print (the replay's use).
    nxt = Print((rows[-1][0] if rows else 0) + 8 * HOUR_MS, Decimal("0.0002"), 8)
    fast.add(nxt)
    reference.add(nxt)
    assert state(fast) == state(reference)


# -- the Trackers a cycle keeps ----------------------------------------------------------------
# The harness pins the forecast to the venue's next rate; these tests set the default blend,
# so that the settled prints count.


def forecasts(fra: Fra) -> list[tuple[str, object, object]]:
    return [(r["symbol"], r["forecast_8h"], r["action"]) for r in fra.json("rank")["rows"]]


def afresh(fra: Fra) -> list[tuple[str, object, object]]:
    """What rank says with no Tracker kept: every symbol's prints fed again."""
    conn = sqlite3.connect(fra.db)
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'forecast_trackers'")
    conn.close()
    return forecasts(fra)


def test_rank_after_a_cycle_takes_its_trackers_and_says_the_same(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__STOP_FUNDING_RATE="-0.0001", FRA_STRATEGY__PREDICTED_WEIGHT="0.05")
    fra("run-cycle")
    kept = fra.query("SELECT value FROM meta WHERE key = 'forecast_trackers'")
    assert kept and len(json.loads(kept[0][0])) >= 10
    before = fra.fingerprint()
    cached = forecasts(fra)
    assert fra.fingerprint() == before, "a rank writes nothing"
    assert any(f is not None for _, f, _ in cached)
    assert cached == afresh(fra)


def test_new_prints_or_other_settings_are_not_answered_from_the_kept_trackers(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__PREDICTED_WEIGHT="0.05")
    fra("run-cycle")
    fra.advance(hours=9)  # a settlement of every symbol since the cycle
    assert forecasts(fra) == afresh(fra)
    fra("run-cycle")
    fra.set(FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS="24")
    assert forecasts(fra) == afresh(fra)


def test_a_damaged_kept_row_is_computed_again(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__PREDICTED_WEIGHT="0.05")
    fra("run-cycle")
    expected = forecasts(fra)
    conn = sqlite3.connect(fra.db)
    with conn:
        conn.execute("UPDATE meta SET value = '{not json' WHERE key = 'forecast_trackers'")
    conn.close()
    assert forecasts(fra) == expected


def test_rank_answers_from_the_kept_tracker_without_feeding_the_prints(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__PREDICTED_WEIGHT="0.05")
    fra("run-cycle")
    symbol, forecast, _ = next(r for r in forecasts(fra) if r[1] is not None)
    kept = json.loads(fra.query("SELECT value FROM meta WHERE key = 'forecast_trackers'")[0][0])
    # Doubled on purpose, under the same key: only a rank that reads it can show it.
    kept[symbol]["state"][0] = str(Decimal(kept[symbol]["state"][0]) * 2)
    conn = sqlite3.connect(fra.db)
    with conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'forecast_trackers'", (json.dumps(kept),)
        )
    conn.close()
    shown = dict((s, f) for s, f, _ in forecasts(fra))
    assert Decimal(shown[symbol]) != Decimal(forecast)
