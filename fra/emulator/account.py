"""One user's accounts on the emulated exchange, and the exchange's rules for them.

Spot and USDⓈ-M futures are separate wallets, as on Binance. Orders fill at once against the
simulated order book (taker fills, level by level); a GTC limit order's unfilled rest stays open
and holds its funds but never fills later. Futures positions are one-way mode, in cross or
isolated margin.

Time-driven events are settled lazily: `catch_up(now)` runs at the start of every request and
processes everything that happened since the last one, in order: for each position, the first
instant its mark price breached maintenance (sampled along the way, so a price spike between
two requests still liquidates), every funding settlement before that, then the liquidation.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from fra.core.models import FundingSettlement, Market
from fra.emulator.brackets import Bracket, bracket_at, scaled
from fra.emulator.catalog import TRADING, Catalog, Listing, Venue
from fra.emulator.errors import BinanceError, illegal, unknown_order
from fra.emulator.past_market import PastMarket
from fra.emulator.records import (
    AUTOCLOSE,
    BUY,
    SELL,
    ZERO,
    Fill,
    Income,
    MarginChange,
    Order,
    OrderParams,
    Position,
    PositionView,
    SymbolSettings,
    Transfer,
    WalletView,
)
from fra.venues.simulated import SimulatedMarket

BOOK_DEPTH = 1000  # levels an order may walk; Binance's deepest REST book
MONEY = Decimal("0.00000001")  # Binance books commissions and funding to 8 decimals
SCAN_STEP_MS = 60_000  # mark-price sampling between requests, when looking for a liquidation
SCAN_MAX_STEPS = 1500  # ...coarser over long gaps, so a jump of weeks stays cheap
_SPOT_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_FUTURES_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

Levels = tuple[tuple[Decimal, Decimal], ...]


def _money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def _sign(side: str) -> int:
    return 1 if side == BUY else -1


def match(levels: Levels, side: str, quantity: Decimal, limit: Decimal | None) -> Levels:
    """Take liquidity level by level, up to `quantity` and no worse than `limit`.

    fra's paper executor has `walk_book`, which gives only the total and the average price;
    Binance reports one fill per level, so the levels are kept here.
    """
    taken: list[tuple[Decimal, Decimal]] = []
    left = quantity
    for price, size in levels:
        if left <= 0 or (limit is not None and (price > limit if side == BUY else price < limit)):
            break
        take = min(size, left)
        taken.append((price, take))
        left -= take
    return tuple(taken)


class Account:
    def __init__(
        self,
        market: SimulatedMarket,
        past: PastMarket,
        catalog: Catalog,
        *,
        spot_balances: dict[str, Decimal],
        futures_balances: dict[str, Decimal],
        clock: Callable[[], int],
    ) -> None:
        self.lock = threading.RLock()
        self._market = market
        self._past = past
        self._catalog = catalog
        self._clock = clock
        start = clock()
        self._spot_free: defaultdict[str, Decimal] = defaultdict(Decimal, spot_balances)
        self._spot_locked: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.spot_update_ms = start
        self._wallet: defaultdict[str, Decimal] = defaultdict(Decimal, futures_balances)
        self._wallet_update_ms: dict[str, int] = dict.fromkeys(futures_balances, start)
        self.dual_side = False
        self._settings: dict[str, SymbolSettings] = {}
        self._notional_coef: dict[str, Decimal] = {}
        self._positions: dict[str, Position] = {}
        self._orders: dict[Venue, dict[int, Order]] = {"spot": {}, "futures": {}}
        self._incomes: list[Income] = []
        self._transfers: list[Transfer] = []
        self._margin_changes: list[MarginChange] = []
        self._order_ids = itertools.count(1_000_001)
        self._trade_ids = itertools.count(500_001)
        self._tran_ids = itertools.count(9_000_000_001)

    # -- time-driven events -------------------------------------------------------------------

    def catch_up(self, now: int) -> None:
        """Settle funding and liquidations up to `now` (see the module docstring)."""
        with self.lock:
            for position in list(self._positions.values()):
                if position.amount and now > position.watched_ms:
                    self._catch_up_position(position, now)
            self._check_cross_margin(now)

    def _catch_up_position(self, position: Position, now: int) -> None:
        listing = position.listing
        breach = None
        if self.settings(listing).isolated:
            breach = self._first_breach(position, position.watched_ms, now)
        if listing.perpetual:
            for settlement in self._market.funding_history(
                listing.source, position.watched_ms, breach or now
            ):
                self._book_funding(position, settlement)
        if breach:
            self._liquidate_isolated(position, breach)
        else:
            position.watched_ms = now

    def _first_breach(self, position: Position, since: int, until: int) -> int | None:
        """The first sampled instant in (since, until] the isolated margin balance is down to
        the maintenance margin, if any."""
        step = max(SCAN_STEP_MS, -(-(until - since) // SCAN_MAX_STEPS))
        t = since
        while t < until:
            t = min(t + step, until)
            mark = self._past.funding_quote(position.listing.source, t).mark_price
            balance = position.isolated_wallet + position.amount * (mark - position.entry_price)
            if balance <= self._maint_margin(position, mark):
                return t
        return None

    def _book_funding(self, position: Position, settlement: FundingSettlement) -> None:
        # Longs pay shorts when the rate is positive.
        amount = _money(-position.amount * settlement.mark_price * settlement.rate)
        asset = position.listing.margin_asset
        self._credit(asset, amount, settlement.time_ms)
        self._income(position.listing, "FUNDING_FEE", amount, settlement.time_ms, "", "FUNDING_FEE")

    def _liquidate_isolated(self, position: Position, at_ms: int) -> None:
        """Binance takes an isolated position over at its bankruptcy price: the margin is lost."""
        bankruptcy = position.entry_price - position.isolated_wallet / position.amount
        loss = -position.isolated_wallet
        self._force_close(position, bankruptcy, loss, at_ms)

    def _check_cross_margin(self, now: int) -> None:
        """Cross positions go when the cross margin balance no longer covers their maintenance
        margin. Checked at request time only (isolated positions are checked along the way)."""
        for asset in {p.listing.margin_asset for p in self._positions.values() if p.amount}:
            cross = [
                self.position_view(p)
                for p in self._positions.values()
                if p.amount
                and p.listing.margin_asset == asset
                and not self.settings(p.listing).isolated
            ]
            if not cross:
                continue
            balance = self._cross_wallet(asset) + sum(v.unrealized_pnl for v in cross)
            if balance > sum(v.maint_margin for v in cross):
                continue
            for view in cross:
                self._force_close(view.position, view.mark_price, view.unrealized_pnl, now)

    def _force_close(self, position: Position, price: Decimal, pnl: Decimal, at_ms: int) -> None:
        listing = position.listing
        qty = abs(position.amount)
        side = BUY if position.amount < 0 else SELL
        order_id = next(self._order_ids)
        fill = Fill(next(self._trade_ids), price, qty, ZERO, listing.margin_asset, pnl, at_ms)
        self._orders["futures"][order_id] = Order(
            venue="futures",
            order_id=order_id,
            client_order_id=f"{AUTOCLOSE}{at_ms}{order_id % 1_000_000:06d}",
            listing=listing,
            side=side,
            type="LIMIT",
            time_in_force="IOC",
            orig_qty=qty,
            price=price,
            reduce_only=True,
            time_ms=at_ms,
            status="FILLED",
            executed_qty=qty,
            cum_quote=qty * price,
            update_ms=at_ms,
            fills=[fill],
        )
        self._credit(listing.margin_asset, pnl, at_ms)
        self._income(listing, "REALIZED_PNL", pnl, at_ms, str(fill.trade_id), "")
        position.amount = position.entry_price = position.isolated_wallet = ZERO
        position.update_ms = position.watched_ms = at_ms

    # -- spot orders ------------------------------------------------------------------------

    def place_spot(self, order: OrderParams) -> Order:
        with self.lock:
            listing, m = order.listing, order.listing.market
            if self._catalog.status(listing) != TRADING:
                raise BinanceError(-1013, "Market is closed.")
            self._check_client_id("spot", order, _SPOT_CLIENT_ID)
            self._check_lot_and_tick(m, order, futures=False)
            levels = self._levels(listing, order.side)
            reference = order.price or (levels[0][0] if levels else ZERO)
            if order.quantity * reference < m.min_notional:
                raise BinanceError(-1013, "Filter failure: NOTIONAL")
            taken = self._execute(levels, order, m)
            executed = sum((q for _, q in taken), ZERO)
            rest = self._resting(order, executed)
            base, quote = m.base, m.quote
            if order.side == BUY:
                held = sum((p * q for p, q in taken), ZERO) + rest * (order.price or ZERO)
                if held > self._spot_free[quote]:
                    raise BinanceError(
                        -2010, "Account has insufficient balance for requested action."
                    )
            elif executed + rest > self._spot_free[base]:
                raise BinanceError(-2010, "Account has insufficient balance for requested action.")

            now = self._clock()
            new = self._new_order("spot", order, now)
            for price, qty in taken:
                value = price * qty
                if order.side == BUY:
                    # Binance takes a spot buyer's commission in the coin bought.
                    fee, fee_asset = _money(qty * m.taker_fee), base
                    self._spot_free[quote] -= value
                    self._spot_free[base] += qty - fee
                else:
                    fee, fee_asset = _money(value * m.taker_fee), quote
                    self._spot_free[base] -= qty
                    self._spot_free[quote] += value - fee
                self._add_fill(new, price, qty, fee, fee_asset, ZERO, now)
            if rest:
                new.reserved = rest * order.price if order.side == BUY else rest
                self._hold_spot(new, new.reserved)
            self._finish(new, rest)
            self.spot_update_ms = now
            return new

    def _hold_spot(self, order: Order, amount: Decimal) -> None:
        asset = order.listing.market.quote if order.side == BUY else order.listing.market.base
        self._spot_free[asset] -= amount
        self._spot_locked[asset] += amount

    # -- futures orders ----------------------------------------------------------------------

    def place_futures(self, order: OrderParams) -> Order:
        with self.lock:
            listing, m = order.listing, order.listing.market
            if self.dual_side:
                # Orders must then name LONG or SHORT; the emulator trades one-way mode only.
                raise BinanceError(-4061, "Order's position side does not match user's setting.")
            if self._catalog.status(listing) != TRADING and not order.reduce_only:
                raise BinanceError(-4140, "Invalid symbol status for opening position.")
            self._check_client_id("futures", order, _FUTURES_CLIENT_ID)
            self._check_lot_and_tick(m, order, futures=True)
            position = self._position(listing)
            if order.reduce_only and (
                position.amount * _sign(order.side) >= 0 or order.quantity > abs(position.amount)
            ):
                raise BinanceError(-2022, "ReduceOnly Order is rejected.")
            levels = self._levels(listing, order.side)
            reference = order.price or (levels[0][0] if levels else ZERO)
            if not order.reduce_only and order.quantity * reference < m.min_notional:
                raise BinanceError(
                    -4164,
                    f"Order's notional must be no smaller than {m.min_notional.normalize():f} "
                    "(unless you choose reduce only).",
                )
            taken = self._execute(levels, order, m)
            executed = sum((q for _, q in taken), ZERO)
            rest = self._resting(order, executed)
            settings = self.settings(listing)
            opening = executed
            if position.amount * _sign(order.side) < 0:
                opening = max(ZERO, executed - abs(position.amount))
            fees = sum((_money(p * q * m.taker_fee) for p, q in taken), ZERO)
            average = sum((p * q for p, q in taken), ZERO) / executed if executed else reference
            margin = (opening * average + rest * (order.price or ZERO)) / settings.leverage
            # Closing needs no margin (its fee comes out of what it releases).
            if margin and margin + fees > self._available(listing.margin_asset):
                raise BinanceError(-2019, "Margin is insufficient.")

            now = self._clock()
            new = self._new_order("futures", order, now)
            if not position.amount:
                position.watched_ms = now
            for price, qty in taken:
                fee = _money(price * qty * m.taker_fee)
                pnl = self._trade(position, settings, _sign(order.side) * qty, price)
                position.update_ms = now
                fill = self._add_fill(new, price, qty, fee, listing.margin_asset, pnl, now)
                self._credit(listing.margin_asset, pnl - fee, now)
                self._income(listing, "COMMISSION", -fee, now, str(fill.trade_id), "")
                if pnl:
                    self._income(listing, "REALIZED_PNL", pnl, now, str(fill.trade_id), "")
            if rest:
                new.reserved = rest * order.price / settings.leverage
            self._finish(new, rest)
            return new

    def _trade(
        self, position: Position, settings: SymbolSettings, signed: Decimal, price: Decimal
    ) -> Decimal:
        """Apply one fill to a position; returns the PnL it realizes."""
        if position.amount * signed >= 0:  # opening or adding
            amount = position.amount + signed
            position.entry_price = (
                abs(position.amount) * position.entry_price + abs(signed) * price
            ) / abs(amount)
            position.amount = amount
            if settings.isolated:
                position.isolated_wallet += abs(signed) * price / settings.leverage
            return ZERO
        closed = min(abs(signed), abs(position.amount))
        direction = 1 if position.amount > 0 else -1
        pnl = closed * (price - position.entry_price) * direction
        released = position.isolated_wallet * closed / abs(position.amount)
        position.isolated_wallet -= released
        position.amount += closed * -direction
        if not position.amount:
            position.entry_price = position.isolated_wallet = ZERO
        left = abs(signed) - closed
        if left:  # flipped through zero: the rest opens the other side
            self._trade(position, settings, left * -direction, price)
        return pnl

    # -- shared order mechanics -------------------------------------------------------------

    def _check_client_id(self, venue: Venue, order: OrderParams, pattern: re.Pattern[str]) -> None:
        if not pattern.match(order.client_order_id):
            if venue == "futures":
                raise BinanceError(-4015, "Client order id is not valid.")
            raise illegal("newClientOrderId", pattern.pattern)
        # Binance wants client ids unique among *open* orders only: a filled order's id can be
        # sent again and makes a new order. Idempotency needs a lookup before any resend.
        for existing in self._orders[venue].values():
            if (
                existing.is_open
                and existing.listing.id == order.listing.id
                and existing.client_order_id == order.client_order_id
            ):
                if venue == "futures":
                    raise BinanceError(-4116, "ClientOrderId is duplicated.")
                raise BinanceError(-2010, "Duplicate order sent.")

    @staticmethod
    def _check_lot_and_tick(m: Market, order: OrderParams, *, futures: bool) -> None:
        qty = order.quantity
        if futures:
            if qty <= 0:
                raise BinanceError(-4003, "Quantity less than or equal to zero.")
            if qty % m.amount_step:
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
            if qty < m.min_amount:
                raise BinanceError(-4004, "Quantity less than min quantity.")
            if order.price is not None and order.price % m.price_step:
                raise BinanceError(-4014, "Price not increased by tick size.")
            return
        if qty < m.min_amount or (qty - m.min_amount) % m.amount_step:
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        if order.price is not None and order.price % m.price_step:
            raise BinanceError(-1013, "Filter failure: PRICE_FILTER")

    def _levels(self, listing: Listing, side: str) -> Levels:
        book = self._market.order_book(listing.source, BOOK_DEPTH)
        return book.asks if side == BUY else book.bids

    @staticmethod
    def _execute(levels: Levels, order: OrderParams, m: Market) -> Levels:
        target = order.quantity
        if order.fill_fraction is not None:
            target = (target * order.fill_fraction / m.amount_step).to_integral_value(
                rounding=ROUND_DOWN
            ) * m.amount_step
        taken = match(levels, order.side, target, order.price)
        if order.time_in_force == "FOK" and sum((q for _, q in taken), ZERO) < order.quantity:
            return ()
        return taken

    @staticmethod
    def _resting(order: OrderParams, executed: Decimal) -> Decimal:
        """What stays on the book: a GTC limit order's unfilled rest (not after a partial fault,
        which stands for the exchange cancelling the rest)."""
        if order.type != "LIMIT" or order.time_in_force != "GTC" or order.fill_fraction is not None:
            return ZERO
        return order.quantity - executed

    def _new_order(self, venue: Venue, order: OrderParams, now: int) -> Order:
        new = Order(
            venue=venue,
            order_id=next(self._order_ids),
            client_order_id=order.client_order_id,
            listing=order.listing,
            side=order.side,
            type=order.type,
            time_in_force=order.time_in_force,
            orig_qty=order.quantity,
            price=order.price or ZERO,
            reduce_only=order.reduce_only,
            time_ms=now,
            update_ms=now,
        )
        self._orders[venue][new.order_id] = new
        return new

    def _add_fill(
        self,
        order: Order,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        fee_asset: str,
        pnl: Decimal,
        now: int,
    ) -> Fill:
        fill = Fill(next(self._trade_ids), price, qty, fee, fee_asset, pnl, now)
        order.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += price * qty
        return fill

    @staticmethod
    def _finish(order: Order, rest: Decimal) -> None:
        if order.executed_qty == order.orig_qty:
            order.status = "FILLED"
        elif rest:
            order.status = "PARTIALLY_FILLED" if order.executed_qty else "NEW"
        else:
            # A market or IOC order the book could not fill: Binance expires the rest.
            order.status = "EXPIRED"

    # -- order queries -----------------------------------------------------------------------

    def find_order(
        self, venue: Venue, listing: Listing, order_id: int | None, client_order_id: str | None
    ) -> Order:
        with self.lock:
            if order_id is not None:
                found = self._orders[venue].get(order_id)
                if found is not None and found.listing.id == listing.id:
                    return found
                raise unknown_order()
            # The same client id can name several orders (see _check_client_id): the latest.
            for order in reversed(self._orders[venue].values()):
                if order.listing.id == listing.id and order.client_order_id == client_order_id:
                    return order
            raise unknown_order()

    def open_orders(self, venue: Venue, listing: Listing | None) -> list[Order]:
        with self.lock:
            return [
                o
                for o in self._orders[venue].values()
                if o.is_open and (listing is None or o.listing.id == listing.id)
            ]

    def cancel(
        self, venue: Venue, listing: Listing, order_id: int | None, client_order_id: str | None
    ) -> Order:
        with self.lock:
            try:
                order = self.find_order(venue, listing, order_id, client_order_id)
            except BinanceError:
                raise BinanceError(-2011, "Unknown order sent.") from None
            if not order.is_open:
                raise BinanceError(-2011, "Unknown order sent.")
            if venue == "spot":
                asset = (
                    order.listing.market.quote if order.side == BUY else order.listing.market.base
                )
                self._spot_locked[asset] -= order.reserved
                self._spot_free[asset] += order.reserved
                self.spot_update_ms = self._clock()
            order.reserved = ZERO
            order.status = "CANCELED"
            order.update_ms = self._clock()
            return order

    def trades(self, venue: Venue, listing: Listing) -> list[tuple[Order, Fill]]:
        with self.lock:
            return [
                (order, fill)
                for order in self._orders[venue].values()
                if order.listing.id == listing.id
                for fill in order.fills
            ]

    def forced_orders(self) -> list[Order]:
        with self.lock:
            return [
                o
                for o in self._orders["futures"].values()
                if o.client_order_id.startswith(AUTOCLOSE)
            ]

    def incomes(self) -> list[Income]:
        with self.lock:
            return list(self._incomes)

    # -- futures settings --------------------------------------------------------------------

    def settings(self, listing: Listing) -> SymbolSettings:
        return self._settings.setdefault(listing.id, SymbolSettings())

    def set_leverage(self, listing: Listing, leverage: int) -> Decimal:
        """Returns the largest notional the new leverage allows."""
        with self.lock:
            cap = self.max_notional(listing, leverage)
            if cap is None:
                raise BinanceError(-4028, f"Leverage {leverage} is not valid")
            self.settings(listing).leverage = leverage
            return cap

    # -- leverage brackets --------------------------------------------------------------------

    def adjust_brackets(self, listing: Listing, coef: Decimal) -> None:
        """What Binance does for some users (`notionalCoef`): this account's brackets of the
        contract are the published ones with floors and caps times `coef`."""
        with self.lock:
            self._notional_coef[listing.id] = coef

    def notional_coef(self, listing: Listing) -> Decimal | None:
        """The adjustment of this account's brackets, None where they are the published ones."""
        with self.lock:
            return self._notional_coef.get(listing.id)

    def brackets(self, listing: Listing) -> tuple[Bracket, ...]:
        """The brackets this account's positions on the contract are held to."""
        published = self._catalog.brackets(listing)
        coef = self.notional_coef(listing)
        return published if coef is None else scaled(published, coef)

    def max_notional(self, listing: Listing, leverage: int) -> Decimal | None:
        """The largest position notional `leverage` is allowed for; None: leverage too high."""
        allowed = [b for b in self.brackets(listing) if b.initial_leverage >= leverage]
        return allowed[-1].cap if allowed and leverage >= 1 else None

    def set_margin_type(self, listing: Listing, isolated: bool) -> None:
        with self.lock:
            settings = self.settings(listing)
            if settings.isolated == isolated:
                raise BinanceError(-4046, "No need to change margin type.")
            if self._position(listing).amount or self.open_orders("futures", listing):
                raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
            settings.isolated = isolated

    def set_dual_side(self, dual: bool) -> None:
        with self.lock:
            if dual == self.dual_side:
                raise BinanceError(-4059, "No need to change position side.")
            if any(p.amount for p in self._positions.values()):
                raise BinanceError(
                    -4068, "Position side cannot be changed if there exists position."
                )
            if self.open_orders("futures", None):
                raise BinanceError(
                    -4067, "Position side cannot be changed if there exists open orders."
                )
            self.dual_side = dual

    # -- moving money: between the wallets, into and out of an isolated position ----------------

    def transfer(self, kind: str, asset: str, amount: Decimal) -> Transfer:
        """A universal transfer between the spot wallet and the USDⓈ-M futures wallet."""
        with self.lock:
            if amount <= 0:
                raise illegal("amount", "greater than 0")
            now = self._clock()
            if kind == "MAIN_UMFUTURE":
                if amount > self._spot_free[asset]:
                    raise BinanceError(-5013, "Asset transfer failed: insufficient balance")
                self._spot_free[asset] -= amount
                self.spot_update_ms = now
                self._credit(asset, amount, now)
            elif kind == "UMFUTURE_MAIN":
                if amount > self._available(asset):
                    raise BinanceError(-5013, "Asset transfer failed: insufficient balance")
                self._credit(asset, -amount, now)
                self._spot_free[asset] += amount
                self.spot_update_ms = now
            else:
                raise BinanceError(-1, f"emulator: transfer type {kind} is not supported")
            done = Transfer(next(self._tran_ids), kind, asset, amount, now)
            self._transfers.append(done)
            # Binance lists a transfer in or out of the futures wallet as income too.
            signed = amount if kind == "MAIN_UMFUTURE" else -amount
            self._incomes.append(Income("", "TRANSFER", signed, asset, now, done.tran_id, "", ""))
            return done

    def transfers(self, kind: str) -> list[Transfer]:
        with self.lock:
            return [t for t in self._transfers if t.type == kind]

    def modify_isolated_margin(self, listing: Listing, amount: Decimal, add: bool) -> None:
        """Move margin into (add) or out of an isolated position, as POST positionMargin."""
        with self.lock:
            if amount <= 0:
                raise illegal("amount", "greater than 0")
            position = self._position(listing)
            if not self.settings(listing).isolated:
                raise BinanceError(-4049, "Add margin only support for isolated position.")
            if not position.amount:
                raise BinanceError(-4054, "Cannot add position margin: position is 0.")
            asset = listing.margin_asset
            if add:
                if amount > self._available(asset):
                    raise BinanceError(-4050, "Cross balance insufficient.")
                position.isolated_wallet += amount
            else:
                view = self.position_view(position)
                spare = view.isolated_margin - view.initial_margin
                if amount > spare:
                    raise BinanceError(-4051, "Isolated balance insufficient.")
                position.isolated_wallet -= amount
            now = self._clock()
            position.update_ms = now
            self._margin_changes.append(
                MarginChange(listing.id, 1 if add else 2, amount, asset, now)
            )

    def margin_changes(self, listing: Listing) -> list[MarginChange]:
        with self.lock:
            return [c for c in self._margin_changes if c.symbol == listing.id]

    # -- valuations --------------------------------------------------------------------------

    def _position(self, listing: Listing) -> Position:
        position = self._positions.get(listing.id)
        if position is None:
            position = self._positions[listing.id] = Position(listing)
        return position

    def position(self, listing: Listing) -> Position:
        """The position on a contract, flat if there has never been one."""
        with self.lock:
            return self._positions.get(listing.id) or Position(listing)

    def positions(self) -> list[Position]:
        with self.lock:
            return [p for p in self._positions.values() if p.amount]

    def position_view(self, position: Position) -> PositionView:
        with self.lock:
            listing = position.listing
            settings = self.settings(listing)
            mark = self._market.funding_quote(listing.source).mark_price
            notional = position.amount * mark
            unrealized = position.amount * (mark - position.entry_price)
            bracket = bracket_at(self.brackets(listing), abs(notional))
            maint = max(ZERO, abs(notional) * bracket.maint_rate - bracket.cum)
            wallet = position.isolated_wallet
            if not settings.isolated:
                wallet = self._cross_wallet(listing.margin_asset)
            liquidation = ZERO
            if position.amount:
                # Binance's one-way liquidation price: margin balance = maintenance margin.
                side, qty = (1 if position.amount > 0 else -1), abs(position.amount)
                liquidation = max(
                    ZERO,
                    (wallet + bracket.cum - side * qty * position.entry_price)
                    / (qty * bracket.maint_rate - side * qty),
                )
            return PositionView(
                position=position,
                settings=settings,
                mark_price=mark,
                notional=notional,
                unrealized_pnl=unrealized,
                initial_margin=abs(notional) / settings.leverage,
                maint_margin=maint,
                isolated_margin=position.isolated_wallet + unrealized
                if settings.isolated
                else ZERO,
                liquidation_price=liquidation,
            )

    def _maint_margin(self, position: Position, mark: Decimal) -> Decimal:
        notional = abs(position.amount) * mark
        bracket = bracket_at(self.brackets(position.listing), notional)
        return notional * bracket.maint_rate - bracket.cum

    def _cross_wallet(self, asset: str) -> Decimal:
        isolated = sum(
            (
                p.isolated_wallet
                for p in self._positions.values()
                if p.listing.margin_asset == asset
            ),
            ZERO,
        )
        return self._wallet[asset] - isolated

    def wallet(self, asset: str) -> WalletView:
        with self.lock:
            views = [
                self.position_view(p) for p in self.positions() if p.listing.margin_asset == asset
            ]
            cross = [v for v in views if not v.settings.isolated]
            unrealized = sum((v.unrealized_pnl for v in views), ZERO)
            cross_unrealized = sum((v.unrealized_pnl for v in cross), ZERO)
            order_margin = self._open_order_margin(asset)
            cross_wallet = self._cross_wallet(asset)
            position_margin = sum((v.initial_margin for v in views), ZERO)
            return WalletView(
                asset=asset,
                wallet_balance=self._wallet[asset],
                unrealized_pnl=unrealized,
                margin_balance=self._wallet[asset] + unrealized,
                maint_margin=sum((v.maint_margin for v in views), ZERO),
                position_initial_margin=position_margin,
                open_order_initial_margin=order_margin,
                cross_wallet_balance=cross_wallet,
                cross_unrealized_pnl=cross_unrealized,
                available_balance=self._available(asset),
                update_ms=self._wallet_update_ms.get(asset, 0),
            )

    def wallet_assets(self) -> list[str]:
        with self.lock:
            return sorted(set(self._wallet) | {"USDT", "USDC"})

    def _open_order_margin(self, asset: str) -> Decimal:
        return sum(
            (
                o.reserved
                for o in self._orders["futures"].values()
                if o.is_open and o.listing.margin_asset == asset
            ),
            ZERO,
        )

    def _available(self, asset: str) -> Decimal:
        """What new orders may use: the cross wallet plus cross PnL, less cross and order margin."""
        cross = [
            self.position_view(p)
            for p in self.positions()
            if p.listing.margin_asset == asset and not self.settings(p.listing).isolated
        ]
        free = (
            self._cross_wallet(asset)
            + sum((v.unrealized_pnl - v.initial_margin for v in cross), ZERO)
            - self._open_order_margin(asset)
        )
        return max(ZERO, free)

    def spot_balances(self) -> list[tuple[str, Decimal, Decimal]]:
        """(asset, free, locked) for every asset the spot wallet has ever held."""
        with self.lock:
            assets = sorted(set(self._spot_free) | set(self._spot_locked))
            return [(a, self._spot_free[a], self._spot_locked[a]) for a in assets]

    # -- bookkeeping -------------------------------------------------------------------------

    def _credit(self, asset: str, amount: Decimal, at_ms: int) -> None:
        self._wallet[asset] += amount
        self._wallet_update_ms[asset] = at_ms

    def _income(
        self, listing: Listing, kind: str, amount: Decimal, at_ms: int, trade_id: str, info: str
    ) -> None:
        self._incomes.append(
            Income(
                listing.id,
                kind,
                amount,
                listing.margin_asset,
                at_ms,
                next(self._tran_ids),
                trade_id,
                info,
            )
        )
