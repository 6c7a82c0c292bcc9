"""Live execution on Binance (spot + USDⓈ-M perpetuals) through ccxt.

The sibling of `PaperExecutor`: the engine cannot tell them apart, except that these orders
are real. Everything here is a translation between fra's records and Binance's answers; every
decision (sizing, hedging, unwinding) stays in the engine.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

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
from fra.venues.base import MoneyMove, Untracked, VenueError, Wallets
from fra.venues.ccxt_market import QUOTE, CcxtMarket, dec
from fra.venues.exchange import Caller

log = logging.getLogger("fra.live")

ZERO = Decimal(0)
LIQUIDATION = "autoclose-"  # Binance's client id prefix of the orders its liquidation engine places
# Binance refuses a signed request that arrives later than its timestamp + recvWindow; past
# that (and a margin for the matching engine) an order not found will never appear.
IN_FLIGHT_MARGIN_MS = 5_000


class KeyCanWithdraw(Exception):
    """The API key may withdraw funds: fra refuses it unless told otherwise."""


class BinanceLive:
    mode = "live"

    def __init__(
        self, call: Caller, market: CcxtMarket, *, leverage: int, margin_mode: str
    ) -> None:
        self.call = call
        self.market = market
        self.leverage = leverage
        self.margin_mode = margin_mode
        self._prepared: set[str] = set()
        self.in_flight_ms = int(call.exchange.options["recvWindow"]) + IN_FLIGHT_MARGIN_MS

    # -- set-up ------------------------------------------------------------------------------

    def key_permissions(self) -> dict[str, Any]:
        return key_permissions(self.call)

    def ensure_one_way_mode(self) -> None:
        """fra's shorts are plain negative positions: the account must not be in hedge mode."""
        if position_mode_hedged(self.call):
            self._set_up("set_position_mode", False, None, {"type": "swap"})

    def prepare(self, symbol: str) -> None:
        """Margin mode and leverage of a perpetual, set before its first order in a process."""
        if symbol in self._prepared:
            return
        self._set_up("set_margin_mode", self.margin_mode, symbol)
        self._set_up("set_leverage", self.leverage, symbol)
        self._prepared.add(symbol)

    def _set_up(self, method: str, *args: Any) -> None:
        try:
            self.call(method, *args)
        except VenueError as exc:
            if exc.kind != "no_change":  # "No need to change ...": it already is so
                raise

    # -- orders ------------------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> OrderResult:
        market = self.market.markets()[order.symbol]
        params: dict[str, Any] = {"newClientOrderId": order.client_order_id}
        if order.market_type is MarketType.PERP:
            self.prepare(order.symbol)
            # RESULT: the final fill in the answer, not just an acknowledgement.
            params["newOrderRespType"] = "RESULT"
            if order.reduce_only:
                params["reduceOnly"] = True
        # The exchange counts a 1000PEPE-style perpetual in its units: fra's coin amounts are
        # whole units, as the market's amount step is one unit's coins.
        units = order.amount / market.coins_per_unit
        try:
            # Once, never retried here: after a timeout the engine looks the id up first.
            raw = self.call.once(
                "create_order", order.symbol, "market", order.side.value, units, None, params
            )
        except VenueError as exc:
            if exc.kind == "bad_symbol":
                self.market.expire_markets()
            if exc.kind == "rejected":
                found = self.lookup(order.client_order_id, order.symbol)
                if found is not None:  # "duplicate order": it went through the first time
                    return found
                return self._rejected(order, str(exc))
            raise
        return self._result(raw, market, order.amount, order.client_order_id)

    def lookup(self, client_order_id: str, symbol: str) -> OrderResult | None:
        market = self.market.markets().get(symbol)
        if market is None:
            raise VenueError(f"{symbol} is no longer listed", kind="bad_symbol")
        try:
            raw = self.call("fetch_order", None, symbol, {"origClientOrderId": client_order_id})
        except VenueError as exc:
            if exc.kind == "not_found":
                return None
            raise
        return self._result(raw, market, None, client_order_id)

    def _rejected(self, order: OrderRequest, reason: str) -> OrderResult:
        return OrderResult(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            status=OrderStatus.REJECTED,
            requested=order.amount,
            filled=ZERO,
            average_price=ZERO,
            fee=ZERO,
            fee_currency=QUOTE,
            timestamp_ms=self.market.now_ms(),
            reason=reason,
        )

    def _result(
        self, raw: dict[str, Any], market: Market, requested: Decimal | None, cid: str
    ) -> OrderResult:
        unit = market.coins_per_unit  # the answer counts units and prices them per unit
        filled = (dec(raw.get("filled")) or ZERO) * unit
        average = (dec(raw.get("average")) or ZERO) / unit
        if not average and filled:
            average = (dec(raw.get("cost")) or ZERO) / filled
        status = _STATUS.get(raw.get("status") or "", OrderStatus.REJECTED)
        if status is OrderStatus.FILLED and requested is not None and filled < requested:
            status = OrderStatus.PARTIAL
        if status is OrderStatus.REJECTED and filled:
            status = OrderStatus.PARTIAL  # expired after a partial fill (IOC)
        fee, currency = self._fee(raw, market, filled, average)
        return OrderResult(
            client_order_id=raw.get("clientOrderId") or cid,
            symbol=market.symbol,
            side=Side(raw["side"]),
            status=status,
            requested=(dec(raw.get("amount")) or ZERO) * unit or requested or filled,
            filled=filled,
            average_price=average,
            fee=fee,
            fee_currency=currency,
            timestamp_ms=int(raw.get("timestamp") or raw.get("lastTradeTimestamp") or 0)
            or self.market.now_ms(),
            exchange_order_id=str(raw.get("id") or ""),
        )

    def _fee(
        self, raw: dict[str, Any], market: Market, filled: Decimal, average: Decimal
    ) -> tuple[Decimal, str]:
        """The fee in the base coin or USDT, the two currencies fra's books know."""
        fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
        total = {}
        for f in fees:
            if f and f.get("cost") is not None and f.get("currency"):
                total[f["currency"]] = total.get(f["currency"], ZERO) + (dec(f["cost"]) or ZERO)
        if not total and filled:
            # Futures answers and order look-ups carry no commission: a market order pays the
            # account's taker rate, in the base coin for spot buys, in USDT otherwise.
            if market.type is MarketType.SPOT and raw.get("side") == "buy":
                return filled * market.taker_fee, market.base
            return filled * average * market.taker_fee, QUOTE
        if not total:
            return ZERO, QUOTE
        if len(total) == 1 and next(iter(total)) in (market.base, QUOTE):
            currency, amount = next(iter(total.items()))
            return amount, currency
        # Paid in BNB (or mixed): valued in USDT at the coin's current price.
        value = ZERO
        for currency, amount in total.items():
            if currency == QUOTE:
                value += amount
            elif currency == market.base:
                value += amount * average
            else:
                value += amount * self._price(f"{currency}/{QUOTE}")
        return value, QUOTE

    def _price(self, symbol: str) -> Decimal:
        ticker = self.call("fetch_ticker", symbol)
        return dec(ticker.get("last")) or ZERO

    # -- account -----------------------------------------------------------------------------

    def free_quote(self) -> Decimal:
        # Binance keeps spot and futures money apart: a position needs its notional in the spot
        # wallet and notional/leverage in the futures one. Expressed as one figure the engine
        # divides by (1 + 1/leverage + fees), the smaller side binds.
        spot, futures = balances(self.call)
        notional = min(spot.get(QUOTE, ZERO), futures * self.leverage)
        return notional * (1 + Decimal(1) / self.leverage)

    def wallets(self) -> Wallets:
        spot, futures = balances(self.call)
        return Wallets(spot=spot.get(QUOTE, ZERO), futures=futures)

    def transfer_to_futures(self, amount: Decimal) -> str:
        # Once, never retried: after a failure the engine looks for it in the history first.
        raw = self.call.once("transfer", QUOTE, amount, "spot", "swap")
        return str(raw.get("id") or "")

    def transfers_to_futures(self, since_ms: int) -> list[MoneyMove]:
        rows = self.call("fetch_transfers", QUOTE, since_ms, 100, {"type": "MAIN_UMFUTURE"})
        return [
            MoneyMove(str(r["id"]), _exact(r, "amount"), int(r["timestamp"]))
            for r in rows
            if r.get("id") is not None and r.get("timestamp") is not None
        ]

    def add_margin(self, symbol: str, amount: Decimal) -> None:
        # Binance's endpoint, not ccxt's add_margin: that rounds the USDT amount to the
        # contract's *quantity* precision (to tens of USDT on a 10-coin step), so the venue would
        # add less than asked and the step could not be recognised in the history afterwards.
        self.call.once(
            "fapiPrivatePostPositionMargin",
            {
                "symbol": self.call.exchange.market_id(symbol),
                "amount": f"{amount:f}",
                "type": 1,
                "positionSide": "BOTH",
            },
        )

    def margin_additions(self, symbol: str, since_ms: int) -> list[MoneyMove]:
        rows = self.call("fetch_margin_adjustment_history", symbol, "add", since_ms, 500)
        out = []
        for r in rows:
            amount, when = _exact(r, "amount"), r.get("timestamp")
            if when is None:
                continue
            # Binance gives a margin change no id: its time and amount stand for one.
            out.append(MoneyMove(f"{int(when)}:{amount.normalize():f}", amount, int(when)))
        return out

    def perp_margin(self, symbol: str) -> PerpMargin | None:
        positions = self.call("fetch_positions", [symbol])
        unit = self.market.coins_per_unit(symbol)
        for p in positions:
            contracts = (dec(p.get("contracts")) or ZERO) * unit
            if p.get("symbol") != symbol or not contracts:
                continue
            info = p.get("info") or {}
            mark = (dec(p.get("markPrice")) or ZERO) / unit
            mark = mark or self.market.funding_quote(symbol).mark_price
            margin = dec(info.get("isolatedWallet")) or dec(p.get("collateral")) or ZERO
            maintenance = dec(p.get("maintenanceMargin"))
            if maintenance is None:
                brackets = of_market(self.market.markets()[symbol])
                maintenance = maintenance_margin(brackets, contracts * mark)
            return PerpMargin(
                symbol=symbol,
                amount=contracts,
                entry_price=(dec(p.get("entryPrice")) or ZERO) / unit,
                mark_price=mark,
                margin=margin,
                maintenance_margin=maintenance,
            )
        return None

    def perp_positions(self) -> dict[str, Decimal]:
        """Every USDT perpetual the account is short on the exchange: symbol -> coins."""
        out = {}
        for p in self.call("fetch_positions", None):
            contracts = dec(p.get("contracts")) or ZERO
            if contracts and p.get("side") == "short":
                out[p["symbol"]] = contracts * self.market.coins_per_unit(p["symbol"])
        return out

    def funding_payments(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingPayment]:
        rows = self.call("fetch_funding_history", symbol, since_ms + 1, 1000, {"until": until_ms})
        settled = {s.time_ms: s for s in self.market.funding_history(symbol, since_ms, until_ms)}
        out = []
        for r in rows:
            when = int(r["timestamp"])
            if not since_ms < when <= until_ms:
                continue
            # Income rows carry no rate: take the settlement's, matched to the second.
            match = settled.get(when) or next(
                (s for t, s in settled.items() if abs(t - when) < 60_000), None
            )
            amount = dec(r.get("amount")) or ZERO
            mark = match.mark_price if match else ZERO
            rate = match.rate if match else ZERO
            out.append(
                FundingPayment(
                    symbol=symbol,
                    time_ms=when,
                    amount=amount,
                    rate=rate,
                    mark_price=mark,
                    position_amount=abs(amount / (mark * rate)) if mark and rate else ZERO,
                )
            )
        return out

    def account_differences(
        self, held: dict[str, tuple[str, Decimal, Decimal]], order_prefix: str
    ) -> list[str]:
        markets = self.market.markets()
        found: list[str] = []
        for perp, (spot, _, _) in held.items():
            for symbol in (perp, spot):
                if symbol not in markets:
                    continue
                for order in self.call("fetch_open_orders", symbol):
                    # fra sends only market orders: one still open is stale, and must not fill
                    # later behind the books' back.
                    if str(order.get("clientOrderId") or "").startswith(order_prefix):
                        self.call("cancel_order", order["id"], symbol)
                        found.append(f"cancelled stale order {order['clientOrderId']}")
        shorts = self.perp_positions()
        totals = self.call("fetch_balance", {"type": "spot"}).get("total") or {}
        for perp, (spot, spot_held, perp_short) in held.items():
            on_exchange = shorts.get(perp, ZERO)
            step = markets[perp].amount_step if perp in markets else ZERO
            if abs(on_exchange - perp_short) > step:
                found.append(f"{perp}: exchange short {on_exchange}, fra's books {perp_short}")
            base = spot.split("/")[0]
            coin = dec(totals.get(base)) or ZERO
            if coin < spot_held - (markets[spot].amount_step if spot in markets else ZERO):
                found.append(f"{spot}: exchange holds {coin} {base}, fra's books {spot_held}")
        return found

    def untracked(self, held: dict[str, tuple[str, Decimal, Decimal]]) -> list[Untracked]:
        markets = self.market.markets()
        found: list[Untracked] = []
        totals: dict[str, Any] | None = None
        for perp, amount in sorted(self.perp_positions().items()):
            market = markets.get(perp)
            step = market.amount_step if market else ZERO
            spot, spot_held, perp_short = held.get(perp, ("", ZERO, ZERO))
            if amount - perp_short <= step:
                continue
            found.append(Untracked(perp, "short", amount - perp_short, perp))
            spot = spot or (market.spot_symbol if market else "")
            if spot not in markets:
                continue
            if totals is None:
                totals = self.call("fetch_balance", {"type": "spot"}).get("total") or {}
            coins = (dec(totals.get(markets[spot].base)) or ZERO) - spot_held
            if coins > markets[spot].amount_step:
                found.append(Untracked(spot, "spot", coins, perp))
        return found

    def venue_orders(self, symbol: str, since_ms: int) -> list[OrderResult]:
        """Orders Binance's liquidation engine placed on the account (forced orders)."""
        market = self.market.markets().get(symbol)
        if market is None:
            return []
        exchange_id = self.call.exchange.market_id(symbol)
        rows = self.call(
            "fapiPrivateGetForceOrders", {"symbol": exchange_id, "startTime": since_ms}
        )
        out = []
        for row in rows:
            raw = self.call.exchange.parse_order(row, self.call.exchange.market(symbol))
            out.append(self._result(raw, market, None, row.get("clientOrderId") or ""))
        return out


def key_permissions(call: Caller) -> dict[str, Any]:
    """Binance's own account of what the key may do (withdrawals, futures, IP limits)."""
    return dict(call("sapi_get_account_apirestrictions"))


def balances(call: Caller) -> tuple[dict[str, Decimal], Decimal]:
    """(spot free balances by coin, futures wallet's available USDT)."""
    spot = call("fetch_balance", {"type": "spot"})
    futures = call("fetch_balance", {"type": "future"})
    free = {k: dec(v) or ZERO for k, v in (spot.get("free") or {}).items()}
    return free, dec((futures.get("free") or {}).get(QUOTE)) or ZERO


def _exact(row: dict[str, Any], field: str) -> Decimal:
    """A money field as the exchange wrote it (ccxt's parsed copy is a float)."""
    info = row.get("info") or {}
    return dec(info.get(field)) or dec(row.get(field)) or ZERO


def position_mode_hedged(call: Caller) -> bool:
    return bool(call("fetch_position_mode", None, {"type": "swap"}).get("hedged"))


_STATUS = {
    "closed": OrderStatus.FILLED,
    "open": OrderStatus.PARTIAL,
    "canceled": OrderStatus.REJECTED,
    "expired": OrderStatus.REJECTED,
    "rejected": OrderStatus.REJECTED,
}
