"""Tables of the paper exchange account: its orders, balances, shorts and funding."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from fra.core.models import FundingPayment, OrderResult, OrderStatus, Side
from fra.store.db import Store


class PaperShort(NamedTuple):
    symbol: str
    amount: Decimal
    entry_price: Decimal
    margin: Decimal
    funded_until_ms: int


class PaperAccount:
    """Typed access to the paper_* tables. Callers wrap multi-row changes in store.tx()."""

    def __init__(self, store: Store, starting_balance: Decimal, quote: str = "USDT") -> None:
        self.store = store
        self.conn = store.conn
        self.starting_balance = starting_balance
        self.quote = quote

    COLUMNS = (
        "client_order_id, symbol, side, status, requested, filled, average_price, fee,"
        " fee_currency, timestamp_ms, reason"
    )

    def order(self, client_order_id: str) -> OrderResult | None:
        row = self.conn.execute(
            f"SELECT {self.COLUMNS} FROM paper_orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        return None if row is None else _order(row)

    def orders_with_prefix(self, symbol: str, prefix: str, since_ms: int) -> list[OrderResult]:
        rows = self.conn.execute(
            f"SELECT {self.COLUMNS} FROM paper_orders WHERE symbol = ?"
            " AND substr(client_order_id, 1, ?) = ? AND timestamp_ms >= ? ORDER BY timestamp_ms",
            (symbol, len(prefix), prefix, since_ms),
        )
        return [_order(row) for row in rows]

    def save_order(self, result: OrderResult) -> None:
        self.conn.execute(
            "INSERT INTO paper_orders VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                result.client_order_id,
                result.symbol,
                result.side.value,
                result.status.value,
                str(result.requested),
                str(result.filled),
                str(result.average_price),
                str(result.fee),
                result.fee_currency,
                result.timestamp_ms,
                result.reason,
            ),
        )

    def balance(self, asset: str) -> Decimal:
        row = self.conn.execute(
            "SELECT amount FROM paper_balances WHERE asset = ?", (asset,)
        ).fetchone()
        if row is not None:
            return Decimal(row[0])
        return self.starting_balance if asset == self.quote else Decimal(0)

    def add(self, asset: str, delta: Decimal) -> None:
        self.conn.execute(
            "INSERT INTO paper_balances(asset, amount) VALUES (?, ?)"
            " ON CONFLICT(asset) DO UPDATE SET amount = ?",
            (asset, str(self.balance(asset) + delta), str(self.balance(asset) + delta)),
        )

    def short(self, symbol: str) -> PaperShort | None:
        row = self.conn.execute(
            "SELECT symbol, amount, entry_price, margin, funded_until_ms FROM paper_shorts"
            " WHERE symbol = ?",
            (symbol,),
        ).fetchone()
        if row is None:
            return None
        return PaperShort(row[0], Decimal(row[1]), Decimal(row[2]), Decimal(row[3]), row[4])

    def save_short(self, short: PaperShort) -> None:
        if short.amount <= 0:
            self.conn.execute("DELETE FROM paper_shorts WHERE symbol = ?", (short.symbol,))
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO paper_shorts VALUES (?,?,?,?,?)",
            (
                short.symbol,
                str(short.amount),
                str(short.entry_price),
                str(short.margin),
                short.funded_until_ms,
            ),
        )

    def record_margin_add(self, symbol: str, amount: Decimal, time_ms: int) -> int:
        cursor = self.conn.execute(
            "INSERT INTO paper_margin_adds(symbol, amount, time_ms) VALUES (?, ?, ?)",
            (symbol, str(amount), time_ms),
        )
        return int(cursor.lastrowid or 0)

    def margin_adds(self, symbol: str, since_ms: int) -> list[tuple[int, Decimal, int]]:
        """(id, amount, time_ms) of the margin added to `symbol` at or after `since_ms`."""
        return [
            (r[0], Decimal(r[1]), r[2])
            for r in self.conn.execute(
                "SELECT id, amount, time_ms FROM paper_margin_adds"
                " WHERE symbol = ? AND time_ms >= ? ORDER BY id",
                (symbol, since_ms),
            )
        ]

    def book_funding(self, payment: FundingPayment) -> bool:
        """Record one settlement's funding; False when it was booked before."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO paper_funding VALUES (?,?,?,?,?,?)",
            (
                payment.symbol,
                payment.time_ms,
                str(payment.amount),
                str(payment.rate),
                str(payment.mark_price),
                str(payment.position_amount),
            ),
        )
        return cursor.rowcount == 1

    def funding(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingPayment]:
        return [
            FundingPayment(
                symbol=r[0],
                time_ms=r[1],
                amount=Decimal(r[2]),
                rate=Decimal(r[3]),
                mark_price=Decimal(r[4]),
                position_amount=Decimal(r[5]),
            )
            for r in self.conn.execute(
                "SELECT symbol, time_ms, amount, rate, mark_price, position_amount"
                " FROM paper_funding WHERE symbol = ? AND time_ms > ? AND time_ms <= ?"
                " ORDER BY time_ms",
                (symbol, since_ms, until_ms),
            )
        ]


def _order(row: tuple) -> OrderResult:
    return OrderResult(
        client_order_id=row[0],
        symbol=row[1],
        side=Side(row[2]),
        status=OrderStatus(row[3]),
        requested=Decimal(row[4]),
        filled=Decimal(row[5]),
        average_price=Decimal(row[6]),
        fee=Decimal(row[7]),
        fee_currency=row[8],
        timestamp_ms=row[9],
        exchange_order_id=f"paper-{row[0]}",
        reason=row[10],
    )
