"""Finish or unwind what an interrupted process left half-done."""

from __future__ import annotations

import logging
from decimal import Decimal

from fra.app import App
from fra.core.positions import HELD_STATES, PositionState, delta_mismatch
from fra.engine.close import flatten
from fra.engine.orders import resolve_pending
from fra.engine.topup import reconcile_margin_actions
from fra.store.db import Store
from fra.venues.base import Untracked

log = logging.getLogger("fra.reconcile")


def reconcile(app: App) -> list[str]:
    """Bring every position in a transitional state to a stable one. Returns what was done."""
    done: list[str] = []
    for position in app.store.positions([PositionState.OPENING, PositionState.CLOSING]):
        position = resolve_pending(app, position)
        if position.state is PositionState.CLOSING:
            position = flatten(app, position, PositionState.CLOSED, "close resumed by reconcile")
        elif (
            position.perp_short > 0
            and delta_mismatch(position.spot_held, position.perp_short)
            <= app.settings.risk.delta_tolerance
        ):
            # Both legs filled and hedged; only the final "open" mark was lost.
            with app.store.tx():
                app.store.set_position_state(position.id, PositionState.OPEN, now_ms=app.now_ms())
            position = app.store.position(position.id) or position
        else:
            position = flatten(
                app, position, PositionState.UNWOUND, "open interrupted: unwound by reconcile"
            )
        action = f"position {position.id} {position.perp_symbol} -> {position.state.value}"
        log.warning("reconcile: %s", action)
        done.append(action)
    done += reconcile_margin_actions(app)
    done += account_differences(app)
    return done


def books(store: Store) -> dict[str, tuple[str, Decimal, Decimal]]:
    """perp symbol -> (spot symbol, spot held, perp short), summed over the held positions."""
    held: dict[str, tuple[str, Decimal, Decimal]] = {}
    for p in store.positions(HELD_STATES):
        spot, coins, short = held.get(p.perp_symbol, (p.spot_symbol, Decimal(0), Decimal(0)))
        held[p.perp_symbol] = (spot, coins + p.spot_held, short + max(p.perp_short, Decimal(0)))
    return held


def account_differences(app: App) -> list[str]:
    """Compare the books with the exchange's open orders, positions and balances (live)."""
    held = books(app.store)
    if not held:
        return []
    found = app.executor.account_differences(held, f"fra{app.store.instance}-")
    for line in found:
        log.error("reconcile with the exchange: %s", line)
    return found


def untracked(app: App) -> list[Untracked]:
    """What the account holds that the books do not explain; fra never trades it by itself."""
    found = app.executor.untracked(books(app.store))
    for u in found:
        log.error(
            "the exchange holds %s %s %s that fra's books do not explain: a person must look"
            " (`fra adopt %s` takes a hedged pair into the books)",
            u.amount,
            u.symbol,
            "short" if u.kind == "short" else "coins",
            u.perp_symbol,
        )
    return found
