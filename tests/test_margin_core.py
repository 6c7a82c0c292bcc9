"""The margin top-up decision (fra.core.margin): worked examples and properties.

Plans are checked by carrying them out on a tiny model of an isolated-margin exchange account,
written here independently of the code under test: buying back q coins of the short releases
q/amount of its margin and realizes q * (entry - price), both to the futures wallet; selling q
coins of spot raises q * price * (1 - fee) in the spot wallet.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fra.core.margin import (
    Band,
    Cushions,
    Funds,
    MarginPlan,
    Short,
    ShrinkCosts,
    leg_band,
    margin_needed,
    plan_topup,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
D = Decimal
BAND = Band(trigger=D("0.15"), target=D("0.05"))
# 2 coins short from 100 with a third of the notional as margin, now marked at 125:
# maintenance 2 * 125 * 0.01 = 2.5, balance 66 - 2 * 25 = 16, ratio 0.15625.
RALLIED = Short(D(2), D(100), D(125), D(66), D("0.01"))


class Account(NamedTuple):
    short: Short
    futures: Decimal
    spot: Decimal


def carry_out(short: Short, funds: Funds, costs: ShrinkCosts, plan: MarginPlan) -> Account:
    """The plan, step by step, on the model account; fails if a step spends what isn't there."""
    futures, spot = funds.futures_free, funds.spot_free
    if plan.shrink:
        q = plan.shrink
        assert 0 < q <= short.amount
        price = short.mark_price
        released = short.margin * q / short.amount
        futures += released + q * (short.entry_price - price) - q * price * costs.perp_fee
        spot_px = costs.spot_price if costs.spot_price is not None else price
        spot += q * spot_px * (1 - costs.spot_fee)
        short = short._replace(amount=short.amount - q, margin=short.margin - released)
    # Funded to within Decimal's 28 digits: a step computed as q x (price x (1 - fee)) may
    # differ from (q x price) x (1 - fee) in the last digit.
    if plan.transfer:
        assert funds.can_transfer
        assert plan.transfer <= spot * (1 + D("1e-20"))
        spot -= plan.transfer
        futures += plan.transfer
    if plan.add:
        assert plan.add <= futures * (1 + D("1e-20"))
        futures -= plan.add
        short = short._replace(margin=short.margin + plan.add)
    return Account(short, futures, spot)


# -- worked examples ---------------------------------------------------------------------------


def test_ratio_and_margin_needed_by_hand() -> None:
    assert RALLIED.maintenance_margin == D("2.5")
    assert RALLIED.margin_balance == D(16)
    assert RALLIED.ratio == D("0.15625")
    # 2.5 / 0.05 = 50 of margin balance wanted, 16 there: 34 to add.
    assert margin_needed(RALLIED, D("0.05")) == D(34)
    assert margin_needed(RALLIED, D("0.5")) == 0  # already better than that


def test_below_the_trigger_nothing_is_done() -> None:
    calm = RALLIED._replace(mark_price=D(110))
    assert calm.ratio < BAND.trigger
    assert plan_topup(calm, Funds(D(1000)), BAND) == MarginPlan()
    assert not plan_topup(calm, Funds(D(1000)), BAND).acts


def test_free_futures_usdt_comes_first() -> None:
    plan = plan_topup(RALLIED, Funds(futures_free=D(40), spot_free=D(1000)), BAND)
    assert plan == MarginPlan(add=D(34), ratio_after=D("0.05"))


def test_spot_usdt_is_transferred_when_futures_alone_is_short() -> None:
    plan = plan_topup(RALLIED, Funds(futures_free=D(10), spot_free=D(1000)), BAND)
    assert plan == MarginPlan(transfer=D(24), add=D(34), ratio_after=D("0.05"))
    after = carry_out(RALLIED, Funds(D(10), D(1000)), ShrinkCosts(), plan)
    assert after.short.ratio == D("0.05") and after.futures == 0


def test_shrink_when_both_wallets_are_short() -> None:
    # Nothing free anywhere. Per coin: equity 8, want 125 * 0.01 / 0.05 = 25 of balance, so 17
    # more per coin kept; buying back one coin frees its 8 and selling one raises 125:
    # (2 - q) * 17 <= q * (8 + 125)  ->  q >= 34 / 150.
    funds = Funds(D(0), D(0))
    plan = plan_topup(RALLIED, funds, BAND)
    assert plan.shrink == D(34) / D(150)
    after = carry_out(RALLIED, funds, ShrinkCosts(), plan)
    assert after.short.ratio == pytest.approx(D("0.05"), rel=D("1e-20"))
    # On a 0.001 step the shrink is rounded up; what it raises beyond the target stays put.
    stepped = plan_topup(RALLIED, funds, BAND, ShrinkCosts(step=D("0.001")))
    assert stepped.shrink == D("0.227")
    after = carry_out(RALLIED, funds, ShrinkCosts(), stepped)
    assert after.short.ratio == D("0.05") and after.futures == 0 and after.spot > 0


def test_without_transfers_only_the_futures_side_of_a_shrink_helps() -> None:
    # The spot proceeds stay in the spot wallet: (2 - q) * 17 <= q * 8  ->  q >= 34 / 25.
    funds = Funds(D(0), D(1000), can_transfer=False)
    plan = plan_topup(RALLIED, funds, BAND)
    assert plan.shrink == D(34) / D(25) and plan.transfer == 0
    after = carry_out(RALLIED, funds, ShrinkCosts(), plan)
    assert after.short.ratio == pytest.approx(D("0.05"), rel=D("1e-20"))
    assert after.spot == 1000 + plan.shrink * 125  # raised, and left where it was raised


def test_a_bankrupt_short_is_shrunk_entirely() -> None:
    # Past its bankruptcy price the short has no equity to free, and nothing can be moved.
    gone = RALLIED._replace(mark_price=D(140))
    assert gone.margin_balance < 0
    plan = plan_topup(gone, Funds(D(0), D(0), can_transfer=False), BAND)
    assert plan.shrink == gone.amount and plan.add == 0


def test_cushions_are_the_same_distance_to_liquidation_for_every_coin() -> None:
    cushions = Cushions(trigger=D("0.1"), target=D("0.3"))
    # BTC at 3x (0.4 % maintenance): ratio = rate / (rate + cushion).
    btc = leg_band(cushions, 3, D("0.004"))
    assert btc == Band(D("0.004") / D("0.104"), D("0.004") / D("0.304"))
    # A short whose cushion is exactly the trigger sits exactly at the trigger ratio.
    at = Short(D(1), D(100), D(100), D("10.4"), D("0.004"))
    assert at.cushion == D("0.1") and at.ratio == btc.trigger
    # A 5 % coin at 3x opened with a 28.3 % cushion: back to that, not to 30 % (more margin
    # than its leverage gave it).
    opened = 1 / D(3) - D("0.05")
    assert leg_band(cushions, 3, D("0.05")) == Band(
        D("0.05") / D("0.15"), D("0.05") / (D("0.05") + opened)
    )
    # At 10x it opened with less than the trigger: the target setting it is.
    assert leg_band(cushions, 10, D("0.05")) == Band(D("0.05") / D("0.15"), D("0.05") / D("0.35"))
    # No maintenance margin, nothing to keep from it.
    assert leg_band(cushions, 3, D(0)) is None


def test_band_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="below the trigger"):
        plan_topup(RALLIED, Funds(D(100)), Band(trigger=D("0.05"), target=D("0.1")))


# -- properties ---------------------------------------------------------------------------------


def dec(lo: int, hi: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(lo, hi).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Short, Funds, Band, ShrinkCosts]:
    entry = draw(dec(100, 10_000_000, 2))
    amount = draw(dec(1, 100_000, 3))
    leverage = draw(st.integers(1, 20))
    rate = draw(dec(1, 50, 3))  # 0.1 % .. 5 %
    rise = draw(dec(0, 2_000, 3))  # the mark up to 3x the entry
    short = Short(amount, entry, entry * (1 + rise), amount * entry / leverage, rate)
    funds = Funds(draw(dec(0, 10**9, 2)), draw(dec(0, 10**9, 2)), can_transfer=draw(st.booleans()))
    target = draw(dec(10, 400, 3))
    band = Band(target + draw(dec(1, 400, 3)), target)
    costs = ShrinkCosts(
        spot_price=short.mark_price * (1 - draw(dec(0, 50, 4))),
        spot_fee=draw(dec(0, 20, 4)),
        perp_fee=draw(dec(0, 10, 4)),
        step=draw(st.sampled_from([D(0), D("0.001"), D("0.1"), D(1)])),
    )
    return short, funds, band, costs


@FAST
@given(cases())
def test_a_plan_is_affordable_and_reaches_the_target(
    case: tuple[Short, Funds, Band, ShrinkCosts],
) -> None:
    short, funds, band, costs = case
    plan = plan_topup(short, funds, band, costs)
    if short.ratio <= band.trigger:
        assert not plan.acts
        return
    assert plan.acts
    after = carry_out(short, funds, costs, plan)  # asserts every step is funded
    if plan.shrink == short.amount:
        return  # nothing left to protect
    assert after.short.ratio <= band.target * (1 + D("1e-18")), plan


@FAST
@given(cases())
def test_the_cheapest_means_is_used(case: tuple[Short, Funds, Band, ShrinkCosts]) -> None:
    short, funds, band, costs = case
    assume(short.ratio > band.trigger)
    plan = plan_topup(short, funds, band, costs)
    need = margin_needed(short, band.target)
    reachable = funds.futures_free + (funds.spot_free if funds.can_transfer else 0)
    if not funds.can_transfer:
        assert plan.transfer == 0
    if need <= funds.futures_free:
        assert (plan.shrink, plan.transfer, plan.add) == (0, 0, need)
    elif need <= reachable:
        assert plan.shrink == 0 and plan.transfer == need - funds.futures_free
    else:
        assert plan.shrink > 0
        step = costs.step or None
        if step is not None and plan.shrink < short.amount and plan.shrink > step:
            # One step less would not have been enough: the shrink is the smallest on the step.
            smaller = plan._replace(shrink=plan.shrink - step)
            rest = carry_out(short, funds, costs, smaller._replace(transfer=0, add=0))
            more = margin_needed(rest.short, band.target)
            assert more > rest.futures + (rest.spot if funds.can_transfer else 0)
