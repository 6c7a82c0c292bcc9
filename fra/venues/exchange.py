"""The boundary with ccxt: building an exchange client, and calling it safely.

The only module that imports ccxt, and only inside functions: importing ccxt costs most of a
second, which commands that read nothing but the state file never pay. Every ccxt exception
becomes a `VenueError` here, classified once, so the rest of fra never sees ccxt's hierarchy.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from fra.venues.base import VenueError

log = logging.getLogger("fra.venue")

# Binance answers these when asked to set what is already set: success for an idempotent set-up.
_NO_CHANGE_CODES = {-4046, -4059, -4048}
_AUTH_CODES = {-2014, -2015, -1022, -2008}
_REJECTED_CODES = {-2010, -2019, -1013, -4164, -4003, -2021, -2022, -4131, -1111}
_NOT_FOUND_CODES = {-2011, -2013}
_BUSY_CODES = {-1001, -1003, -1007, -1008}  # internal error, too many requests, timeout, busy
_CLOCK_CODES = {-1021}  # timestamp outside recvWindow: re-measure the clock and retry
_MARKET_TYPES = {
    "binance": ["spot", "linear"],
    "bybit": ["spot", "linear"],
    "okx": ["spot", "swap"],
}
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}
BURST_SECONDS = 5.0  # how much of the exchange's request budget one process may spend at once


def exchange_code(exc: BaseException) -> int | None:
    """The exchange's own error code carried in a ccxt error message, if any."""
    match = _CODE.search(str(exc))
    return int(match.group(1)) if match else None


def classify(exc: BaseException) -> VenueError:
    """A ccxt exception as a VenueError of one `kind`; network trouble is `temporary`."""
    import ccxt

    code = exchange_code(exc)
    kind, temporary = "other", False
    if code in _NO_CHANGE_CODES:
        kind = "no_change"
    elif code in _CLOCK_CODES:
        kind, temporary = "clock", True
    elif code in _BUSY_CODES:
        kind, temporary = "network", True
    elif code in _AUTH_CODES or isinstance(exc, ccxt.AuthenticationError):
        kind = "auth"
    elif code in _NOT_FOUND_CODES or isinstance(exc, ccxt.OrderNotFound):
        kind = "not_found"
    elif code in _REJECTED_CODES or isinstance(exc, ccxt.InsufficientFunds | ccxt.InvalidOrder):
        kind = "rejected"
    elif isinstance(exc, ccxt.BadSymbol):
        kind = "bad_symbol"
    elif isinstance(exc, ccxt.NotSupported):
        kind = "unsupported"
    elif isinstance(exc, ccxt.NoChange):
        kind = "no_change"
    elif isinstance(exc, ccxt.OperationFailed):
        # Timeouts, 429/418, 5xx, maintenance, internal errors, garbled answers: ccxt's family
        # of failures that may well succeed a moment later.
        kind, temporary = "network", True
    message = " ".join(str(exc).split())[:300] or type(exc).__name__
    cause = connection_cause(exc) if kind == "network" else None
    if cause is not None:
        # ccxt says only which request failed; the reason (no DNS answer, a refused port) is
        # what tells a person offline from an exchange that is down.
        kind, message = "unreachable", f"{cause} ({message})"
    return VenueError(message, temporary=temporary, kind=kind, code=code)


def connection_cause(exc: BaseException) -> str | None:
    """The operating system's reason a connection could not be made ("name or service not
    known", "connection refused"), found under ccxt's, requests' and urllib3's wrappers; None
    when the exchange was reached (or the reason is not a connection's)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, socket.gaierror | ConnectionRefusedError) or (
            isinstance(err, OSError) and err.errno in _UNREACHABLE_ERRNOS
        ):
            reason = err.strerror or (str(err.args[0]) if err.args else type(err).__name__)
            return reason[:1].lower() + reason[1:]
        linked = [err.__cause__, err.__context__, getattr(err, "reason", None), *err.args]
        todo += [e for e in linked if isinstance(e, BaseException)]
    return None


def build_exchange(
    venue: str,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    url: str | None = None,
    timeout_seconds: float = 10.0,
) -> Any:
    """A ccxt client for `venue`, talking to `url` instead of the exchange when given."""
    import ccxt

    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": int(timeout_seconds * 1000),
        # Signatures follow the exchange's clock, measured once per process: a skewed local
        # clock would otherwise get every signed request refused.
        "options": {
            "adjustForTimeDifference": False,
            "fetchCurrencies": False,
            "fetchMargins": False,  # Binance's margin-pair lists: signed, and of no use to fra
            "defaultType": "spot",
            # Binance refuses a signed request arriving later than this after its timestamp
            # (its recommended 5 s; ccxt's default is 10): it bounds how long an unanswered
            # order may still be in flight, which reconcile has to wait out.
            "recvWindow": 5_000,
        },
    }
    if venue in _MARKET_TYPES:
        # Spot and linear swaps only: inverse, dated and option lists are most of the download
        # (megabytes on Binance, 11 requests on Bybit) and fra never trades them.
        config["options"]["fetchMarkets"] = {"types": _MARKET_TYPES[venue]}
    if api_key and api_secret:
        config["apiKey"], config["secret"] = api_key, api_secret
    exchange = getattr(ccxt, venue)(config)
    exchange.throttle = RequestBudget(exchange.rateLimit)
    if url:
        point_ccxt_at(exchange, url)
    return exchange


class RequestBudget:
    """The exchange's request-weight budget, spent as a token bucket.

    ccxt's synchronous client spaces each request by its own weight: a bulk ticker (weight 40
    on Binance) waits 2 s after the request before it, whoever is counting. A one-shot process
    that makes six requests a minute would sleep 3 s of every scan for a limit it is nowhere
    near. This bucket lets up to `BURST_SECONDS` of the budget go at once and refills at the
    exchange's rate, so long paginations still slow to the rate ccxt would have kept.
    """

    def __init__(
        self,
        rate_limit_ms: float,
        *,
        burst_seconds: float = BURST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = 1000.0 / rate_limit_ms  # cost units the exchange refills each second
        self.capacity = burst_seconds * self.per_second
        self.clock, self.sleep = clock, sleep
        self.tokens = self.capacity
        self.updated = clock()

    def __call__(self, cost: float | None = None) -> None:
        cost = 1.0 if cost is None else float(cost)
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens < cost:
            wait = (cost - self.tokens) / self.per_second
            self.sleep(wait)
            self.tokens, self.updated = cost, now + wait
        self.tokens -= cost


def point_ccxt_at(exchange: Any, base_url: str) -> None:
    """Send every API request of a ccxt exchange to `base_url`: the scheme and host of each URL
    in `exchange.urls['api']` (nested dicts included) are replaced, the paths kept.

    ccxt's Binance picks error classes by URL too (`get_exceptions_by_url`: an api.binance.com
    URL gets the spot table, fapi.binance.com the futures one, e.g. -2019 -> InsufficientFunds),
    so that lookup is pointed back at the original URLs; without it the emulator's answers would
    raise different exceptions than Binance's. No ccxt import: this only edits the instance.
    """
    base = base_url.rstrip("/")
    originals: dict[str, str] = {}

    def rewrite(urls: dict[str, Any]) -> None:
        for name, url in urls.items():
            if isinstance(url, dict):
                rewrite(url)
            elif isinstance(url, str):
                parts = urlsplit(url)
                moved = base + parts.path + (f"?{parts.query}" if parts.query else "")
                originals.setdefault(moved, url)
                urls[name] = moved

    rewrite(exchange.urls["api"])
    lookup = getattr(exchange, "get_exceptions_by_url", None)
    if not callable(lookup):
        return
    longest_first = sorted(originals.items(), key=lambda item: -len(item[0]))

    def exceptions_by_original_url(url: str | None, exact_or_broad: str) -> Any:
        for moved, original in longest_first:
            if url is not None and (url == moved or url.startswith(moved + "/")):
                url = original + url[len(moved) :]
                break
        return lookup(url, exact_or_broad)

    exchange.get_exceptions_by_url = exceptions_by_original_url


class Caller:
    """Calls a ccxt method; retries temporary failures a bounded number of times, with backoff.

    Reads are retried. Orders must not be (`once`): a timed-out order may have been placed, and
    the engine looks it up by its client order id before it ever sends it again.
    """

    def __init__(
        self,
        exchange: Any,
        *,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange = exchange
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.requests = 0
        self._clock_measured = False

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return self.once(method, *args, **kwargs)
            except VenueError as exc:
                if not exc.temporary or attempt == self.retries:
                    raise
                delay = min(self.backoff_seconds * 2**attempt, 8.0)
                # Logged to the file only: a retry that then succeeds is not worth a cron mail.
                log.info("%s failed (%s); retrying in %.1fs", method, exc, delay)
                self.sleep(delay)
                if exc.kind == "clock":
                    self._clock_measured = False
        raise AssertionError("unreachable")

    def once(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One attempt, no retry."""
        with self._translated():
            self._sync_clock()
            self.requests += 1
            return getattr(self.exchange, method)(*args, **kwargs)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import ccxt

        try:
            yield
        except ccxt.BaseError as exc:
            raise classify(exc) from None

    def _sync_clock(self) -> None:
        if not self._clock_measured and self.exchange.has.get("fetchTime"):
            self._measure_clock()

    def _measure_clock(self) -> None:
        # ccxt subtracts `timeDifference` from every signed request's timestamp; fra subtracts
        # it too (`now_ms`), so the engine runs on the exchange's clock.
        self.requests += 1
        before = self.exchange.milliseconds()
        server = int(self.exchange.fetch_time())
        after = self.exchange.milliseconds()
        self.exchange.options["timeDifference"] = (before + after) // 2 - server
        self._clock_measured = True

    @property
    def skew_ms(self) -> int:
        """Local clock minus the exchange's, as last measured."""
        return int(self.exchange.options.get("timeDifference", 0))

    def now_ms(self) -> int:
        with self._translated():
            self._sync_clock()
        return int(self.exchange.milliseconds() - self.skew_ms)
