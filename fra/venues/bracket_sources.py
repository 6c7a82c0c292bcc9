"""Where a perpetual's leverage brackets come from: the account, or the table fra ships.

Binance's exchangeInfo carries `maintMarginPercent` 2.5 and `requiredMarginPercent` 5 for
every symbol, placeholders 2.5-6x off the real first brackets, so fra never reads them. The
real brackets are behind a signed call (`GET /fapi/v1/leverageBracket`, ccxt's
`fetch_leverage_tiers`), and can differ per account (Binance adjusts some users' brackets).

* With API keys, the account's own brackets are fetched (one request for every symbol), kept
  in state.db's venue cache, and fetched again once older than the market list's TTL.
  `fra doctor --refresh-tiers` does the same on demand, and is how a paper account without
  keys gets them: stored brackets are used whatever their age.
* Without them, on Binance, the table in `fra/data/binance_brackets.json` (recorded on
  2026-03-05; `fra/data/README.md` says where from), and for a perpetual listed since, the
  table's conservative fallback ladder.
* Other exchanges without stored brackets keep one rate at every size (see ccxt_market).
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, NamedTuple

from fra.core.brackets import Brackets, Ladder, ladder
from fra.venues.base import VenueError

if TYPE_CHECKING:
    from fra.store.db import Store
    from fra.venues.exchange import Caller

log = logging.getLogger("fra.venue")

SHIPPED_FOR = frozenset({"binance", "binanceusdm"})  # the exchanges the shipped table is of
TABLE = "binance_brackets.json"
CACHE_KIND = "brackets"
SETTLED_IN = ":USDT"  # fra trades USDT-settled perpetuals only; the rest is not kept


class Stored(NamedTuple):
    """Brackets fetched from an account, as state.db keeps them."""

    fetched_ms: int
    source: str  # where they were fetched from, for `fra doctor` and the log
    ladders: dict[str, Ladder]


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def encode(ladders: Mapping[str, Ladder]) -> dict[str, list[list[Any]]]:
    """Ladders as JSON rows [cap, rate, max leverage, cum] (the floors are the caps below)."""
    return {
        symbol: [[_text(b.cap), _text(b.rate), b.max_leverage, _text(b.cum)] for b in brackets]
        for symbol, brackets in sorted(ladders.items())
    }


def decode(rows: Sequence[Sequence[Any]]) -> Ladder:
    return ladder(
        (Decimal(str(cap)), Decimal(str(rate)), int(lev), Decimal(str(cum)))
        for cap, rate, lev, cum in rows
    )


def _number(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def from_ccxt(tiers: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Ladder]:
    """ccxt's leverage tiers (`fetch_leverage_tiers`) of the USDT-settled perpetuals as ladders.

    Binance's `cum` is kept as the exchange gives it; elsewhere it is worked out from
    continuity. A symbol whose tiers do not make a ladder is left out, with a warning."""
    out: dict[str, Ladder] = {}
    for symbol, rows in tiers.items():
        if not symbol.endswith(SETTLED_IN):
            continue
        try:
            ordered = sorted(rows, key=lambda r: _number(r.get("minNotional")) or Decimal(0))
            out[symbol] = ladder(
                (
                    Decimal(str(r["maxNotional"])),
                    Decimal(str(r["maintenanceMarginRate"])),
                    int(r["maxLeverage"]),
                    _number((r.get("info") or {}).get("cum")),
                )
                for r in ordered
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            log.warning("%s: leverage tiers unusable (%s); left out", symbol, exc)
    return out


# -- the shipped table ------------------------------------------------------------------------


class ShippedBrackets(Brackets):
    """The shipped table. Pickled by name, not by value: a sweep sends its settings to worker
    processes for every combination, and each worker has the table (or reads it) itself."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return shipped, ()


@cache
def _table() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(files("fra.data").joinpath(TABLE).read_text("utf-8"))
    return document


@cache
def shipped() -> ShippedBrackets:
    """Binance's brackets as recorded in fra/data, and the fallback ladder for the rest."""
    table = _table()
    ladders = {symbol: decode(rows) for symbol, rows in table["brackets"].items()}
    return ShippedBrackets(ladders, decode(table["fallback"]["brackets"]))


def shipped_source() -> str:
    """Where and when the shipped table was recorded, in one line."""
    about = _table()["about"]
    return f"the table of Binance's brackets fra ships, recorded {about['recorded'][:10]}"


# -- the account's own, stored in state.db ----------------------------------------------------


def stored(store: Store, cache_key: str) -> Stored | None:
    cached = store.cached(cache_key, CACHE_KIND)
    if cached is None:
        return None
    document = json.loads(zlib.decompress(cached[1]))
    ladders = {symbol: decode(rows) for symbol, rows in document["brackets"].items()}
    return Stored(cached[0], document["source"], ladders)


def refresh(call: Caller, store: Store, cache_key: str) -> Stored:
    """Fetch the account's brackets (needs API keys) and store them; VenueError if the
    exchange refuses or has no such call."""
    exchange = call.exchange
    if not exchange.has.get("fetchLeverageTiers"):
        raise VenueError(f"{exchange.id} has no leverage tiers in ccxt", kind="unsupported")
    ladders = from_ccxt(call("fetch_leverage_tiers"))
    if not ladders:
        raise VenueError(f"{exchange.id} returned no brackets of USDT perpetuals")
    now = int(time.time() * 1000)
    source = f"{cache_key} (fetch_leverage_tiers with the account's API key)"
    body = json.dumps({"source": source, "brackets": encode(ladders)}, separators=(",", ":"))
    with store.tx():
        store.save_cached(cache_key, CACHE_KIND, now, zlib.compress(body.encode(), 6))
    log.info("stored the leverage brackets of %d perpetuals from %s", len(ladders), source)
    return Stored(now, source, ladders)


def account_ladders(call: Caller, store: Store, cache_key: str, ttl_ms: int) -> dict[str, Ladder]:
    """The account's brackets as last stored; with keys, fetched again once older than
    `ttl_ms`. A failure to fetch keeps what is stored (an auth failure is raised: the key is
    wrong for everything else too)."""
    exchange = call.exchange
    found = stored(store, cache_key)
    now = int(time.time() * 1000)
    stale = found is None or now - found.fetched_ms >= ttl_ms
    if stale and exchange.apiKey and exchange.has.get("fetchLeverageTiers"):
        try:
            found = refresh(call, store, cache_key)
        except VenueError as exc:
            if exc.kind == "auth":
                raise
            log.warning(
                "could not read the account's leverage brackets (%s); using %s",
                exc,
                "the stored ones" if found else "the defaults",
            )
    return found.ladders if found else {}
