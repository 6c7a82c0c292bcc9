"""Paper execution: an emulated exchange account that fills against any venue's order books.

It behaves like an exchange from the engine's side (idempotent client order ids, IOC market
orders that may fill partially, isolated margin, funding credited at each settlement crossed),
so the engine's code paths are the ones live trading takes.

It keeps one USDT pool where Binance keeps two wallets: what spot trading frees is at once
available as futures margin. `wallets` therefore reports it all as futures, and there is never
anything to transfer (`transfer_to_futures` refuses, like a key without transfer rights would).
"""

from __future__ import annotations

import time
from decimal import Decimal

from fra.core.brackets import maintenance_margin, of_market
from fra.core.models import (
    FundingPayment,
    Market,
    MarketType,
    OrderRequest,
    OrderResult,
    OrderStatus,
    PerpMargin,
    Side,
)
from fra.store.db import Store
from fra.store.paper import PaperAccount, PaperShort
from fra.venues.base import MarketData, MoneyMove, Untracked, VenueError, Wallets

ZERO = Decimal(0)
LIQUIDATION = "liquidation-"  # client id prefix of the orders the venue itself places


def walk_book(
    levels: tuple[tuple[Decimal, Decimal], ...], amount: Decimal
) -> tuple[Decimal, Decimal]:
    """Fill `amount` level by level: (filled amount, average price). Short when the book is."""
    filled = cost = ZERO
    for price, size in levels:
        take = min(size, amount - filled)
        filled += take
        cost += take * price
        if filled >= amount:
            break
    return filled, (cost / filled if filled else ZERO)


class PaperExecutor:
    mode = "paper"
    in_flight_ms = 0

    def __init__(
        self,
        market: MarketData,
        store: Store,
        *,
        starting_balance: Decimal,
        leverage: int,
        fill_delay_ms: int = 0,
    ) -> None:
        self.market = market
        self.store = store
        self.account = PaperAccount(store, starting_balance)
        self.leverage = leverage
        self.fill_delay_ms = fill_delay_ms
        self._markets: dict[str, Market] | None = None

    def _market(self, symbol: str) -> Market:
        if self._markets is None:
            self._markets = self.market.markets()
        return self._markets[symbol]

    # -- Executor --------------------------------------------------------------------------

    def lookup(self, client_order_id: str, symbol: str) -> OrderResult | None:
        return self.account.order(client_order_id)

    def free_quote(self) -> Decimal:
        return self.account.balance(self.account.quote)

    def submit(self, order: OrderRequest) -> OrderResult:
        existing = self.account.order(order.client_order_id)
        if existing is not None:
            return existing
        if self.fill_delay_ms:
            time.sleep(self.fill_delay_ms / 1000)
        market = self._market(order.symbol)
        if market.type is MarketType.PERP:
            self._liquidate_if_due(order.symbol)
        book = self.market.order_book(order.symbol)
        levels = book.asks if order.side is Side.BUY else book.bids
        now = self.market.now_ms()
        with self.store.tx():
            amount, why = self._affordable(order, market, levels)
            filled, price = walk_book(levels, amount) if amount > 0 else (ZERO, ZERO)
            result = self._book(order, market, filled, price, now, why)
            self.account.save_order(result)
        return result

    def perp_margin(self, symbol: str) -> PerpMargin | None:
        self._liquidate_if_due(symbol)
        return self._margin(symbol)

    def funding_payments(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingPayment]:
        self._settle_funding(symbol)
        return self.account.funding(symbol, since_ms, until_ms)

    def account_differences(
        self, held: dict[str, tuple[str, Decimal, Decimal]], order_prefix: str
    ) -> list[str]:
        return []

    def untracked(self, held: dict[str, tuple[str, Decimal, Decimal]]) -> list[Untracked]:
        return []

    def venue_orders(self, symbol: str, since_ms: int) -> list[OrderResult]:
        return self.account.orders_with_prefix(symbol, LIQUIDATION, since_ms)

    def wallets(self) -> Wallets:
        return Wallets(spot=ZERO, futures=self.free_quote())

    def transfer_to_futures(self, amount: Decimal) -> str:
        raise VenueError(
            "the paper account keeps one USDT pool: there is no spot wallet to transfer from",
            kind="unsupported",
        )

    def transfers_to_futures(self, since_ms: int) -> list[MoneyMove]:
        return []

    def add_margin(self, symbol: str, amount: Decimal) -> None:
        if self.fill_delay_ms:
            time.sleep(self.fill_delay_ms / 1000)
        if amount <= 0:
            raise VenueError(f"margin to add must be positive, got {amount}", kind="rejected")
        self._liquidate_if_due(symbol)
        quote = self._market(symbol).quote
        with self.store.tx():
            short = self.account.short(symbol)
            if short is None:
                raise VenueError(f"no short on {symbol} to add margin to", kind="rejected")
            if amount > self.account.balance(quote):
                raise VenueError(f"insufficient {quote} balance to add {amount}", kind="rejected")
            self.account.add(quote, -amount)
            self.account.save_short(short._replace(margin=short.margin + amount))
            self.account.record_margin_add(symbol, amount, self.market.now_ms())

    def margin_additions(self, symbol: str, since_ms: int) -> list[MoneyMove]:
        return [
            MoneyMove(f"paper-{row_id}", amount, time_ms)
            for row_id, amount, time_ms in self.account.margin_adds(symbol, since_ms)
        ]

    def _margin(self, symbol: str) -> PerpMargin | None:
        short = self.account.short(symbol)
        if short is None:
            return None
        mark = self.market.funding_quote(symbol).mark_price
        # As the exchange computes it: the rate of the bracket the notional falls in, less
        # that bracket's maintenance amount.
        brackets = of_market(self._market(symbol))
        return PerpMargin(
            symbol=symbol,
            amount=short.amount,
            entry_price=short.entry_price,
            mark_price=mark,
            margin=short.margin,
            maintenance_margin=maintenance_margin(brackets, short.amount * mark),
        )

    def _liquidate_if_due(self, symbol: str) -> None:
        """What an exchange does to an isolated short whose margin ratio reaches 100 %: it takes
        the position over at the bankruptcy price, and the whole margin is lost."""
        self._settle_funding(symbol)
        margin = self._margin(symbol)
        if margin is None or margin.ratio < 1:
            return
        now = self.market.now_ms()
        with self.store.tx():
            short = self.account.short(symbol)
            if short is None:
                return
            bankruptcy = short.entry_price + short.margin / short.amount
            cid = f"{LIQUIDATION}{symbol}-{now}"
            order = OrderRequest(cid, symbol, MarketType.PERP, Side.BUY, short.amount, True)
            self._trade_short(order, short.amount, bankruptcy, ZERO, now)
            self.account.save_order(
                OrderResult(
                    client_order_id=cid,
                    symbol=symbol,
                    side=Side.BUY,
                    status=OrderStatus.FILLED,
                    requested=short.amount,
                    filled=short.amount,
                    average_price=bankruptcy,
                    fee=ZERO,
                    fee_currency=self._market(symbol).quote,
                    timestamp_ms=now,
                    exchange_order_id=cid,
                    reason=f"liquidated at mark {margin.mark_price}: margin ratio reached 100%",
                )
            )

    # -- the emulated exchange -------------------------------------------------------------

    def _affordable(
        self, order: OrderRequest, market: Market, levels: tuple[tuple[Decimal, Decimal], ...]
    ) -> tuple[Decimal, str]:
        """How much of the order the account can carry out, and why not all of it."""
        amount = order.amount
        if market.type is MarketType.SPOT and order.side is Side.SELL:
            held = self.account.balance(market.base)
            if held < amount:
                return held, "insufficient base balance"
        if market.type is MarketType.PERP and order.side is Side.BUY and order.reduce_only:
            short = self.account.short(order.symbol)
            held = short.amount if short else ZERO
            if held < amount:
                return held, "reduce-only: larger than the position"
        if order.side is Side.SELL and market.type is MarketType.SPOT:
            return amount, ""
        filled, price = walk_book(levels, amount)
        cash = self.account.balance(market.quote)
        if market.type is MarketType.SPOT:
            need = filled * price
        elif order.reduce_only:
            need = ZERO
        else:
            need = filled * price * (Decimal(1) / self.leverage + market.taker_fee)
        # A reduce-only buy-back needs no cash: negative funding paid out of a fully deployed
        # account can leave the wallet below zero, and that must never keep a short open.
        if need > 0 and need > cash:
            return ZERO, f"insufficient {market.quote} balance"
        return amount, ""

    def _book(
        self,
        order: OrderRequest,
        market: Market,
        filled: Decimal,
        price: Decimal,
        now: int,
        why: str,
    ) -> OrderResult:
        fee_rate = market.taker_fee
        quote, base = market.quote, market.base
        fee, fee_currency = ZERO, quote
        if filled > 0:
            value = filled * price
            if market.type is MarketType.SPOT:
                if order.side is Side.BUY:
                    # Binance takes a spot buyer's fee in the coin bought.
                    fee, fee_currency = filled * fee_rate, base
                    self.account.add(quote, -value)
                    self.account.add(base, filled - fee)
                else:
                    fee = value * fee_rate
                    self.account.add(base, -filled)
                    self.account.add(quote, value - fee)
            else:
                fee = value * fee_rate
                self._trade_short(order, filled, price, fee, now)
        if filled >= order.amount:
            status = OrderStatus.FILLED
        elif filled > 0:
            status = OrderStatus.PARTIAL
            why = why or "book too thin: rest of the IOC order cancelled"
        else:
            status = OrderStatus.REJECTED
            why = why or "nothing to fill"
        return OrderResult(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            status=status,
            requested=order.amount,
            filled=filled,
            average_price=price,
            fee=fee,
            fee_currency=fee_currency,
            timestamp_ms=now,
            exchange_order_id=f"paper-{order.client_order_id}",
            reason=why if status is not OrderStatus.FILLED else "",
        )

    def _trade_short(
        self, order: OrderRequest, filled: Decimal, price: Decimal, fee: Decimal, now: int
    ) -> None:
        quote = self._market(order.symbol).quote
        short = self.account.short(order.symbol) or PaperShort(order.symbol, ZERO, ZERO, ZERO, now)
        if order.side is Side.SELL:
            margin = filled * price / self.leverage
            amount = short.amount + filled
            entry = (short.amount * short.entry_price + filled * price) / amount
            self.account.add(quote, -(margin + fee))
            self.account.save_short(
                PaperShort(
                    order.symbol, amount, entry, short.margin + margin, short.funded_until_ms
                )
            )
        else:
            released = short.margin * filled / short.amount
            realized = filled * (short.entry_price - price)
            self.account.add(quote, released + realized - fee)
            self.account.save_short(
                PaperShort(
                    order.symbol,
                    short.amount - filled,
                    short.entry_price,
                    short.margin - released,
                    short.funded_until_ms,
                )
            )

    def _settle_funding(self, symbol: str) -> None:
        """Credit (or debit) the funding of every settlement the short has lived through."""
        short = self.account.short(symbol)
        now = self.market.now_ms()
        if short is None or now <= short.funded_until_ms:
            return
        settlements = self.market.funding_history(symbol, short.funded_until_ms, now)
        quote = self._market(symbol).quote
        with self.store.tx():
            # Re-read under the write lock: another process may have traded or settled since.
            short = self.account.short(symbol)
            if short is None:
                return
            for s in settlements:
                if s.time_ms <= short.funded_until_ms:
                    continue
                # A short receives positive funding: longs pay shorts.
                amount = short.amount * s.mark_price * s.rate
                booked = self.account.book_funding(
                    FundingPayment(symbol, s.time_ms, amount, s.rate, s.mark_price, short.amount)
                )
                if booked:
                    self.account.add(quote, amount)
            self.account.save_short(
                PaperShort(symbol, short.amount, short.entry_price, short.margin, now)
            )
