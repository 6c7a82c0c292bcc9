"""`fra doctor --refresh-tiers`: the account's leverage brackets, fetched and kept in state.db.

Binance serves the brackets signed only, so this needs API keys. Once stored they are what
paper and live compute maintenance margin from, also in a paper account run without keys
(which otherwise uses the table fra ships). With keys they are fetched again by themselves
once older than FRA_MARKETS_TTL_MINUTES.
"""

from __future__ import annotations

from typing import NamedTuple

from fra.core.brackets import Ladder
from fra.errors import BadInput
from fra.settings import Settings
from fra.venues.bracket_sources import shipped_source

SHOWN = ("BTC/USDT:USDT", "ETH/USDT:USDT")  # whose first bracket the report quotes


class Refreshed(NamedTuple):
    symbols: int  # perpetuals whose brackets were stored
    source: str  # where they were fetched from
    fetched_ms: int
    first_brackets: dict[str, str]  # a few symbols' first bracket, to show what changed
    state_file: str


def refresh_tiers(settings: Settings) -> Refreshed:
    """Fetch the account's brackets and store them; BadInput (nothing written) without keys
    or on the simulated market."""
    if settings.simulated:
        raise BadInput(
            "the simulated market has maintenance rates of its own: there are no brackets to fetch",
            "run it against an exchange (FRA_VENUE=binance)",
        )
    if settings.api_key is None or settings.api_secret is None:
        raise BadInput(
            "fetching the account's leverage brackets needs an API key: the exchange serves them"
            " signed only",
            f"set FRA_API_KEY and FRA_API_SECRET; meanwhile margin is computed from"
            f" {shipped_source()}",
        )
    from fra.app import open_app
    from fra.venues.ccxt_market import CcxtMarket

    with open_app(settings) as app:
        market = app.market
        assert isinstance(market, CcxtMarket)
        stored = market.refresh_brackets()
    return Refreshed(
        symbols=len(stored.ladders),
        source=stored.source,
        fetched_ms=stored.fetched_ms,
        first_brackets={s: _first(stored.ladders[s]) for s in SHOWN if s in stored.ladders},
        state_file=str(settings.db_path),
    )


def _first(brackets: Ladder) -> str:
    first = brackets[0]
    rate, cap = (first.rate * 100).normalize(), first.cap.normalize()
    return f"{rate:f} % up to {cap:,f} USDT ({first.max_leverage}x)"
