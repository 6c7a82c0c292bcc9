"""Which spot market hedges a perpetual counted in units of many coins (pure).

Exchanges list some cheap coins' perpetuals in units of 1000 or a million coins (`1000PEPE`,
`1MBABYDOGE`) while their spot pair trades the coin itself (`PEPE/USDT`). fra counts coins
everywhere, so such a perpetual is hedged with the coin's spot pair and its amounts and prices
are converted where the venue's answers come in. A unit prefix is only taken for one when the
venue lists the coin's spot pair and no spot pair of the prefixed name: `1000SATS` is a spot
coin of its own on Binance and hedges itself.
"""

from __future__ import annotations

import re
from collections.abc import Container
from decimal import Decimal
from typing import NamedTuple

ONE = Decimal(1)
# 1000, 10000, ... or 1M, then the coin's own name, which starts with a letter.
_PREFIX = re.compile(r"^(1(?:000+|M))([A-Z][A-Z0-9]*)$")


class Hedge(NamedTuple):
    spot_symbol: str  # the spot market that hedges the perpetual
    coins_per_unit: Decimal  # coins one unit of the perpetual stands for (1: the same coin)


def unit_prefix(base: str) -> tuple[str, Decimal] | None:
    """`1000PEPE` -> (`PEPE`, 1000), `1MBABYDOGE` -> (`BABYDOGE`, 1000000); None without one."""
    match = _PREFIX.match(base)
    if match is None:
        return None
    prefix, coin = match.groups()
    return coin, Decimal(1_000_000) if prefix == "1M" else Decimal(prefix)


def hedge_for(base: str, quote: str, spot_symbols: Container[str]) -> Hedge:
    """The spot market that hedges a perpetual on `base`, among the venue's `spot_symbols`.

    The perpetual's own coin first (`1000SATS/USDT` for `1000SATS`); else the coin a unit
    prefix names (`PEPE/USDT` for `1000PEPE`); else its own name, which the venue does not list
    (the scan then says `no_spot_market`)."""
    own = f"{base}/{quote}"
    if own in spot_symbols:
        return Hedge(own, ONE)
    prefixed = unit_prefix(base)
    if prefixed is not None:
        coin, size = prefixed
        if f"{coin}/{quote}" in spot_symbols:
            return Hedge(f"{coin}/{quote}", size)
    return Hedge(own, ONE)


def hedge_of(perp_symbol: str, spot_symbols: Container[str]) -> Hedge:
    """`hedge_for` of a perpetual named in unified form (`1000PEPE/USDT:USDT`)."""
    base, _, quote = perp_symbol.split(":")[0].partition("/")
    return hedge_for(base, quote, spot_symbols)


def spot_bases(base: str) -> tuple[str, ...]:
    """The coins whose spot pairs could hedge a perpetual on `base`: its own, and the coin of
    its unit prefix when it has one."""
    prefixed = unit_prefix(base)
    return (base,) if prefixed is None else (base, prefixed[0])
