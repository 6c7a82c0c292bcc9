"""API keys and Binance's request signing (HMAC-SHA256, timestamp and recvWindow)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from fra.emulator.errors import BinanceError, bad_api_key, illegal, mandatory

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
# Binance refuses requests stamped more than a second ahead of its clock.
MAX_AHEAD_MS = 1000

_SIGNATURE = re.compile(r"(?:^|&)signature=([^&]*)")


@dataclass(frozen=True)
class EmulatedKey:
    """An API key's secret and the permissions Binance lets its owner switch on."""

    secret: str
    enable_withdrawals: bool = False
    enable_futures: bool = True
    enable_spot: bool = True  # Binance's enableSpotAndMarginTrading
    enable_reading: bool = True
    # Binance's "Permits Universal Transfer": moving funds between the spot and futures wallets.
    permits_universal_transfer: bool = True
    ip_restrict: bool = False
    create_time_ms: int = 1_735_689_600_000  # 2025-01-01


def authenticate(
    keys: dict[str, EmulatedKey],
    api_key: str | None,
    query: str,
    body: str,
    params: dict[str, str],
    now_ms: int,
) -> EmulatedKey:
    """Check a SIGNED request the way Binance does; returns the caller's key."""
    if not api_key:
        raise BinanceError(-2014, "API-key format invalid.", status=401)
    key = keys.get(api_key)
    if key is None:
        raise bad_api_key()
    # Binance signs the query string followed by the body, the signature itself left out.
    total = query + body
    found = _SIGNATURE.search(total)
    if found is None:
        raise mandatory("signature")
    payload = total[: found.start()] + total[found.end() :]
    expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, found.group(1).lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")
    _check_timestamp(params, now_ms)
    return key


def _check_timestamp(params: dict[str, str], now_ms: int) -> None:
    raw = params.get("timestamp")
    if not raw:
        raise mandatory("timestamp")
    if not raw.isdigit():
        raise illegal("timestamp", "0-9")
    window = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
    if not window.isdigit():
        raise illegal("recvWindow", "0-9")
    if int(window) > MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    stamp = int(raw)
    if stamp - now_ms > MAX_AHEAD_MS:
        raise BinanceError(
            -1021, f"Timestamp for this request was {MAX_AHEAD_MS}ms ahead of the server's time."
        )
    if now_ms - stamp > int(window):
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
