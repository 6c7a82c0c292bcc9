"""`fra doctor`: is this set-up able to trade? Each check says what is wrong and how to fix it.

It reads from the exchange and never writes to it. Of the state file it reads the books (and
refreshes its cache of the exchange's market list); it never creates one.
"""

from __future__ import annotations

import stat
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from fra.core.text import plural
from fra.settings import Settings
from fra.venues.base import VenueError

if TYPE_CHECKING:
    from fra.venues.exchange import Caller

SKEW_WARN_MS = 1000


class Check(NamedTuple):
    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Check]:
    local = [_env_file(Path(".env")), *_state_file(settings)]
    if settings.simulated:
        return [Check("venue", "ok", "simulated market: offline, nothing to connect to"), *local]
    return _venue_checks(settings) + local


def _env_file(path: Path) -> Check:
    """A .env holding the API secret must be readable by its owner only."""
    try:
        mode = path.stat().st_mode
        secret = any(
            line.strip().startswith(("FRA_API_SECRET", "FRA_API_KEY"))
            for line in path.read_text(errors="replace").splitlines()
        )
    except OSError:
        return Check(".env", "ok", "none here" if not path.exists() else "not readable")
    if secret and mode & 0o077:
        return Check(
            ".env",
            "warn",
            f"{path} holds the API key and others may read it (mode {stat.filemode(mode)})",
            f"chmod 600 {path}",
        )
    return Check(".env", "ok", "readable by its owner only" if secret else "holds no API key")


def _state_file(settings: Settings) -> list[Check]:
    """The books, and in live mode whether the exchange holds anything they do not explain."""
    from fra.app import open_app
    from fra.engine.reconcile import books, untracked
    from fra.errors import FraError

    path = settings.db_path
    if not path.exists():
        return [Check("state file", "ok", f"none yet at {path}: the first cycle creates it")]
    try:
        with open_app(settings, create=False) as app:
            held = books(app.store)
            checks = [Check("state file", "ok", f"{path}: {plural(len(held), 'pair')} held")]
            if settings.mode != "live":
                return checks
            found = untracked(app)
    except (FraError, VenueError) as exc:
        return [Check("state file", "fail", str(exc))]
    if not found:
        return [*checks, Check("untracked", "ok", "the exchange holds nothing the books miss")]
    return [
        *checks,
        *(
            Check(
                "untracked",
                "fail",
                f"the exchange holds {u.amount} {u.symbol} "
                f"{'short' if u.kind == 'short' else 'coins'} that the books do not explain",
                f"a person must look; `fra adopt {u.perp_symbol}` takes a hedged pair in",
            )
            for u in found
        ),
    ]


def _venue_checks(settings: Settings) -> list[Check]:
    from fra.app import exchange_caller

    s = settings
    call = exchange_caller(s, retries=1)
    exchange = call.exchange
    checks: list[Check] = []
    where = s.venue_url or s.venue
    try:
        started = time.monotonic()
        call.now_ms()
        latency = (time.monotonic() - started) * 1000
    except VenueError as exc:
        return [Check("connectivity", "fail", f"{where} unreachable: {exc}", _NET_FIX)]
    checks.append(Check("connectivity", "ok", f"{where} answered in {latency:.0f} ms"))
    skew = call.skew_ms
    checks.append(
        Check(
            "clock",
            "warn" if abs(skew) > SKEW_WARN_MS else "ok",
            f"local clock is {skew:+d} ms off the exchange's (fra signs with the exchange's)",
            "sync the clock: `timedatectl set-ntp true` or chrony"
            if abs(skew) > SKEW_WARN_MS
            else "",
        )
    )
    try:
        call("load_markets", True)
        from fra.venues.ccxt_market import relevant_markets

        raw = relevant_markets(exchange.markets)
        perps = sum(1 for m in raw if m.get("swap"))
        if not perps:
            checks.append(
                Check("markets", "fail", f"{s.venue} lists no USDT perpetual swaps", _VENUE_FIX)
            )
        else:
            checks.append(
                Check("markets", "ok", f"{perps} USDT perpetuals, {len(raw) - perps} spot")
            )
    except VenueError as exc:
        checks.append(Check("markets", "fail", str(exc), _VENUE_FIX))
    if not exchange.has.get("fetchFundingRates") and not exchange.has.get("fetchFundingRate"):
        checks.append(Check("funding data", "fail", f"{s.venue} publishes none", _VENUE_FIX))
    if s.api_key is None:
        status = "fail" if s.mode == "live" else "ok"
        checks.append(
            Check(
                "api key",
                status,
                "none set: public data, default fees",
                _KEY_FIX if status == "fail" else "",
            )
        )
        return checks
    if s.venue != "binance":
        checks.append(Check("api key", "ok", "set; account checks exist for binance only"))
        return checks
    checks += _binance_account(call, s)
    return checks


def _binance_account(call: Caller, s: Settings) -> list[Check]:
    from fra.venues.binance_live import balances, key_permissions, position_mode_hedged

    checks: list[Check] = []
    try:
        perms = key_permissions(call)
    except VenueError as exc:
        return [Check("api key", "fail", f"rejected: {exc}", _KEY_FIX)]
    checks.append(Check("api key", "ok", "accepted"))
    if perms.get("enableWithdrawals"):
        allowed = s.live.allow_withdrawal_key
        checks.append(
            Check(
                "withdrawals",
                "warn" if allowed else "fail",
                "the key can withdraw funds"
                + (" (allowed by FRA_LIVE__ALLOW_WITHDRAWAL_KEY)" if allowed else ""),
                "create a key without withdrawal permission",
            )
        )
    else:
        checks.append(Check("withdrawals", "ok", "the key cannot withdraw"))
    missing = [
        n
        for n, k in (("spot", "enableSpotAndMarginTrading"), ("futures", "enableFutures"))
        if not perms.get(k)
    ]
    checks.append(
        Check(
            "trading rights",
            "fail" if missing else "ok",
            f"the key may not trade {' or '.join(missing)}" if missing else "spot and futures",
            "enable them on the key at Binance" if missing else "",
        )
    )
    checks.append(_transfer_rights(perms, s))
    if not perms.get("ipRestrict"):
        checks.append(
            Check(
                "ip whitelist",
                "warn",
                "the key works from any IP",
                "restrict it to this machine's IP",
            )
        )
    try:
        hedged = position_mode_hedged(call)
        checks.append(
            Check(
                "position mode",
                "warn" if hedged else "ok",
                "hedge mode (fra switches it to one-way before trading)" if hedged else "one-way",
            )
        )
        spot, futures = balances(call)
        usdt = spot.get("USDT", Decimal(0))
        checks.append(
            Check(
                "balances",
                "ok" if usdt > 0 and futures > 0 else "warn",
                f"spot {usdt:.2f} USDT free, futures {futures:.2f} USDT available",
                ""
                if usdt > 0 and futures > 0
                else "fund both wallets: spot buys, futures holds the short's margin",
            )
        )
    except VenueError as exc:
        checks.append(Check("account", "fail", str(exc), _KEY_FIX))
    return checks


def _transfer_rights(perms: dict[str, object], s: Settings) -> Check:
    """Margin top-ups move USDT from the spot wallet to the futures wallet when the futures
    wallet alone cannot cover them; without the right, fra shrinks both legs instead."""
    if not s.risk.topup_cushion:
        return Check("transfers", "ok", "margin top-ups are off (FRA_RISK__TOPUP_CUSHION=0)")
    if perms.get("permitsUniversalTransfer"):
        return Check(
            "transfers",
            "ok",
            "the key may move USDT from the spot to the futures wallet for margin top-ups",
        )
    return Check(
        "transfers",
        "warn",
        "the key may not move USDT between the spot and futures wallets: a short's margin is"
        " topped up from the futures wallet only, and when that is not enough fra shrinks both"
        " legs (buys back part of the short, sells as much spot) to fund it",
        "enable 'Permits Universal Transfer' on the key at Binance (it requires an IP whitelist)",
    )


_NET_FIX = "check the network, FRA_VENUE_URL and the exchange's status page"
_VENUE_FIX = "choose an exchange with USDT perpetual swaps (FRA_VENUE)"
_KEY_FIX = "set FRA_API_KEY and FRA_API_SECRET to a key with spot and futures trading enabled"
