"""Live forecasts from the prints as state.db stores them (`track_stored`, the fast path
`fra rank` and the cycles take) are the replay's Tracker to the last digit."""

from __future__ import annotations

from decimal import Decimal

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
