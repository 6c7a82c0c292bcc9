"""Checks of a live account before fra trades on it."""

from __future__ import annotations

import logging

from fra.app import App
from fra.errors import BadInput
from fra.venues.base import VenueError
from fra.venues.binance_live import BinanceLive

log = logging.getLogger("fra.live")


def check_live_account(app: App, *, opening: bool) -> None:
    """Key accepted and unable to withdraw; account in one-way position mode."""
    executor = app.executor
    assert isinstance(executor, BinanceLive)
    try:
        permissions = executor.key_permissions()
    except VenueError as exc:
        if exc.kind == "auth":
            raise BadInput(
                f"{app.settings.venue} rejected the API key ({exc})",
                "check FRA_API_KEY/FRA_API_SECRET, the key's IP whitelist and that it is enabled",
            ) from None
        raise
    if not permissions.get("enableFutures") or not permissions.get("enableSpotAndMarginTrading"):
        raise BadInput(
            "the API key may not trade spot and USDⓈ-M futures",
            "enable 'Spot & Margin Trading' and 'Futures' on the key at the exchange",
        )
    if permissions.get("enableWithdrawals") and not app.settings.live.allow_withdrawal_key:
        message = "the API key can withdraw funds: a leaked key could empty the account"
        fix = (
            "create a key without withdrawal permission, or set "
            "FRA_LIVE__ALLOW_WITHDRAWAL_KEY=true if you accept that risk"
        )
        if opening:
            raise BadInput(message, fix)
        log.warning("%s; %s", message, fix)
    try:
        executor.ensure_one_way_mode()
    except VenueError as exc:
        if exc.temporary:
            raise
        # Binance refuses the switch while any futures position or order is open; fra's
        # orders carry no position side, so in hedge mode every one of them would be refused.
        raise BadInput(
            f"the futures account is in hedge mode and {app.settings.venue} refused to switch "
            f"it to one-way ({exc})",
            "close the account's other futures positions and orders, or switch 'Position Mode'"
            " to one-way in the futures preferences",
        ) from None
