"""Sending one order: intent committed first, then the order, then its result."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from fra.app import App
from fra.core.models import MarketType, OrderRequest, OrderResult, Side
from fra.core.positions import Position
from fra.errors import VenueFailure
from fra.venues.base import VenueError

log = logging.getLogger("fra.orders")

LEG_CODES = {"spot": "s", "perp": "p"}
PURPOSE_CODES = {"open": "o", "close": "c", "hedge": "h", "unwind": "u", "liquidation": "l"}


def client_order_id(instance: str, position_id: int, seq: int, leg: str, purpose: str) -> str:
    """Unique, replayable id (<= 36 chars of [A-Za-z0-9-], Binance's limit)."""
    return f"fra{instance}-{position_id}-{seq}{LEG_CODES[leg]}{PURPOSE_CODES[purpose]}"


def write_intent(
    app: App,
    position: Position,
    *,
    leg: str,
    purpose: str,
    side: Side,
    amount: Decimal,
    reduce_only: bool = False,
) -> OrderRequest:
    """Commit the order's row (state `pending`) and return the request to send: from here on a
    crash leaves a client order id that reconcile can look up."""
    symbol = position.spot_symbol if leg == "spot" else position.perp_symbol
    with app.store.tx():
        seq = len(app.store.orders(position.id)) + 1
        cid = client_order_id(app.store.instance, position.id, seq, leg, purpose)
        app.store.add_order(
            client_order_id=cid,
            position_id=position.id,
            leg=leg,
            purpose=purpose,
            symbol=symbol,
            side=side.value,
            requested=amount,
            now_ms=app.now_ms(),
        )
    return OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        market_type=MarketType.SPOT if leg == "spot" else MarketType.PERP,
        side=side,
        amount=amount,
        reduce_only=reduce_only,
    )


def place(
    app: App,
    position: Position,
    *,
    leg: str,
    purpose: str,
    side: Side,
    amount: Decimal,
    reduce_only: bool = False,
) -> OrderResult | None:
    """Place one leg's order. Returns None when the venue failed and the order never arrived."""
    request = write_intent(
        app,
        position,
        leg=leg,
        purpose=purpose,
        side=side,
        amount=amount,
        reduce_only=reduce_only,
    )
    cid, symbol = request.client_order_id, request.symbol
    sent_ms = app.now_ms()
    try:
        result = app.executor.submit(request)
    except VenueError as exc:
        log.warning("order %s failed at the venue: %s", cid, exc)
        # The order may have arrived before the error: look it up before deciding anything.
        return resolve(app, cid, symbol, sent_ms=sent_ms)
    with app.store.tx():
        app.store.record_order(result)
    log.info(
        "order %s %s %s %s: %s %s @ %s",
        cid,
        side.value,
        amount,
        symbol,
        result.status.value,
        result.filled,
        result.average_price,
    )
    return result


def resolve(app: App, cid: str, symbol: str, *, sent_ms: int) -> OrderResult | None:
    """Settle an order whose outcome we don't know, by asking the venue for its client id.

    An order sent at `sent_ms` may still be on its way (a dead process's last request, a slow
    gateway): "not found" only counts once the venue could no longer accept it. Deciding sooner
    would unwind the other leg and leave this one to fill unhedged."""
    try:
        found = app.executor.lookup(cid, symbol)
        wait_ms = sent_ms + app.executor.in_flight_ms - app.now_ms()
        if found is None and wait_ms > 0:
            log.warning(
                "order %s not found yet; it may be in flight: asking again in %d ms", cid, wait_ms
            )
            time.sleep(wait_ms / 1000)
            found = app.executor.lookup(cid, symbol)
    except VenueError as exc:
        raise VenueFailure(
            f"cannot look up order {cid}: {exc}", "retry later; `fra run-cycle` reconciles"
        ) from None
    with app.store.tx():
        if found is None:
            app.store.mark_order_unsent(cid, app.now_ms())
        else:
            app.store.record_order(found)
    return found


def resolve_pending(app: App, position: Position) -> Position:
    """Look up every order of the position still marked pending; returns it reloaded."""
    for fill in position.pending_fills:
        symbol = position.spot_symbol if fill.leg == "spot" else position.perp_symbol
        resolve(app, fill.client_order_id, symbol, sent_ms=fill.time_ms)
    return reload(app, position)


def reload(app: App, position: Position) -> Position:
    fresh = app.store.position(position.id)
    assert fresh is not None
    return fresh
