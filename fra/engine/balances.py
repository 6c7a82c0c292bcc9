"""The account's balances as the last cycle read them, kept for `fra status`.

`status` reads only the state file (it must answer when the exchange does not), so what the
exchange holds is recorded by the cycle that last asked it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from fra.app import App
from fra.core.positions import HELD_STATES
from fra.errors import StateError
from fra.store.db import Store
from fra.venues.base import VenueError

if TYPE_CHECKING:
    from fra.engine.safety import LegMargin

log = logging.getLogger("fra.cycle")
META_KEY = "balances"


class Balances(NamedTuple):
    spot: Decimal  # free USDT of the spot wallet
    futures: Decimal  # free USDT of the futures wallet
    equity: Decimal  # both wallets, the coins held and the shorts' margin balances
    at_ms: int
    cycle_id: int


def record_balances(app: App, cycle_id: int, measured: Mapping[str, LegMargin]) -> Balances | None:
    """Read both wallets and the equity fra sizes from (the shorts valued at the margins the
    cycle has just `measured`, by perpetual), and keep them; None (with a warning) when the
    exchange does not answer: the cycle's work is done, the last figures stay."""
    from fra.engine.open import account_equity

    try:
        wallets = app.executor.wallets()
        equity = account_equity(app, app.store.positions(HELD_STATES), measured)
    except VenueError as exc:
        log.warning("the balances could not be read (%s); fra status shows the last ones", exc)
        return None
    found = Balances(wallets.spot, wallets.futures, equity, app.now_ms(), cycle_id)
    with app.store.tx():
        app.store.set_meta(
            META_KEY,
            json.dumps(
                {
                    "spot": str(found.spot),
                    "futures": str(found.futures),
                    "equity": str(found.equity),
                    "at_ms": found.at_ms,
                    "cycle_id": found.cycle_id,
                }
            ),
        )
    return found


def last_balances(store: Store) -> Balances | None:
    """The balances the last cycle that could read them recorded, None before any."""
    text = store.meta(META_KEY)
    if text is None:
        return None
    try:
        data = json.loads(text)
        return Balances(
            Decimal(data["spot"]),
            Decimal(data["futures"]),
            Decimal(data["equity"]),
            int(data["at_ms"]),
            int(data["cycle_id"]),
        )
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise StateError(
            f"the balances recorded in {store.path} (meta {META_KEY!r}) are damaged",
            "restore the state file from a backup, or delete that meta row: the next"
            " `fra run-cycle` records them again",
        ) from None
