"""Margin management: topping up a short's isolated margin before it becomes an emergency.

In a rally the short loses what the spot leg gains, but only the short can be liquidated. Each
cycle, before the margin levels are judged, every open short whose ratio is above
FRA_RISK__MARGIN_TOPUP is brought back to FRA_RISK__MARGIN_TARGET, the cheapest way
`fra.core.margin.plan_topup` finds: margin from the futures wallet, then USDT moved over from
the spot wallet, then both legs shrunk together. The emergency stop stays the last line.

Every step is written to `margin_actions` before it is sent and marked with its outcome after,
like an order. A step whose outcome is unknown (a timeout, a process killed) is looked up in the
venue's own history of transfers and margin changes: found, it is done; not found once it can
no longer arrive, it never happened and the next plan starts from what the account holds. A
step is never sent twice.
"""

from __future__ import annotations

import logging
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from fra.app import App
from fra.core.margin import (
    Cushions,
    Funds,
    MarginPlan,
    Short,
    ShrinkCosts,
    leg_band,
    margin_needed,
    plan_topup,
)
from fra.core.models import Side
from fra.core.positions import Position, PositionState
from fra.core.sizing import ceil_step
from fra.engine.close import flatten, spot_sellable
from fra.engine.market import delisted
from fra.engine.orders import place, reload, resolve_pending
from fra.errors import VenueFailure
from fra.store.db import MarginActionRow
from fra.venues.base import MoneyMove, VenueError

log = logging.getLogger("fra.margin")

CENT = Decimal("0.01")
# Steps one leg may take in a cycle: a shrink, a transfer and an add, each with one retry
# after the plan is made again. A leg still above its trigger then is judged by the levels.
MAX_STEPS = 6
# How far before a step's intent its record in the venue's history may be stamped: fra's idea
# of the exchange's clock is measured once per process, to within a round trip.
CLOCK_SLACK_MS = 60_000
TRANSFER, ADD, SHRINK = "transfer", "add_margin", "shrink"


def cushions_of(app: App) -> Cushions | None:
    """The top-up cushions from the settings; None when top-ups are off (topup_cushion = 0)."""
    risk = app.settings.risk
    return Cushions(risk.topup_cushion, risk.target_cushion) if risk.topup_cushion else None


class _Cycle:
    """What one run of the margin step has learned about the venue so far."""

    def __init__(self) -> None:
        self.can_transfer = True  # until a transfer is refused: then not again this run
        self.actions: list[dict[str, str]] = []


def manage_margins(app: App) -> list[dict[str, str]]:
    """Top up every open short above the trigger; returns what was done, for the report."""
    cushions = cushions_of(app)
    if cushions is None:
        return []
    run = _Cycle()
    for position in app.store.positions([PositionState.OPEN]):
        if position.perp_short <= 0 or delisted(app, position):
            continue
        _manage_leg(app, position, cushions, run)
    return run.actions


def _manage_leg(app: App, position: Position, cushions: Cushions, run: _Cycle) -> None:
    shrunk = False
    for _ in range(MAX_STEPS):
        m = app.executor.perp_margin(position.perp_symbol)
        if m is None or m.amount <= 0 or m.mark_price <= 0:
            return  # no short: a liquidation is settled by the margin check
        # The bracket rate net of its maintenance amount, at this size: exact for the margin
        # to add; for a shrunk position, whose bracket rate can only be lower, it overstates
        # the maintenance margin, so a shrink is never planned too small.
        rate = m.maintenance_margin / (m.amount * m.mark_price)
        short = Short(m.amount, m.entry_price, m.mark_price, m.margin, rate)
        band = leg_band(cushions, position.leverage, rate)
        if band is None or short.ratio <= band.trigger:
            return
        wallets = app.executor.wallets()
        funds = Funds(wallets.futures, wallets.spot, can_transfer=run.can_transfer)
        plan = plan_topup(short, funds, band, _costs(app, position))
        if not plan.acts:
            return
        if plan.shrink > 0:
            if shrunk:
                # What the venue freed fell short of the plan (fees, rounding, what the wallet
                # counts as available): put in what there is rather than leave the leg as it was.
                log.error(
                    "position %s %s: cushion %.2f%% still below %.2f%% after shrinking",
                    position.id,
                    position.perp_symbol,
                    short.cushion * 100,
                    cushions.trigger * 100,
                )
                amount = min(_up(margin_needed(short, band.target)), _down(wallets.futures))
                if amount > 0:
                    _add(app, position, short, amount, run)
                return
            shrunk = True
            position = _shrink(app, position, short, plan, run)
            if position.state is not PositionState.OPEN:
                return
            continue
        if plan.transfer > 0:
            amount = min(_up(plan.transfer), _down(wallets.spot))
            if amount > 0:
                if not _transfer(app, position, short, amount, run):
                    run.can_transfer = False
                continue
            # Less than a cent to move: what the futures wallet holds is as good as the target.
        amount = min(_up(plan.add), _down(wallets.futures))
        if amount <= 0 or not _add(app, position, short, amount, run):
            return


def _costs(app: App, position: Position) -> ShrinkCosts:
    markets = app.market.markets()
    perp, spot = markets[position.perp_symbol], markets[position.spot_symbol]
    bids = app.market.order_book(position.spot_symbol, 5).bids
    return ShrinkCosts(
        spot_price=bids[0][0] if bids else None,
        spot_fee=spot.taker_fee,
        perp_fee=perp.taker_fee,
        step=max(perp.amount_step, spot.amount_step),
    )


def _up(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_CEILING)


def _down(amount: Decimal) -> Decimal:
    return max(amount.quantize(CENT, rounding=ROUND_FLOOR), Decimal(0))


# -- the steps ----------------------------------------------------------------------------------


def _intent(app: App, position: Position, kind: str, amount: Decimal, short: Short) -> int:
    with app.store.tx():
        return app.store.add_margin_action(
            position_id=position.id,
            kind=kind,
            symbol=position.perp_symbol,
            amount=amount,
            ratio_before=short.ratio,
            now_ms=app.now_ms(),
        )


def _record(
    app: App,
    run: _Cycle,
    action_id: int,
    state: str,
    *,
    ref: str = "",
    reason: str = "",
) -> None:
    with app.store.tx():
        app.store.finish_margin_action(
            action_id, state, now_ms=app.now_ms(), venue_ref=ref, reason=reason
        )
    run.actions.append(describe(app.store.margin_action(action_id)))


def describe(row: MarginActionRow) -> dict[str, str]:
    """One step as the cycle report lists it."""
    unit = "coins" if row.kind == SHRINK else "USDT"
    out = {
        "position_id": str(row.position_id),
        "symbol": row.symbol,
        "kind": row.kind,
        "amount": f"{row.amount:f}",
        "unit": unit,
        "state": row.state,
    }
    if row.ratio_before is not None:
        out["ratio_before"] = f"{row.ratio_before:.6f}"
    if row.venue_ref:
        out["venue_ref"] = row.venue_ref
    if row.reason:
        out["reason"] = row.reason
    return out


def _transfer(app: App, position: Position, short: Short, amount: Decimal, run: _Cycle) -> bool:
    """Spot -> futures wallet. False when the venue refused it (no rights, no balance)."""
    action_id = _intent(app, position, TRANSFER, amount, short)
    try:
        ref = app.executor.transfer_to_futures(amount)
    except VenueError as exc:
        if exc.temporary:
            return _resolve_and_record(app, run, action_id)
        reason = f"refused by {app.market.name}: {exc}"
        log.warning(
            "position %s %s: transfer of %s USDT to the futures wallet %s; shrinking both legs"
            " instead if the futures wallet is short (`fra doctor` checks the key's rights)",
            position.id,
            position.perp_symbol,
            amount,
            reason,
        )
        _record(app, run, action_id, "refused", reason=reason)
        return False
    _record(app, run, action_id, "done", ref=ref)
    log.info("moved %s USDT from the spot to the futures wallet (%s)", amount, ref)
    return True


def _add(app: App, position: Position, short: Short, amount: Decimal, run: _Cycle) -> bool:
    action_id = _intent(app, position, ADD, amount, short)
    try:
        app.executor.add_margin(position.perp_symbol, amount)
    except VenueError as exc:
        if exc.temporary:
            return _resolve_and_record(app, run, action_id)
        reason = f"refused by {app.market.name}: {exc}"
        log.error(
            "position %s %s: adding %s USDT of margin %s",
            position.id,
            position.perp_symbol,
            amount,
            reason,
        )
        _record(app, run, action_id, "refused", reason=reason)
        return False
    # The venue gives a margin change no id: its own history names it, for the record and so
    # that reconcile never claims it for another step.
    try:
        found = _look_up(app, app.store.margin_action(action_id))
    except VenueError as exc:
        log.warning("margin added, but the venue's history of it is unreadable: %s", exc)
        found = None
    _record(app, run, action_id, "done", ref=found.ref if found else "")
    log.warning(
        "position %s %s: cushion %.2f%% below %.2f%%: added %s USDT of isolated margin",
        position.id,
        position.perp_symbol,
        short.cushion * 100,
        app.settings.risk.topup_cushion * 100,
        amount,
    )
    return True


def _shrink(app: App, position: Position, short: Short, plan: MarginPlan, run: _Cycle) -> Position:
    """Buy back part of the short, then sell only the spot it no longer hedges."""
    markets = app.market.markets()
    perp, spot = markets[position.perp_symbol], markets[position.spot_symbol]
    price = short.mark_price
    step = max(perp.amount_step, spot.amount_step)
    # Large enough for both legs' minimums, or the spot could not follow the short down.
    least = max(perp.min_amount, spot.min_amount, spot.min_notional / price)
    amount = ceil_step(max(plan.shrink, least), step)
    rest = position.perp_short - amount
    why = (
        f"cushion {short.cushion:.2%} below {app.settings.risk.topup_cushion:.2%} and not"
        " enough USDT to top it up"
    )
    if rest < perp.min_amount or rest * price < perp.min_notional or plan.shrink >= short.amount:
        action_id = _intent(app, position, SHRINK, position.perp_short, short)
        log.error("position %s %s: %s: closing it", position.id, position.perp_symbol, why)
        closed = flatten(app, position, PositionState.CLOSED, f"margin: {why}")
        state = "done" if closed.state.is_final else "pending"
        _record(app, run, action_id, state, reason="closed the position")
        return closed
    action_id = _intent(app, position, SHRINK, amount, short)
    log.warning(
        "position %s %s: %s: shrinking both legs by %s",
        position.id,
        position.perp_symbol,
        why,
        amount,
    )
    result = place(
        app,
        position,
        leg="perp",
        purpose="close",
        side=Side.BUY,
        amount=amount,
        reduce_only=True,
    )
    position = reload(app, position)
    if result is None or result.filled <= 0:
        reason = result.reason if result is not None else "never reached the venue"
        _record(app, run, action_id, "refused", reason=f"the buy-back did not fill: {reason}")
        return position
    return _rehedge(app, position, action_id, run)


def _rehedge(app: App, position: Position, action_id: int, run: _Cycle) -> Position:
    """Sell the spot the short no longer hedges (what was bought back), then close the
    shrink's record. Also finishes a shrink a dead process left half-done."""
    position = resolve_pending(app, position)
    sellable = spot_sellable(app, position)
    if sellable > 0:
        place(app, position, leg="spot", purpose="hedge", side=Side.SELL, amount=sellable)
        position = reload(app, position)
    state = "pending" if position.pending_fills else "done"
    reason = f"short now {position.perp_short}, spot {position.spot_held}"
    _record(app, run, action_id, state, reason=reason)
    return position


# -- finding out what happened ------------------------------------------------------------------


def _look_up(app: App, row: MarginActionRow) -> MoneyMove | None:
    """The venue's record of a transfer or margin addition, not yet claimed by another step."""
    since = row.created_ms - CLOCK_SLACK_MS
    if row.kind == TRANSFER:
        moves = app.executor.transfers_to_futures(since)
    else:
        moves = app.executor.margin_additions(row.symbol, since)
    claimed = app.store.claimed_refs(row.kind)
    for move in moves:
        if move.ref not in claimed and move.amount == row.amount:
            return move
    return None


def _resolve(app: App, row: MarginActionRow) -> MoneyMove | None:
    """Look a step up; "not found" counts only once it could no longer reach the venue."""
    try:
        found = _look_up(app, row)
        wait_ms = row.created_ms + app.executor.in_flight_ms - app.now_ms()
        if found is None and wait_ms > 0:
            log.warning("%s %s not found yet; asking again in %d ms", row.kind, row.id, wait_ms)
            time.sleep(wait_ms / 1000)
            found = _look_up(app, row)
    except VenueError as exc:
        raise VenueFailure(
            f"cannot look up {row.kind} {row.id}: {exc}",
            "retry later; `fra run-cycle` reconciles",
        ) from None
    return found


def _resolve_and_record(app: App, run: _Cycle, action_id: int) -> bool:
    found = _resolve(app, app.store.margin_action(action_id))
    if found is None:
        _record(app, run, action_id, "unsent", reason="never reached the venue")
        return False
    _record(app, run, action_id, "done", ref=found.ref)
    return True


def reconcile_margin_actions(app: App) -> list[str]:
    """Finish the steps an interrupted process left pending: each is found in the venue's
    history (done) or not (unsent: the next plan starts from what the account holds)."""
    done: list[str] = []
    run = _Cycle()
    for row in app.store.margin_actions(["pending"]):
        if row.kind == SHRINK:
            position = app.store.position(row.position_id)
            if position is None or position.state is not PositionState.OPEN:
                # A close (or its reconcile) owns the legs now; the shrink is over.
                with app.store.tx():
                    app.store.finish_margin_action(
                        row.id, "done", now_ms=app.now_ms(), reason="position no longer open"
                    )
            else:
                _rehedge(app, position, row.id, run)
        elif row.kind == ADD and row.symbol not in app.market.markets():
            # Delisted since: its margin history can no longer be read, and the exchange
            # settles the position itself (README, "Delisted symbols").
            log.error("margin %s %s on %s: delisted, outcome unknown", row.kind, row.id, row.symbol)
            with app.store.tx():
                app.store.finish_margin_action(
                    row.id,
                    "unknown",
                    now_ms=app.now_ms(),
                    reason=f"{row.symbol} delisted: see the exchange's margin and transfer history",
                )
        else:
            _resolve_and_record(app, run, row.id)
        state = app.store.margin_action(row.id).state
        line = f"margin {row.kind} {row.id} ({row.symbol}, {row.amount}) -> {state}"
        log.warning("reconcile: %s", line)
        done.append(line)
    return done
