"""Binance USDⓈ-M futures endpoints (/fapi/v1, /fapi/v2, /fapi/v3) over the emulated exchange.

Versions follow what ccxt 4.5 calls by default (v3 account and positionRisk) plus the v2 ones it
falls back to with `useV2`, in the shapes Binance documents for each version.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

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
from fra.emulator.brackets import PLACEHOLDER_MAINT_PERCENT, PLACEHOLDER_REQUIRED_PERCENT
from fra.emulator.catalog import TRADING, Listing
from fra.emulator.errors import BinanceError, illegal, mandatory
from fra.emulator.formats import fixed, places, plain, s8
from fra.emulator.records import BUY, ZERO, Order, PositionView, WalletView
from fra.emulator.spot_api import RATE_LIMITS

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
               "TRAILING_STOP_MARKET"]  # fmt: skip
PERIOD_MS = 8 * 3_600_000  # the longest funding interval: `limit` of them hold `limit` prints
SEVEN_DAYS_MS = 7 * DAY_MS
SUCCESS = {"code": 200, "msg": "success"}


def _price(listing: Listing, value: Decimal) -> str:
    return fixed(value, places(listing.market.price_step))


def _qty(listing: Listing, value: Decimal) -> str:
    return fixed(value, places(listing.market.amount_step))


def _number(value: Decimal) -> int | float:
    """A JSON number as Binance writes notionals: an integer where it is whole."""
    return int(value) if value == value.to_integral_value() else float(value)


class FuturesApi:
    def __init__(self, ex: Exchange) -> None:
        self.ex = ex

    def routes(self) -> dict[tuple[str, str], Route]:
        def signed(handler: Callable[[ApiRequest], Json]) -> Route:
            return Route(handler, signed=True, permission="futures")

        return {
            ("GET", "/fapi/v1/ping"): Route(lambda req: {}),
            ("GET", "/fapi/v1/time"): Route(self.time),
            ("GET", "/fapi/v1/exchangeInfo"): Route(self.exchange_info),
            ("GET", "/fapi/v1/depth"): Route(self.depth),
            ("GET", "/fapi/v1/ticker/24hr"): Route(self.ticker_24hr),
            ("GET", "/fapi/v1/ticker/bookTicker"): Route(self.book_ticker),
            ("GET", "/fapi/v1/klines"): Route(self.klines),
            ("GET", "/fapi/v1/premiumIndex"): Route(self.premium_index),
            ("GET", "/fapi/v1/fundingRate"): Route(self.funding_rate),
            ("GET", "/fapi/v1/fundingInfo"): Route(self.funding_info),
            ("GET", "/fapi/v3/account"): signed(self.account_v3),
            ("GET", "/fapi/v2/account"): signed(self.account_v2),
            ("GET", "/fapi/v3/balance"): signed(self.balance),
            ("GET", "/fapi/v2/balance"): signed(self.balance),
            ("GET", "/fapi/v3/positionRisk"): signed(self.position_risk_v3),
            ("GET", "/fapi/v2/positionRisk"): signed(self.position_risk_v2),
            ("GET", "/fapi/v1/positionSide/dual"): signed(self.get_position_mode),
            ("POST", "/fapi/v1/positionSide/dual"): signed(self.set_position_mode),
            ("POST", "/fapi/v1/marginType"): signed(self.set_margin_type),
            ("POST", "/fapi/v1/leverage"): signed(self.set_leverage),
            ("POST", "/fapi/v1/order"): signed(self.new_order),
            ("GET", "/fapi/v1/order"): signed(self.get_order),
            ("DELETE", "/fapi/v1/order"): signed(self.cancel_order),
            ("GET", "/fapi/v1/openOrders"): signed(self.open_orders),
            ("GET", "/fapi/v1/userTrades"): signed(self.user_trades),
            ("GET", "/fapi/v1/income"): signed(self.income),
            ("GET", "/fapi/v1/forceOrders"): signed(self.force_orders),
            ("GET", "/fapi/v1/leverageBracket"): signed(self.leverage_bracket),
            ("GET", "/fapi/v1/commissionRate"): signed(self.commission_rate),
            ("GET", "/fapi/v1/accountConfig"): signed(self.account_config),
            ("POST", "/fapi/v1/positionMargin"): signed(self.position_margin),
            ("GET", "/fapi/v1/positionMargin/history"): signed(self.position_margin_history),
        }

    def _listing(self, req: ApiRequest) -> Listing:
        return self.ex.catalog.listing("futures", req.text("symbol"))

    def _optional_listing(self, req: ApiRequest) -> Listing | None:
        return self._listing(req) if req.text("symbol") else None

    # -- market data --------------------------------------------------------------------------

    def time(self, req: ApiRequest) -> Json:
        return {"serverTime": self.ex.clock.now_ms()}

    def exchange_info(self, req: ApiRequest) -> Json:
        return {
            "timezone": "UTC",
            "serverTime": self.ex.clock.now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": RATE_LIMITS[:2],
            "exchangeFilters": [],
            "assets": [
                {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                {"asset": "USDC", "marginAvailable": True, "autoAssetExchange": "-5000"},
            ],
            "symbols": [self._symbol(listing) for listing in self.ex.catalog.listings("futures")],
        }

    def _symbol(self, listing: Listing) -> dict[str, object]:
        m = listing.market
        return {
            "symbol": listing.id,
            "pair": listing.id.split("_")[0],
            "contractType": listing.contract_type,
            "deliveryDate": listing.delivery_ms,
            "onboardDate": listing.onboard_ms,
            "status": self.ex.catalog.status(listing),
            # Binance's placeholders, the same for every symbol: the real figures are in
            # leverageBracket only.
            "maintMarginPercent": PLACEHOLDER_MAINT_PERCENT,
            "requiredMarginPercent": PLACEHOLDER_REQUIRED_PERCENT,
            "baseAsset": m.base,
            "quoteAsset": m.quote,
            "marginAsset": listing.margin_asset,
            "pricePrecision": places(m.price_step),
            "quantityPrecision": places(m.amount_step),
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": plain(m.price_step),
                    "maxPrice": "4529764",
                    "tickSize": plain(m.price_step),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": plain(m.min_amount),
                    "maxQty": "100000000",
                    "stepSize": plain(m.amount_step),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": plain(m.min_amount),
                    "maxQty": "100000000",
                    "stepSize": plain(m.amount_step),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": plain(m.min_notional)},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0500",
                    "multiplierDown": "0.9500",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": ORDER_TYPES,
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }

    def depth(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        limit = req.integer("limit") or 500
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-4021, "Invalid depth limit.")
        book = self.ex.market.order_book(listing.source, limit)
        now = self.ex.clock.now_ms()
        return {
            "lastUpdateId": book.timestamp_ms,
            "E": now,
            "T": now,
            "bids": [[_price(listing, p), _qty(listing, q)] for p, q in book.bids],
            "asks": [[_price(listing, p), _qty(listing, q)] for p, q in book.asks],
        }

    def ticker_24hr(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "futures", req)
        now = self.ex.clock.now_ms()
        tickers, day_ago = self.ex.market.tickers(), self.ex.past.tickers(now - DAY_MS)

        def one(listing: Listing) -> dict[str, object]:
            stats = day_stats(
                tickers[listing.source],
                day_ago[listing.source],
                now,
                lambda value: _price(listing, value),
            )
            # Binance's futures 24h ticker has no bid or ask (bookTicker has them).
            return {
                "symbol": listing.id,
                **stats,
                "lastQty": _qty(listing, listing.market.min_amount),
            }

        return one(chosen) if isinstance(chosen, Listing) else [one(x) for x in chosen]

    def book_ticker(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "futures", req)
        now = self.ex.clock.now_ms()

        def one(listing: Listing) -> dict[str, object]:
            top = self.ex.market.order_book(listing.source, 1)
            return {
                "symbol": listing.id,
                "bidPrice": _price(listing, top.bids[0][0]),
                "bidQty": _qty(listing, top.bids[0][1]),
                "askPrice": _price(listing, top.asks[0][0]),
                "askQty": _qty(listing, top.asks[0][1]),
                "time": now,
            }

        return one(chosen) if isinstance(chosen, Listing) else [one(x) for x in chosen]

    def premium_index(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "futures", req)
        now = self.ex.clock.now_ms()
        if isinstance(chosen, Listing):
            quotes = {chosen.source: self.ex.market.funding_quote(chosen.source)}
        else:
            quotes = self.ex.market.funding_quotes()

        def one(listing: Listing) -> dict[str, object]:
            quote = quotes[listing.source]
            perpetual = listing.perpetual and quote.rate is not None
            return {
                "symbol": listing.id,
                "markPrice": s8(quote.mark_price),
                "indexPrice": s8(quote.index_price),
                "estimatedSettlePrice": s8(quote.index_price),
                # Delivery contracts have no funding: Binance sends zero rates and time.
                "lastFundingRate": s8(quote.rate) if perpetual else s8(ZERO),
                "interestRate": "0.00010000" if perpetual else s8(ZERO),
                "nextFundingTime": quote.next_funding_ms if perpetual else 0,
                "time": now,
            }

        return one(chosen) if isinstance(chosen, Listing) else [one(x) for x in chosen]

    def funding_rate(self, req: ApiRequest) -> Json:
        """Settled rates, ascending by time and, at one time, by symbol; startTime and endTime
        inclusive. Without startTime: the latest `limit`; with it: the first `limit` from there
        on. Without a symbol, every perpetual's that settles now (Binance's USDC-margined ones
        included; not one delisted, SETTLING, or not launched yet)."""
        listing = self._optional_listing(req)
        catalog = self.ex.catalog
        listings = (
            [listing]
            if listing
            else [one for one in catalog.listings("futures") if catalog.status(one) == TRADING]
        )
        perpetuals = [one for one in listings if one.perpetual]
        limit = req.limit(100, 1000)
        start, end = req.integer("startTime"), req.integer("endTime")
        now = self.ex.clock.now_ms()
        end = min(end or now, now)
        # Every perpetual settles at least once per PERIOD_MS: this many periods hold `limit`
        # rows of them all, so no more history is computed than the answer needs.
        periods = -(-limit // max(1, len(perpetuals))) + 1 if listing is None else limit
        rows = []
        for one in perpetuals:
            since = end - periods * PERIOD_MS if start is None else start - 1
            until = end if start is None else min(end, start + periods * PERIOD_MS)
            rows += [(s, one) for s in self.ex.market.funding_history(one.source, since, until)]
        rows.sort(key=lambda row: (row[0].time_ms, row[1].id))
        rows = rows[-limit:] if start is None else rows[:limit]
        return [
            {
                "symbol": one.id,
                "fundingRate": s8(s.rate),
                "fundingTime": s.time_ms,
                "markPrice": s8(s.mark_price),
            }
            for s, one in rows
        ]

    def klines(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        return klines(
            self.ex,
            listing,
            req,
            maximum=1500,
            price=lambda value: _price(listing, value),
            qty=lambda value: _qty(listing, value),
            quote=lambda value: fixed(value, 5),
        )

    def funding_info(self, req: ApiRequest) -> Json:
        """Binance lists only the perpetuals whose funding was adjusted: here, those not on the
        standard 8h interval right now."""
        quotes = self.ex.market.funding_quotes()
        out = []
        for listing in self.ex.catalog.listings("futures"):
            hours = quotes[listing.source].interval_hours
            if not listing.perpetual or hours == 8:
                continue
            cap = self.ex.market.funding_cap(listing.source)
            out.append(
                {
                    "symbol": listing.id,
                    "adjustedFundingRateCap": s8(cap),
                    "adjustedFundingRateFloor": s8(-cap),
                    "fundingIntervalHours": hours,
                    "disclaimer": False,
                }
            )
        return out

    # -- account ------------------------------------------------------------------------------

    def _wallets(self) -> list[WalletView]:
        return [self.ex.account.wallet(asset) for asset in self.ex.account.wallet_assets()]

    def _totals(self) -> dict[str, object]:
        usdt = self.ex.account.wallet("USDT")  # Binance's totals count USDT only
        return {
            "totalInitialMargin": s8(usdt.initial_margin),
            "totalMaintMargin": s8(usdt.maint_margin),
            "totalWalletBalance": s8(usdt.wallet_balance),
            "totalUnrealizedProfit": s8(usdt.unrealized_pnl),
            "totalMarginBalance": s8(usdt.margin_balance),
            "totalPositionInitialMargin": s8(usdt.position_initial_margin),
            "totalOpenOrderInitialMargin": s8(usdt.open_order_initial_margin),
            "totalCrossWalletBalance": s8(usdt.cross_wallet_balance),
            "totalCrossUnPnl": s8(usdt.cross_unrealized_pnl),
            "availableBalance": s8(usdt.available_balance),
            "maxWithdrawAmount": s8(usdt.available_balance),
        }

    @staticmethod
    def _asset(w: WalletView) -> dict[str, object]:
        return {
            "asset": w.asset,
            "walletBalance": s8(w.wallet_balance),
            "unrealizedProfit": s8(w.unrealized_pnl),
            "marginBalance": s8(w.margin_balance),
            "maintMargin": s8(w.maint_margin),
            "initialMargin": s8(w.initial_margin),
            "positionInitialMargin": s8(w.position_initial_margin),
            "openOrderInitialMargin": s8(w.open_order_initial_margin),
            "crossWalletBalance": s8(w.cross_wallet_balance),
            "crossUnPnl": s8(w.cross_unrealized_pnl),
            "availableBalance": s8(w.available_balance),
            "maxWithdrawAmount": s8(w.available_balance),
            "marginAvailable": True,
            "updateTime": w.update_ms,
        }

    def _views(self, listing: Listing | None = None) -> list[PositionView]:
        account = self.ex.account
        return [
            account.position_view(p)
            for p in account.positions()
            if listing is None or p.listing.id == listing.id
        ]

    def account_v3(self, req: ApiRequest) -> Json:
        return {
            **self._totals(),
            "assets": [self._asset(w) for w in self._wallets()],
            "positions": [
                {
                    "symbol": v.position.listing.id,
                    "positionSide": "BOTH",
                    "positionAmt": _qty(v.position.listing, v.position.amount),
                    "unrealizedProfit": s8(v.unrealized_pnl),
                    "isolatedMargin": s8(v.isolated_margin),
                    "notional": s8(v.notional),
                    "isolatedWallet": s8(v.position.isolated_wallet),
                    "initialMargin": s8(v.initial_margin),
                    "maintMargin": s8(v.maint_margin),
                    "updateTime": v.position.update_ms,
                }
                for v in self._views()
            ],
        }

    def account_v2(self, req: ApiRequest) -> Json:
        account = self.ex.account
        positions = []
        for listing in self.ex.catalog.listings("futures"):
            v = account.position_view(account.position(listing))
            positions.append(
                {
                    "symbol": listing.id,
                    "initialMargin": s8(v.initial_margin),
                    "maintMargin": s8(v.maint_margin),
                    "unrealizedProfit": s8(v.unrealized_pnl),
                    "positionInitialMargin": s8(v.initial_margin),
                    "openOrderInitialMargin": "0",
                    "leverage": str(v.settings.leverage),
                    "isolated": v.settings.isolated,
                    "entryPrice": s8(v.position.entry_price),
                    "breakEvenPrice": s8(v.position.entry_price),
                    "maxNotional": plain(self._max_notional(v)),
                    "bidNotional": "0",
                    "askNotional": "0",
                    "positionSide": "BOTH",
                    "positionAmt": _qty(listing, v.position.amount),
                    "updateTime": v.position.update_ms,
                }
            )
        return {
            "feeTier": 0,
            "feeBurn": True,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
            **self._totals(),
            "assets": [self._asset(w) for w in self._wallets()],
            "positions": positions,
        }

    def _max_notional(self, v: PositionView) -> Decimal:
        cap = self.ex.account.max_notional(v.position.listing, v.settings.leverage)
        return cap if cap is not None else ZERO

    def balance(self, req: ApiRequest) -> Json:
        return [
            {
                "accountAlias": "SgsRmYFzoCTiAuXq",
                "asset": w.asset,
                "balance": s8(w.wallet_balance),
                "crossWalletBalance": s8(w.cross_wallet_balance),
                "crossUnPnl": s8(w.cross_unrealized_pnl),
                "availableBalance": s8(w.available_balance),
                "maxWithdrawAmount": s8(w.available_balance),
                "marginAvailable": True,
                "updateTime": w.update_ms,
            }
            for w in self._wallets()
        ]

    def position_risk_v3(self, req: ApiRequest) -> Json:
        """Only the symbols with a position, as Binance's v3 does."""
        return [
            {
                "symbol": v.position.listing.id,
                "positionSide": "BOTH",
                "positionAmt": _qty(v.position.listing, v.position.amount),
                "entryPrice": s8(v.position.entry_price),
                "breakEvenPrice": s8(v.position.entry_price),
                "markPrice": s8(v.mark_price),
                "unRealizedProfit": s8(v.unrealized_pnl),
                "liquidationPrice": s8(v.liquidation_price),
                "isolatedMargin": s8(v.isolated_margin),
                "notional": s8(v.notional),
                "marginAsset": v.position.listing.margin_asset,
                "isolatedWallet": s8(v.position.isolated_wallet),
                "initialMargin": s8(v.initial_margin),
                "maintMargin": s8(v.maint_margin),
                "positionInitialMargin": s8(v.initial_margin),
                "openOrderInitialMargin": "0",
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": v.position.update_ms,
            }
            for v in self._views(self._optional_listing(req))
        ]

    def position_risk_v2(self, req: ApiRequest) -> Json:
        """Every symbol, flat ones included, with leverage and margin type, as v2 does."""
        account = self.ex.account
        listing = self._optional_listing(req)
        listings = [listing] if listing else self.ex.catalog.listings("futures")
        out = []
        for one in listings:
            v = account.position_view(account.position(one))
            out.append(
                {
                    "symbol": one.id,
                    "positionAmt": _qty(one, v.position.amount),
                    "entryPrice": s8(v.position.entry_price),
                    "breakEvenPrice": s8(v.position.entry_price),
                    "markPrice": s8(v.mark_price),
                    "unRealizedProfit": s8(v.unrealized_pnl),
                    "liquidationPrice": s8(v.liquidation_price),
                    "leverage": str(v.settings.leverage),
                    "maxNotionalValue": plain(self._max_notional(v)),
                    "marginType": "isolated" if v.settings.isolated else "cross",
                    "isolatedMargin": s8(v.isolated_margin),
                    "isAutoAddMargin": "false",
                    "positionSide": "BOTH",
                    "notional": s8(v.notional),
                    "isolatedWallet": s8(v.position.isolated_wallet),
                    "updateTime": v.position.update_ms,
                }
            )
        return out

    def account_config(self, req: ApiRequest) -> Json:
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "dualSidePosition": self.ex.account.dual_side,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }

    def commission_rate(self, req: ApiRequest) -> Json:
        m = self._listing(req).market
        return {
            "symbol": req.required("symbol"),
            "makerCommissionRate": fixed(m.maker_fee, 6),
            "takerCommissionRate": fixed(m.taker_fee, 6),
            "rpiCommissionRate": "0",
        }

    def leverage_bracket(self, req: ApiRequest) -> Json:
        chosen = selected(self.ex, "futures", req)

        def one(listing: Listing) -> dict[str, object]:
            out: dict[str, object] = {"symbol": listing.id}
            coef = self.ex.account.notional_coef(listing)
            if coef is not None:
                # Binance shows the multiplier only where it adjusted the user's brackets.
                out["notionalCoef"] = float(coef)
            out["brackets"] = [
                {
                    "bracket": b.number,
                    "initialLeverage": b.initial_leverage,
                    "notionalCap": _number(b.cap),
                    "notionalFloor": _number(b.floor),
                    "maintMarginRatio": float(b.maint_rate),
                    "cum": float(b.cum),
                }
                for b in self.ex.account.brackets(listing)
            ]
            return out

        return one(chosen) if isinstance(chosen, Listing) else [one(x) for x in chosen]

    # -- settings -------------------------------------------------------------------------------

    def get_position_mode(self, req: ApiRequest) -> Json:
        return {"dualSidePosition": self.ex.account.dual_side}

    def set_position_mode(self, req: ApiRequest) -> Json:
        req.required("dualSidePosition")
        self.ex.account.set_dual_side(req.flag("dualSidePosition"))
        return SUCCESS

    def set_margin_type(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        kind = req.required("marginType").upper()
        if kind not in ("ISOLATED", "CROSSED"):
            raise illegal("marginType", "ISOLATED, CROSSED")
        self.ex.account.set_margin_type(listing, kind == "ISOLATED")
        return SUCCESS

    def set_leverage(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        leverage = req.integer("leverage")
        if leverage is None:
            raise mandatory("leverage")
        cap = self.ex.account.set_leverage(listing, leverage)
        return {"leverage": leverage, "maxNotionalValue": plain(cap), "symbol": listing.id}

    # -- isolated margin -------------------------------------------------------------------------

    def position_margin(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        amount = req.decimal("amount")
        if amount is None:
            raise mandatory("amount")
        kind = req.integer("type")
        if kind not in (1, 2):
            raise illegal("type", "1, 2")
        side = (req.text("positionSide") or "BOTH").upper()
        if side != "BOTH" and not self.ex.account.dual_side:
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        self.ex.account.modify_isolated_margin(listing, amount, add=kind == 1)
        return {
            "amount": float(amount),
            "code": 200,
            "msg": "Successfully modify position margin.",
            "type": kind,
        }

    def position_margin_history(self, req: ApiRequest) -> Json:
        """Ascending, at most 30 days, as Binance keeps them."""
        listing = self._listing(req)
        kind = req.integer("type")
        now = self.ex.clock.now_ms()
        end = req.integer("endTime") or now
        start = req.integer("startTime") or end - 30 * DAY_MS
        if end - start > 30 * DAY_MS:
            raise BinanceError(-1127, "More than 30 days between startTime and endTime.")
        rows = [
            c
            for c in self.ex.account.margin_changes(listing)
            if (kind is None or c.type == kind) and start <= c.time_ms <= end
        ]
        return [
            {
                "symbol": c.symbol,
                "type": c.type,
                "deltaType": "USER_ADJUST",
                "amount": s8(c.amount),
                "asset": c.asset,
                "time": c.time_ms,
                "positionSide": "BOTH",
            }
            for c in rows[: req.limit(500, 500)]
        ]

    # -- orders ----------------------------------------------------------------------------------

    def new_order(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        side = (req.text("positionSide") or "BOTH").upper()
        if side != "BOTH" and not self.ex.account.dual_side:
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        if req.flag("closePosition"):
            raise BinanceError(-1, "emulator: closePosition orders are not supported")
        order = self.ex.account.place_futures(parse_order(req, listing))
        # Binance's default for futures is ACK: the order as accepted, before it matched.
        return _order_json(order, ack=(req.text("newOrderRespType") or "ACK").upper() == "ACK")

    def get_order(self, req: ApiRequest) -> Json:
        return _order_json(
            self.ex.account.find_order("futures", self._listing(req), *order_ref(req))
        )

    def cancel_order(self, req: ApiRequest) -> Json:
        return _order_json(self.ex.account.cancel("futures", self._listing(req), *order_ref(req)))

    def open_orders(self, req: ApiRequest) -> Json:
        return [
            _order_json(o)
            for o in self.ex.account.open_orders("futures", self._optional_listing(req))
        ]

    def user_trades(self, req: ApiRequest) -> Json:
        listing = self._listing(req)
        order_id, from_id = req.integer("orderId"), req.integer("fromId")
        start, end = req.integer("startTime"), req.integer("endTime")
        rows = [
            {
                "buyer": order.side == BUY,
                "commission": s8(fill.commission),
                "commissionAsset": fill.commission_asset,
                "id": fill.trade_id,
                "maker": False,
                "orderId": order.order_id,
                "price": _price(listing, fill.price),
                "qty": _qty(listing, fill.qty),
                "quoteQty": s8(fill.price * fill.qty),
                "realizedPnl": s8(fill.realized_pnl),
                "side": order.side,
                "positionSide": "BOTH",
                "symbol": listing.id,
                "time": fill.time_ms,
            }
            for order, fill in self.ex.account.trades("futures", listing)
            if (order_id is None or order.order_id == order_id)
            and (from_id is None or fill.trade_id >= from_id)
            and (start is None or fill.time_ms >= start)
            and (end is None or fill.time_ms <= end)
        ]
        return rows[: req.limit(500, 1000)]

    def income(self, req: ApiRequest) -> Json:
        """Ascending; without a time range, the last seven days (as Binance)."""
        listing = self._optional_listing(req)
        kind = req.text("incomeType")
        start, end = req.integer("startTime"), req.integer("endTime")
        if start is None and end is None:
            start = self.ex.clock.now_ms() - SEVEN_DAYS_MS
        rows = sorted(
            (
                i
                for i in self.ex.account.incomes()
                if (listing is None or i.symbol == listing.id)
                and (kind is None or i.income_type == kind)
                and (start is None or i.time_ms >= start)
                and (end is None or i.time_ms <= end)
            ),
            key=lambda i: (i.time_ms, i.tran_id),
        )
        return [
            {
                "symbol": i.symbol,
                "incomeType": i.income_type,
                "income": s8(i.amount),
                "asset": i.asset,
                "info": i.info,
                "time": i.time_ms,
                "tranId": i.tran_id,
                "tradeId": i.trade_id,
            }
            for i in rows[: req.limit(100, 1000)]
        ]

    def force_orders(self, req: ApiRequest) -> Json:
        listing = self._optional_listing(req)
        kind = req.text("autoCloseType")
        if kind not in (None, "LIQUIDATION", "ADL"):
            raise illegal("autoCloseType", "LIQUIDATION, ADL")
        end = req.integer("endTime") or self.ex.clock.now_ms()
        start = req.integer("startTime") or end - SEVEN_DAYS_MS
        if kind == "ADL":
            return []  # the emulator never auto-deleverages
        return [
            _order_json(o)
            for o in self.ex.account.forced_orders()
            if (listing is None or o.listing.id == listing.id) and start <= o.time_ms <= end
        ][: req.limit(50, 100)]


def _order_json(order: Order, *, ack: bool = False) -> dict[str, object]:
    listing = order.listing
    executed, quote, average = order.executed_qty, order.cum_quote, order.avg_price
    status = order.status
    if ack:
        executed = quote = average = ZERO
        status = "NEW"
    return {
        "orderId": order.order_id,
        "symbol": listing.id,
        "status": status,
        "clientOrderId": order.client_order_id,
        "price": _price(listing, order.price),
        "avgPrice": s8(average),
        "origQty": _qty(listing, order.orig_qty),
        "executedQty": _qty(listing, executed),
        "cumQty": _qty(listing, executed),
        "cumQuote": s8(quote),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side,
        "positionSide": "BOTH",
        "stopPrice": _price(listing, ZERO),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": order.time_ms,
        "updateTime": order.update_ms,
    }
