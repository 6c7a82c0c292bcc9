"""Matching the symbols a person typed against the ones a venue lists."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unmatched(allowed: Iterable[str], listed: Iterable[str]) -> list[tuple[str, str | None]]:
    """Each allowed symbol the venue does not list, with the listed one it most likely means:
    the same letters in another spelling (BTCUSDT, btc/usdt for BTC/USDT:USDT), else the
    closest name, else None."""
    listed = sorted(set(listed))
    if not listed:
        return []  # nothing to judge against (no snapshot yet)
    by_letters: dict[str, str] = {}
    for symbol in listed:
        by_letters.setdefault(_letters(symbol), symbol)
        base_quote = symbol.split(":")[0]
        by_letters.setdefault(_letters(base_quote), symbol)
    missing = []
    for symbol in allowed:
        if symbol in listed:
            continue
        guess = by_letters.get(_letters(symbol))
        if guess is None:
            close = difflib.get_close_matches(symbol.upper(), listed, n=1, cutoff=0.85)
            guess = close[0] if close else None
        missing.append((symbol, guess))
    return missing


def _letters(symbol: str) -> str:
    return "".join(c for c in symbol.upper() if c.isalnum())


def typed(text: str) -> str:
    """A symbol as a person may type it, in the venue's unified form: ETHUSDT and ethusdt are
    the perpetual ETH/USDT:USDT (as backtest and history take them), eth/usdt is ETH/USDT.
    What cannot be read is returned as typed, for the venue's own check to name."""
    from fra.core.history import QUOTES

    upper = text.strip().upper()
    if "/" in upper:
        return upper
    quote = next((q for q in QUOTES if upper.endswith(q) and len(upper) > len(q)), None)
    if quote is None or not upper.isalnum():
        return text
    return f"{upper[: -len(quote)]}/{quote}:{quote}"
