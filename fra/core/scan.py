"""Assemble a scan's rows from what a venue reported (pure)."""

from __future__ import annotations

from decimal import Decimal

from fra.core.models import FundingQuote, Market, MarketType, SnapshotRow, Ticker

# A perpetual matched to a spot pair by its unit prefix (fra.core.units) is taken for a hedge
# only if its price per coin is within this factor of the spot's: a coin of another name, or a
# unit misread, is off by orders of magnitude, while a real basis is a few percent.
SAME_COIN_FACTOR = Decimal(2)


def snapshot_rows(
    markets: dict[str, Market], quotes: dict[str, FundingQuote], tickers: dict[str, Ticker]
) -> list[SnapshotRow]:
    """One row per perpetual that has a funding quote and a ticker."""
    rows = []
    for symbol, market in sorted(markets.items()):
        if market.type is not MarketType.PERP or symbol not in quotes or symbol not in tickers:
            continue
        quote, perp_t = quotes[symbol], tickers[symbol]
        spot = markets.get(market.spot_symbol)
        spot_t = tickers.get(market.spot_symbol) if spot is not None else None
        has_spot = (
            spot is not None
            and spot.type is MarketType.SPOT
            and spot_t is not None
            and (market.coins_per_unit == 1 or same_coin(perp_t, spot_t))
        )
        volume = perp_t.quote_volume_24h
        if has_spot:
            assert spot_t is not None
            volume = min(volume, spot_t.quote_volume_24h)
        rows.append(
            SnapshotRow(
                perp_symbol=symbol,
                spot_symbol=market.spot_symbol if has_spot else None,
                funding_rate=quote.rate,
                interval_hours=quote.interval_hours,
                next_funding_ms=quote.next_funding_ms,
                mark_price=quote.mark_price,
                perp_bid=perp_t.bid,
                perp_ask=perp_t.ask,
                spot_bid=spot_t.bid if has_spot and spot_t else None,
                spot_ask=spot_t.ask if has_spot and spot_t else None,
                quote_volume_24h=volume,
                perp_taker_fee=market.taker_fee,
                spot_taker_fee=spot.taker_fee if has_spot and spot else None,
            )
        )
    return rows


def same_coin(perp: Ticker, spot: Ticker) -> bool:
    """Whether the perpetual's price per coin and the spot's say they trade the same coin."""
    perp_mid, spot_mid = (perp.bid + perp.ask) / 2, (spot.bid + spot.ask) / 2
    if perp_mid <= 0 or spot_mid <= 0:
        return False
    return 1 / SAME_COIN_FACTOR <= perp_mid / spot_mid <= SAME_COIN_FACTOR
