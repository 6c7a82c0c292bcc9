"""Binance spot endpoints (/api/v3, /sapi/v1) over the emulated exchange."""

from __future__ import annotations

from fra.emulator.api_common import (
    DAY_MS,
    ApiRequest,
    Exchange,
    Json,
    Route,
    day_stats,
    klines,
    order_ref,
    parse_order,
    selected,
)
from fra.emulator.catalog import Listing
from fra.emulator.errors import mandatory
from fra.emulator.formats import s8
from fra.emulator.records import BUY, ZERO, Order

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT"]  # fmt: skip
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]
STP_MODE = "EXPIRE_MAKER"
BIG = "92233720368.00000000"  # Binance's "no real limit" (int64 max in 1e-8 units)


class SpotApi:
    def __init__(self, ex: Exchange) -> None:
        self.ex = ex

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "/api/v3/ping"): Route(lambda req: {}),
            ("GET", "/api/v3/time"): Route(self.time),
            ("GET", "/api/v3/exchangeInfo"): Route(self.exchange_info),
            ("GET", "/api/v3/depth"): Route(self.depth),
            ("GET", "/api/v3/ticker/24hr"): Route(self.ticker_24hr),
            ("GET", "/api/v3/ticker/bookTicker"): Route(self.book_ticker),
            ("GET", "/api/v3/klines"): Route(self.klines),
            ("GET", "/api/v3/account"): Route(self.account, signed=True),
            ("POST", "/api/v3/order"): Route(self.new_order, signed=True, permission="spot"),
            ("GET", "/api/v3/order"): Route(self.get_order, signed=True),
            ("DELETE", "/api/v3/order"): Route(self.cancel_order, signed=True, permission="spot"),
            ("GET", "/api/v3/openOrders"): Route(self.open_orders, signed=True),
            ("GET", "/api/v3/myTrades"): Route(self.my_trades, signed=True),
            ("GET", "/sapi/v1/asset/tradeFee"): Route(self.trade_fee, signed=True),
            ("GET", "/sapi/v1/account/apiRestrictions"): Route(self.api_restrictions, signed=True),
            ("POST", "/sapi/v1/asset/transfer"): Route(
                self.transfer, signed=True, permission="transfer"
            ),
            ("GET", "/sapi/v1/asset/transfer"): Route(self.transfer_history, signed=True),
            # ccxt's load_markets asks for these when it has keys; no pair is marginable here.
            ("GET", "/sapi/v1/margin/allPairs"): Route(lambda req: [], signed=True),
            ("GET", "/sapi/v1/margin/isolated/allPairs"): Route(lambda req: [], signed=True),
        }

    # -- market data --------------------------------------------------------------------------

    def time(self, req: ApiRequest) -> Json:
        return {"serverTime": self.ex.clock.now_ms()}

    def exchange_info(self, req: ApiRequest) -> Json:
        listings = selected(self.ex, "spot", req)
        if isinstance(listings, Listing):
            listings = [listings]
        return {
            "timezone": "UTC",
            "serverTime": self.ex.clock.now_ms(),
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [self._symbol(listing) for listing in listings],
        }

    def _symbol(self, listing: Listing) -> dict[str, object]:
        m = listing.market
        return {
            "symbol": listing.id,
            "status": self.ex.catalog.status(listing),
            "baseAsset": m.base,
            "baseAssetPrecision": 8,
            "quoteAsset": m.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ORDER_TYPES,
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": s8(m.price_step),
                    "maxPrice": "1000000.00000000",
                    "tickSize": s8(m.price_step),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": s8(m.min_amount),
                    "maxQty": BIG,
                    "stepSize": s8(m.amount_step),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": s8(ZERO),
                    "maxQty": BIG,
                    "stepSize": s8(ZERO),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": s8(m.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": BIG,
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": STP_MODE,
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def depth(self, req: ApiRequest) -> Json:
        listing = self.ex.catalog.listing("spot", req.text("symbol"))
        book = self.ex.market.order_book(listing.source, req.limit(100, 5000))
        return {
            "lastUpdateId": book.timestamp_ms,
            "bids": [[s8(p), s8(q)] for p, q in book.bids],
            "asks": [[s8(p), s8(q)] for p, q in book.asks],
        }

    def ticker_24hr(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "spot", req)
        now = self.ex.clock.now_ms()
        tickers, day_ago = self.ex.market.tickers(), self.ex.past.tickers(now - DAY_MS)

        def one(listing: Listing) -> dict[str, object]:
            ticker, then = tickers[listing.source], day_ago[listing.source]
            top = self.ex.market.order_book(listing.source, 1)
            return {
                "symbol": listing.id,
                **day_stats(ticker, then, now, s8),
                "prevClosePrice": s8(then.last),
                "lastQty": s8(listing.market.min_amount),
                "bidPrice": s8(top.bids[0][0]),
                "bidQty": s8(top.bids[0][1]),
                "askPrice": s8(top.asks[0][0]),
                "askQty": s8(top.asks[0][1]),
            }

        return one(chosen) if isinstance(chosen, Listing) else [one(x) for x in chosen]

    def book_ticker(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "spot", req)

        def one(listing: Listing) -> dict[str, object]:
            top = self.ex.market.order_book(listing.source, 1)
            return {
                "symbol": listing.id,
                "bidPrice": s8(top.bids[0][0]),
                "bidQty": s8(top.bids[0][1]),
                "askPrice": s8(top.asks[0][0]),
                "askQty": s8(top.asks[0][1]),
            }

        return one(chosen) if isinstance(chosen, Listing) else [one(x) for x in chosen]

    def klines(self, req: ApiRequest) -> Json:
        listing = self.ex.catalog.listing("spot", req.text("symbol"))
        return klines(self.ex, listing, req, maximum=1000, price=s8, qty=s8, quote=s8)

    # -- account and trading ------------------------------------------------------------------

    def account(self, req: ApiRequest) -> Json:
        omit_zero = req.flag("omitZeroBalances")
        balances = [
            {"asset": asset, "free": s8(free), "locked": s8(locked)}
            for asset, free, locked in self.ex.account.spot_balances()
            if not omit_zero or free or locked
        ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": req.caller.enable_spot,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.ex.account.spot_update_ms,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    def new_order(self, req: ApiRequest) -> Json:
        listing = self.ex.catalog.listing("spot", req.text("symbol"))
        order = self.ex.account.place_spot(parse_order(req, listing))
        kind = (req.text("newOrderRespType") or "FULL").upper()
        ack = {
            "symbol": listing.id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": order.time_ms,
        }
        if kind == "ACK":
            return ack
        result = {
            **ack,
            **_order_fields(order),
            "workingTime": order.time_ms,
            "selfTradePreventionMode": STP_MODE,
        }
        if kind == "FULL":
            result["fills"] = [
                {
                    "price": s8(f.price),
                    "qty": s8(f.qty),
                    "commission": s8(f.commission),
                    "commissionAsset": f.commission_asset,
                    "tradeId": f.trade_id,
                }
                for f in order.fills
            ]
        return result

    def get_order(self, req: ApiRequest) -> Json:
        listing = self.ex.catalog.listing("spot", req.text("symbol"))
        return _order_json(self.ex.account.find_order("spot", listing, *order_ref(req)))

    def cancel_order(self, req: ApiRequest) -> Json:
        listing = self.ex.catalog.listing("spot", req.text("symbol"))
        order = self.ex.account.cancel("spot", listing, *order_ref(req))
        return {
            "symbol": listing.id,
            "origClientOrderId": order.client_order_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": req.text("newClientOrderId") or f"cancel{order.order_id}",
            "transactTime": order.update_ms,
            **_order_fields(order),
            "selfTradePreventionMode": STP_MODE,
        }

    def open_orders(self, req: ApiRequest) -> Json:
        symbol = req.text("symbol")
        listing = self.ex.catalog.listing("spot", symbol) if symbol else None
        return [_order_json(o) for o in self.ex.account.open_orders("spot", listing)]

    def my_trades(self, req: ApiRequest) -> Json:
        listing = self.ex.catalog.listing("spot", req.text("symbol"))
        order_id, from_id = req.integer("orderId"), req.integer("fromId")
        start, end = req.integer("startTime"), req.integer("endTime")
        rows = [
            {
                "symbol": listing.id,
                "id": fill.trade_id,
                "orderId": order.order_id,
                "orderListId": -1,
                "price": s8(fill.price),
                "qty": s8(fill.qty),
                "quoteQty": s8(fill.price * fill.qty),
                "commission": s8(fill.commission),
                "commissionAsset": fill.commission_asset,
                "time": fill.time_ms,
                "isBuyer": order.side == BUY,
                "isMaker": False,
                "isBestMatch": True,
            }
            for order, fill in self.ex.account.trades("spot", listing)
            if (order_id is None or order.order_id == order_id)
            and (from_id is None or fill.trade_id >= from_id)
            and (start is None or fill.time_ms >= start)
            and (end is None or fill.time_ms <= end)
        ]
        return rows[: req.limit(500, 1000)]

    def trade_fee(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "spot", req)
        listings = [chosen] if isinstance(chosen, Listing) else chosen
        return [
            {
                "symbol": listing.id,
                "makerCommission": f"{listing.market.maker_fee.normalize():f}",
                "takerCommission": f"{listing.market.taker_fee.normalize():f}",
            }
            for listing in listings
        ]

    def api_restrictions(self, req: ApiRequest) -> Json:
        key = req.caller
        return {
            "ipRestrict": key.ip_restrict,
            "createTime": key.create_time_ms,
            "enableReading": key.enable_reading,
            "enableWithdrawals": key.enable_withdrawals,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": key.enable_futures,
            "permitsUniversalTransfer": key.permits_universal_transfer,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enableSpotAndMarginTrading": key.enable_spot,
            "enablePortfolioMarginTrading": False,
        }

    def transfer(self, req: ApiRequest) -> Json:
        """User universal transfer; the emulator keeps two wallets: spot and USDⓈ-M futures."""
        kind = req.required("type").upper()
        asset = req.required("asset").upper()
        amount = req.decimal("amount")
        if amount is None:
            raise mandatory("amount")
        done = self.ex.account.transfer(kind, asset, amount)
        return {"tranId": done.tran_id}

    def transfer_history(self, req: ApiRequest) -> Json:
        """Newest first, paged by `current` and `size`; the last 7 days without a time range."""
        kind = req.required("type").upper()
        start, end = req.integer("startTime"), req.integer("endTime")
        if start is None and end is None:
            start = self.ex.clock.now_ms() - 7 * DAY_MS
        size = min(max(req.integer("size") or 10, 1), 100)
        current = max(req.integer("current") or 1, 1)
        rows = [
            t
            for t in reversed(self.ex.account.transfers(kind))
            if (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)
        ]
        if not rows:
            return {"total": 0}  # Binance leaves "rows" out when there are none
        page = rows[(current - 1) * size : current * size]
        return {
            "total": len(rows),
            "rows": [
                {
                    "asset": t.asset,
                    "amount": f"{t.amount.normalize():f}",
                    "type": t.type,
                    "status": "CONFIRMED",
                    "tranId": t.tran_id,
                    "timestamp": t.time_ms,
                }
                for t in page
            ],
        }


def _order_fields(order: Order) -> dict[str, object]:
    return {
        "price": s8(order.price),
        "origQty": s8(order.orig_qty),
        "executedQty": s8(order.executed_qty),
        "origQuoteOrderQty": s8(ZERO),
        "cummulativeQuoteQty": s8(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
    }


def _order_json(order: Order) -> dict[str, object]:
    return {
        "symbol": order.listing.id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        **_order_fields(order),
        "stopPrice": s8(ZERO),
        "icebergQty": s8(ZERO),
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": True,
        "workingTime": order.time_ms,
        "selfTradePreventionMode": STP_MODE,
    }
