"""Keeping a short's margin inside a band: the decision, as pure Decimal arithmetic.

The margin ratio of an isolated short is maintenance margin / margin balance, where the margin
balance is the isolated margin posted plus the unrealized P&L (1 = liquidation). In a rally the
short loses what the spot leg gains, but only the short can be liquidated: its margin has to
follow the price. `plan_topup` says how, for one leg, when its ratio is above `Band.trigger`:
bring it back to `Band.target` by, in this order of preference,

1. adding isolated margin from the futures wallet's free USDT;
2. moving USDT from the spot wallet to the futures wallet first, then adding it;
3. shrinking both legs by the same quantity (buy back part of the short, sell as much spot),
   and adding what that frees to the margin of the rest.

Shrinking alone does not lower the ratio (maintenance margin and margin balance both scale with
the quantity); what helps is that buying back `q` coins of the short hands their share of the
margin balance back to the futures wallet, and selling `q` coins of spot raises USDT in the
spot wallet, which can be moved over when transfers are possible.

Used by the live cycle (`fra.engine.topup`) and by the backtest replay. No I/O.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import NamedTuple

ZERO = Decimal(0)
ONE = Decimal(1)


class Cushions(NamedTuple):
    """How far a short should stay from liquidation (FRA_RISK__TOPUP_CUSHION and
    FRA_RISK__TARGET_CUSHION), as the cushion: margin balance less maintenance margin, over the
    notional, which is about the rally that would liquidate it. Unlike a margin ratio it means
    the same for every coin: a 12 % cushion is 0.4 % maintenance margin and 12.4 % balance for
    BTC, 5 % and 17 % for a coin in a 5 % bracket."""

    trigger: Decimal  # act when a leg's cushion is below this
    target: Decimal  # ...and bring it back up to this


class Band(NamedTuple):
    """The margin ratios that delimit a healthy short, for one leg (`leg_band`)."""

    trigger: Decimal  # act when the leg's ratio is above this
    target: Decimal  # ...and bring it back down to this


class Short(NamedTuple):
    """One isolated short, valued at the mark price."""

    amount: Decimal  # coins short, positive
    entry_price: Decimal
    mark_price: Decimal
    margin: Decimal  # isolated margin posted, USDT
    # Maintenance margin / notional at this size: with leverage brackets, the bracket's rate
    # less its maintenance amount over the notional (fra.core.brackets.maintenance_rate).
    maintenance_rate: Decimal

    @property
    def maintenance_margin(self) -> Decimal:
        return self.amount * self.mark_price * self.maintenance_rate

    @property
    def margin_balance(self) -> Decimal:
        return self.margin + self.amount * (self.entry_price - self.mark_price)

    @property
    def cushion(self) -> Decimal:
        """(margin balance - maintenance margin) / notional: about the rally that liquidates."""
        return self.margin_balance / (self.amount * self.mark_price) - self.maintenance_rate

    @property
    def ratio(self) -> Decimal:
        balance = self.margin_balance
        if balance <= 0:
            return Decimal("Infinity")
        return self.maintenance_margin / balance


class Funds(NamedTuple):
    """USDT the account can put behind a short.

    A venue with a single pool of USDT (fra's paper account, the backtest's cash) passes it all
    as `futures_free`, `spot_free` 0 and `can_transfer` True: what selling spot raises lands in
    the same pool."""

    futures_free: Decimal  # can be added as isolated margin right away
    spot_free: Decimal = ZERO  # can be added after a spot -> futures transfer
    # Whether spot-wallet USDT, the free balance and what selling spot raises, can reach the
    # futures wallet (False: an API key without transfer rights, or a transfer just refused).
    can_transfer: bool = True


class ShrinkCosts(NamedTuple):
    """What shrinking both legs costs and how finely it can be done."""

    spot_price: Decimal | None = None  # where the spot sells (best bid); the mark when None
    spot_fee: Decimal = ZERO  # taker fee of the spot sale, a fraction of its value
    perp_fee: Decimal = ZERO  # taker fee of the buy-back, paid from the futures wallet
    step: Decimal = ZERO  # both legs trade in multiples of this; 0 = any quantity


class MarginPlan(NamedTuple):
    """What to do, in this order: shrink, then transfer, then add. All zero: nothing to do."""

    shrink: Decimal = ZERO  # coins to buy back of the short and to sell of the spot
    transfer: Decimal = ZERO  # USDT to move from the spot wallet to the futures wallet
    add: Decimal = ZERO  # USDT to add to the short's isolated margin
    ratio_after: Decimal | None = None  # the leg's ratio once all of it is done (at this mark)

    @property
    def acts(self) -> bool:
        return bool(self.shrink or self.transfer or self.add)


def leg_band(cushions: Cushions, leverage: int, maintenance_rate: Decimal) -> Band | None:
    """The cushions as margin ratios of one leg at its maintenance rate (ratio = rate /
    (rate + cushion)); None for a leg without maintenance margin. The target is never more than
    the cushion the short was opened with (1 / leverage - rate) when that is above the trigger:
    a coin with a high maintenance rate is restored to the margin its leverage gave it, not to
    more."""
    if maintenance_rate <= 0:
        return None
    target = cushions.target
    opened = ONE / leverage - maintenance_rate
    if cushions.trigger < opened < target:
        target = opened
    rate = maintenance_rate
    return Band(trigger=rate / (rate + cushions.trigger), target=rate / (rate + target))


def margin_needed(short: Short, target: Decimal) -> Decimal:
    """USDT to add to the isolated margin so that the ratio is `target` at this mark price.

    ratio = MM / (margin + upnl), so the margin balance that gives `target` is MM / target, and
    what is missing is MM / target - (margin + upnl). Zero when the ratio is already there."""
    if target <= 0:
        raise ValueError(f"target ratio must be positive, got {target}")
    return max(short.maintenance_margin / target - short.margin_balance, ZERO)


def plan_topup(
    short: Short, funds: Funds, band: Band, costs: ShrinkCosts = ShrinkCosts()
) -> MarginPlan:
    """The cheapest way back to `band.target` for a short whose ratio is above `band.trigger`.

    Returns an empty plan when the ratio is at or below the trigger. When even shrinking the
    whole position cannot fund the rest (it then has no equity left to free), the plan shrinks
    all of it: that is closing the position."""
    if not band.target < band.trigger:
        raise ValueError(f"target {band.target} must be below the trigger {band.trigger}")
    if short.amount <= 0 or short.ratio <= band.trigger:
        return MarginPlan()
    need = margin_needed(short, band.target)
    spot_free = funds.spot_free if funds.can_transfer else ZERO
    if need <= funds.futures_free:
        return MarginPlan(add=need, ratio_after=band.target)
    if need <= funds.futures_free + spot_free:
        return MarginPlan(transfer=need - funds.futures_free, add=need, ratio_after=band.target)
    return _shrink(short, funds, band.target, costs, spot_free)


def _shrink(
    short: Short, funds: Funds, target: Decimal, costs: ShrinkCosts, spot_free: Decimal
) -> MarginPlan:
    a, price = short.amount, short.mark_price
    equity = short.margin_balance / a  # margin balance per coin, freed by buying one back
    # Margin per coin still short that the target needs on top of its own equity.
    per_coin = price * short.maintenance_rate / target - equity
    freed = equity - price * costs.perp_fee  # lands in the futures wallet, per coin bought back
    raised = ZERO  # lands in the spot wallet, per coin sold
    if funds.can_transfer:
        spot_px = costs.spot_price if costs.spot_price is not None else price
        raised = spot_px * (ONE - costs.spot_fee)
    # (a - q) * per_coin <= futures_free + spot_free + q * (freed + raised), solved for q.
    denominator = per_coin + freed + raised
    have = funds.futures_free + spot_free
    if denominator <= 0:
        q = a
    else:
        q = min(max((a * per_coin - have) / denominator, ZERO), a)
        if costs.step > 0:
            q = min((q / costs.step).to_integral_value(rounding=ROUND_CEILING) * costs.step, a)
    rest = a - q
    if rest <= 0:
        return MarginPlan(shrink=a, ratio_after=ZERO)
    needed = rest * per_coin
    in_futures = funds.futures_free + q * freed
    transfer = min(max(needed - in_futures, ZERO), spot_free + q * raised)
    add = max(min(needed, in_futures + transfer), ZERO)
    balance = rest * equity + add
    ratio = rest * price * short.maintenance_rate / balance if balance > 0 else None
    return MarginPlan(shrink=q, transfer=transfer, add=add, ratio_after=ratio)
