"""Funding and price history: its records, and the CSV formats it is imported from.

Pure: the caller opens the file and hands over its rows. Every problem is a `HistoryError`
naming the line and what to do, never a silently dropped or guessed row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from fra.core.text import first_unsafe

SECOND_MS = 1000
HOUR_MS = 3_600_000
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD")
# What a row may hold. Exchanges cap funding at a few % per interval, so beyond 100 % is a unit
# mistake (percent for a fraction) or damage; prices beyond these meet no listed coin, and a
# number like 1e400 would turn into an infinity in the replay's float figures.
RATE_LIMIT = Decimal(1)
PRICE_MIN, PRICE_MAX = Decimal("1e-12"), Decimal("1e9")
VOLUME_MAX = Decimal("1e20")  # coins in one bar: above any token's whole supply
INTERVAL_MAX = 24  # hours between settlements; exchanges settle every 1 to 8
NAME_MAX = 64


class HistoryError(ValueError):
    """Bad history input: `problem` names the file, line or field; `fix` says what to do."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


class FundingRecord(NamedTuple):
    exchange: str
    symbol: str  # unified perpetual, e.g. BTC/USDT:USDT
    time_ms: int  # settlement time, to the second (exchanges stamp it with ms jitter)
    rate: Decimal  # per interval
    interval_hours: int | None  # None: not given, derived from the spacing on load
    mark_price: Decimal | None


class Bar(NamedTuple):
    exchange: str
    symbol: str  # unified: BTC/USDT (spot) or BTC/USDT:USDT (perpetual)
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base units


class PriceBar(NamedTuple):
    """What a replay reads of a bar: its close as the price, its high for the short's margin,
    its volume for the volume filter. High and volume stay as stored (text) until read: a
    replay reads every close but few highs and volumes, and converting them all would cost a
    fifth of its loading time."""

    open_time_ms: int
    close: Decimal
    high_text: str
    volume_text: str

    @property
    def high(self) -> Decimal:
        return Decimal(self.high_text)

    @property
    def volume(self) -> Decimal:
        return Decimal(self.volume_text)


FUNDING_LONG = ("exchange", "symbol", "funding_time_ms", "funding_rate")
BARS_LONG = (
    "exchange",
    "symbol",
    "market",
    "open_time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
)
BINANCE_ARCHIVE = ("calc_time", "funding_interval_hours", "last_funding_rate")
FORMATS = {
    "funding": ",".join(FUNDING_LONG) + "[,interval_hours,mark_price]",
    "bars": ",".join(BARS_LONG),
    "binance-archive": ",".join(BINANCE_ARCHIVE) + " (symbol from the file name or --symbol)",
}
FORMAT_HELP = "; ".join(f"{name}: {header}" for name, header in FORMATS.items())
_ARCHIVE_NAME = re.compile(r"^([A-Z0-9]+)-fundingRate-")


def detect_format(header: list[str]) -> str:
    """Which of the known formats a header row is; a HistoryError naming what is missing."""
    columns = {c.strip().lower() for c in header}
    candidates = {
        "bars": BARS_LONG,
        "funding": FUNDING_LONG,
        "binance-archive": BINANCE_ARCHIVE,
    }
    for name, needed in candidates.items():
        if set(needed) <= columns:
            return name
    # The format it looks most like, to name the columns it lacks.
    best = max(candidates, key=lambda n: len(set(candidates[n]) & columns))
    missing = [c for c in candidates[best] if c not in columns]
    if len(set(candidates[best]) & columns) < 2:
        raise HistoryError(
            f"unknown format (header: {','.join(header)[:120]})",
            f"use one of: {FORMAT_HELP}",
        )
    raise HistoryError(
        f"{best} file lacks column(s) {', '.join(missing)}", f"its header must be {FORMATS[best]}"
    )


def archive_symbol(filename: str) -> str | None:
    """The symbol in a Binance archive file name, e.g. BTCUSDT-fundingRate-2024-01.csv."""
    match = _ARCHIVE_NAME.match(filename)
    return match.group(1) if match else None


def unify(exchange: str, symbol: str, perpetual: bool) -> str:
    """An exchange's own id (BTCUSDT; Bybit's BTCPERP is USDC-settled) in unified form."""
    symbol = _name(symbol, "symbol")
    if "/" in symbol:
        base, _, rest = symbol.partition("/")
        quote, _, settle = rest.partition(":")
        if not base or not quote or (perpetual and settle != quote) or (not perpetual and settle):
            kind = "perpetual like BTC/USDT:USDT" if perpetual else "spot market like BTC/USDT"
            raise HistoryError(f"symbol {symbol!r} is not a {kind}", "fix the symbol column")
        return symbol
    upper = symbol.upper()
    if exchange == "bybit" and upper.endswith("PERP") and len(upper) > 4:
        base, quote = upper[:-4], "USDC"
    else:
        quote = next((q for q in QUOTES if upper.endswith(q) and len(upper) > len(q)), "")
        if not quote:
            raise HistoryError(
                f"symbol {symbol!r}: cannot tell its coin from its quote currency",
                "give it in unified form, e.g. BTC/USDT:USDT",
            )
        base = upper[: -len(quote)]
    return f"{base}/{quote}:{quote}" if perpetual else f"{base}/{quote}"


def _name(value: str, column: str, where: str = "") -> str:
    """An exchange or symbol name, stripped: plain text, as it is stored and shown."""
    value = value.strip()
    at = f"{where}: " if where else ""
    bad = first_unsafe(value)
    if bad is not None:
        raise HistoryError(
            f"{at}{column} {value[:NAME_MAX]!r} holds the control character {bad!r}",
            "names are plain text: fix the file or the option",
        )
    if not value or len(value) > NAME_MAX:
        raise HistoryError(
            f"{at}{column} {value[:NAME_MAX]!r} is empty or longer than {NAME_MAX} characters",
            "give a name such as binance or BTCUSDT",
        )
    return value


def _decimal(value: str, column: str, where: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise HistoryError(f"{where}: {column} {value!r} is not a number", "fix the row") from None
    if not number.is_finite():
        raise HistoryError(f"{where}: {column} {value!r} must be a finite number", "fix the row")
    return number


def _rate(value: str, column: str, where: str) -> Decimal:
    rate = _decimal(value, column, where)
    if abs(rate) > RATE_LIMIT:
        raise HistoryError(
            f"{where}: {column} {value!r} is beyond ±{RATE_LIMIT} per interval",
            "rates are fractions per interval (0.0001 = 0.01 %): fix the row",
        )
    return rate


def _price(value: str, column: str, where: str) -> Decimal:
    price = _decimal(value, column, where)
    if not PRICE_MIN <= price <= PRICE_MAX:
        raise HistoryError(
            f"{where}: {column} {value!r} is not a price from 1e-12 to 1e9",
            "fix the row",
        )
    return price


def _volume(value: str, where: str) -> Decimal:
    volume = _decimal(value, "volume", where)
    if not 0 <= volume <= VOLUME_MAX:
        raise HistoryError(f"{where}: volume {value!r} is not from 0 to 1e20 coins", "fix the row")
    return volume


def _time_ms(value: str, column: str, where: str) -> int:
    try:
        stamp = int(value)
    except ValueError:
        raise HistoryError(
            f"{where}: {column} {value!r} is not epoch milliseconds", "fix the row"
        ) from None
    if not 946_684_800_000 <= stamp < 4_102_444_800_000:  # 2000 .. 2100
        raise HistoryError(
            f"{where}: {column} {value} is not a time in epoch milliseconds (2000-2100)",
            "times are UTC epoch milliseconds, e.g. 1672531200000 for 2023-01-01",
        )
    return stamp


def _hours(value: str, where: str) -> int | None:
    if not value.strip():
        return None
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= INTERVAL_MAX or hours != int(hours):
        raise HistoryError(
            f"{where}: interval_hours {value!r} is not a whole number from 1 to {INTERVAL_MAX}",
            "fix it",
        )
    return int(hours)


def parse(
    rows: Iterable[list[str]],
    *,
    source: str,
    exchange: str | None = None,
    symbol: str | None = None,
) -> tuple[str, list[FundingRecord] | list[Bar]]:
    """(format, records) from CSV rows, the header first; sorted, duplicates merged.

    `exchange`/`symbol` apply to the Binance archive format, which carries neither."""
    it = iter(rows)
    header = next(it, None)
    if header is None:
        raise HistoryError(f"{source} is empty", f"give a CSV file with a header: {FORMAT_HELP}")
    kind = detect_format(header)
    if exchange is not None:
        exchange = _name(exchange, "--exchange")
    index = {c.strip().lower(): i for i, c in enumerate(header)}
    lines = _numbered(it, len(header), source)
    if kind == "bars":
        return kind, _merge_bars(_bars(lines, index))
    if kind == "funding":
        return kind, _merge_funding(_funding_long(lines, index))
    if not symbol:
        raise HistoryError(
            f"{source}: a Binance archive file names no symbol",
            "give --symbol (e.g. BTCUSDT), or keep the archive's file name",
        )
    perp = unify(exchange or "binance", symbol, perpetual=True)
    return kind, _merge_funding(_archive(lines, index, exchange or "binance", perp))


def _numbered(rows: Iterator[list[str]], width: int, source: str) -> Iterator[tuple[str, list]]:
    for n, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{source} line {n}"
        if len(row) < width:
            raise HistoryError(
                f"{where}: {len(row)} fields where the header has {width}", "fix the row"
            )
        yield where, row


def _funding_long(lines: Iterable[tuple[str, list]], index: dict[str, int]) -> Iterator:
    i_ex, i_sym = index["exchange"], index["symbol"]
    i_t, i_r = index["funding_time_ms"], index["funding_rate"]
    i_h, i_m = index.get("interval_hours"), index.get("mark_price")
    for where, row in lines:
        exchange = _name(row[i_ex], "exchange", where).lower()
        mark = row[i_m].strip() if i_m is not None else ""
        yield (
            where,
            FundingRecord(
                exchange=exchange,
                symbol=unify(exchange, _name(row[i_sym], "symbol", where), perpetual=True),
                time_ms=_to_second(_time_ms(row[i_t], "funding_time_ms", where)),
                rate=_rate(row[i_r], "funding_rate", where),
                interval_hours=_hours(row[i_h], where) if i_h is not None else None,
                mark_price=_price(mark, "mark_price", where) if mark else None,
            ),
        )


def _archive(
    lines: Iterable[tuple[str, list]], index: dict[str, int], exchange: str, perp: str
) -> Iterator:
    i_t, i_h = index["calc_time"], index["funding_interval_hours"]
    i_r = index["last_funding_rate"]
    for where, row in lines:
        yield (
            where,
            FundingRecord(
                exchange=exchange,
                symbol=perp,
                time_ms=_to_second(_time_ms(row[i_t], "calc_time", where)),
                rate=_rate(row[i_r], "last_funding_rate", where),
                interval_hours=_hours(row[i_h], where),
                mark_price=None,
            ),
        )


def _bars(lines: Iterable[tuple[str, list]], index: dict[str, int]) -> Iterator:
    i = {c: index[c] for c in BARS_LONG}
    for where, row in lines:
        exchange = _name(row[i["exchange"]], "exchange", where).lower()
        market = row[i["market"]].strip().lower()
        if market not in ("spot", "perp"):
            raise HistoryError(f"{where}: market {market!r} is neither spot nor perp", "fix it")
        o, h, lo, c = (_price(row[i[k]], k, where) for k in ("open", "high", "low", "close"))
        if not (lo <= min(o, c) and h >= max(o, c)):
            raise HistoryError(f"{where}: high/low do not contain open/close", "fix the row")
        yield (
            where,
            Bar(
                exchange=exchange,
                symbol=unify(
                    exchange, _name(row[i["symbol"]], "symbol", where), perpetual=market == "perp"
                ),
                open_time_ms=_time_ms(row[i["open_time_ms"]], "open_time_ms", where),
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=_volume(row[i["volume"]], where),
            ),
        )


def _to_second(ms: int) -> int:
    return (ms + SECOND_MS // 2) // SECOND_MS * SECOND_MS


def _merge_funding(records: Iterable[tuple[str, FundingRecord]]) -> list[FundingRecord]:
    """Sorted by (exchange, symbol, time). The same settlement twice is one row, the two
    completing each other (one source has mark prices, another intervals); a different rate
    for the same settlement is an error."""
    merged: dict[tuple[str, str, int], tuple[str, FundingRecord]] = {}
    for where, r in records:
        key = (r.exchange, r.symbol, r.time_ms)
        seen = merged.get(key)
        if seen is None:
            merged[key] = (where, r)
            continue
        combined = combine_funding(seen[1], r)
        if combined is None:
            raise HistoryError(
                f"{where}: {r.symbol} at {r.time_ms} has rate {r.rate}, but {seen[0]} has "
                f"{seen[1].rate} (or another field differs)",
                "keep one of the two rows",
            )
        merged[key] = (seen[0], combined)
    return [merged[k][1] for k in sorted(merged)]


def combine_funding(a: FundingRecord, b: FundingRecord) -> FundingRecord | None:
    """One record from two of the same settlement, or None when they disagree."""
    if a.rate != b.rate:
        return None
    fields = []
    for x, y in ((a.interval_hours, b.interval_hours), (a.mark_price, b.mark_price)):
        if x is not None and y is not None and x != y:
            return None
        fields.append(x if x is not None else y)
    return a._replace(interval_hours=fields[0], mark_price=fields[1])


def _merge_bars(records: Iterable[tuple[str, Bar]]) -> list[Bar]:
    merged: dict[tuple[str, str, int], tuple[str, Bar]] = {}
    for where, bar in records:
        key = (bar.exchange, bar.symbol, bar.open_time_ms)
        seen = merged.get(key)
        if seen is not None and seen[1] != bar:
            raise HistoryError(
                f"{where}: {bar.symbol} bar at {bar.open_time_ms} differs from {seen[0]}",
                "keep one of the two rows",
            )
        merged.setdefault(key, (where, bar))
    return [merged[k][1] for k in sorted(merged)]
