"""`fra adopt`: take into the books a hedged pair the exchange holds and the books forgot.

A state file emptied or restored from an old backup no longer knows positions that are still
open on the exchange; each cycle reports them and never trades them on its own. Adopting one
makes it a position like any other: its funding is collected, its margin watched, and it is
closed by the usual rules. Its cost basis is unknown, so both legs enter the books at the
perpetual's mark price at adoption: P&L counts from then on.
"""

from __future__ import annotations

from decimal import Decimal

from fra.app import App
from fra.core.models import OrderResult, OrderStatus, Side
from fra.core.positions import Position, PositionState
from fra.core.sizing import floor_step
from fra.engine.open import validate_symbol
from fra.engine.reconcile import books
from fra.errors import BadInput, Refused


def adopt(app: App, symbol: str) -> Position:
    app.ready(opening=False)
    markets = app.market.markets()
    perp, spot = validate_symbol(markets, symbol)
    found = [u for u in app.executor.untracked(books(app.store)) if u.perp_symbol == perp.symbol]
    short = next((u.amount for u in found if u.kind == "short"), None)
    coins = next((u.amount for u in found if u.kind == "spot"), Decimal(0))
    if short is None:
        raise BadInput(
            f"the exchange holds no short on {perp.symbol} that fra's books do not explain",
            '`fra run-cycle --json` lists what is untracked under "untracked"',
        )
    amount = floor_step(min(short, coins), max(perp.amount_step, spot.amount_step))
    if short - amount > perp.amount_step:
        raise Refused(
            f"only {amount} of the {short} {perp.symbol} short is hedged by {spot.base} coins"
            " outside the books: adopting it would leave part of the short naked",
            f"buy {short - amount} {spot.base} on spot, or reduce the short by hand, then adopt",
        )
    quote = app.market.funding_quote(perp.symbol)
    now = app.now_ms()
    with app.store.tx():
        position_id = app.store.create_position(
            venue=app.market.name,
            mode=app.executor.mode,
            perp_symbol=perp.symbol,
            spot_symbol=spot.symbol,
            target_amount=amount,
            leverage=app.settings.risk.leverage,
            entry_rate=quote.rate,
            interval_hours=quote.interval_hours,
            now_ms=now,
        )
        for market, leg, side in ((spot, "spot", Side.BUY), (perp, "perp", Side.SELL)):
            cid = f"adopt-{position_id}-{leg}"  # never sent: nothing to look up on the venue
            app.store.add_order(
                client_order_id=cid,
                position_id=position_id,
                leg=leg,
                purpose="adopt",
                symbol=market.symbol,
                side=side.value,
                requested=amount,
                now_ms=now,
            )
            app.store.record_order(
                OrderResult(
                    client_order_id=cid,
                    symbol=market.symbol,
                    side=side,
                    status=OrderStatus.FILLED,
                    requested=amount,
                    filled=amount,
                    average_price=quote.mark_price,
                    fee=Decimal(0),
                    fee_currency=market.quote,
                    timestamp_ms=now,
                    reason="adopted: found on the exchange, not in the books",
                )
            )
        app.store.set_position_state(
            position_id,
            PositionState.OPEN,
            now_ms=now,
            note=f"adopted at mark {quote.mark_price}: P&L counts from adoption",
        )
    position = app.store.position(position_id)
    assert position is not None
    return position
