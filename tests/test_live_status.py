"""`fra status` on a live account shows what the exchange held at the last cycle (both wallets
and the equity fra sizes from), never the paper account's cash."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from conftest import Fra, legs
from test_binance import ETH, live_on, make_emulator

from fra.emulator import BinanceEmulator


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with make_emulator() as emu:
        yield emu


@pytest.fixture
def live(fra: Fra, emulator: BinanceEmulator) -> Fra:
    return live_on(fra, emulator)


def exchange_balances(emu: BinanceEmulator) -> tuple[Decimal, Decimal]:
    """(spot USDT free, futures USDT available) in the emulator's own books."""
    spot = next(free for asset, free, _ in emu.account.spot_balances() if asset == "USDT")
    return spot, emu.account.wallet("USDT").available_balance


def test_live_status_shows_both_wallets_and_the_equity_of_the_last_cycle(
    live: Fra, emulator: BinanceEmulator
) -> None:
    live("scan")
    before = live.json("status")
    assert before["balances"] is None and before["totals"]["paper_cash"] is None
    text = live("status").stdout
    assert "balances: none read yet" in text and "paper cash" not in text

    live("run-cycle")
    status = live.json("status")
    assert [p["symbol"] for p in status["positions"]] == [ETH]
    balances = status["balances"]
    spot, futures = exchange_balances(emulator)
    assert Decimal(balances["spot_usdt"]) == spot
    assert Decimal(balances["futures_usdt"]) == futures
    # Equity: both wallets, the coins bought and the short's margin balance at the mark.
    (view,) = [emulator.account.position_view(p) for p in emulator.account.positions()]
    coins, _ = legs(live)
    expected = spot + futures + coins * view.mark_price + view.isolated_margin
    assert abs(Decimal(balances["equity_usdt"]) - expected) < expected * Decimal("0.001")
    cycle = live.query("SELECT id, finished_ms FROM cycles")[-1]
    assert balances["cycle_id"] == cycle[0]
    assert status["totals"]["paper_cash"] is None

    text = live("status").stdout
    assert "paper cash" not in text
    assert f"(cycle #{cycle[0]}): spot wallet {spot:,.2f} USDT free" in text
    assert f"futures wallet {futures:,.2f} USDT free" in text
    assert f"equity {Decimal(balances['equity_usdt']):,.2f} USDT" in text


def test_the_cycle_records_the_balances_in_its_summary(
    live: Fra, emulator: BinanceEmulator
) -> None:
    report = live.json("run-cycle")
    spot, futures = exchange_balances(emulator)
    assert Decimal(report["balances"]["spot_usdt"]) == spot
    assert Decimal(report["balances"]["futures_usdt"]) == futures


def test_paper_status_keeps_its_cash(fra: Fra) -> None:
    fra("run-cycle")
    status = fra.json("status")
    assert status["balances"] is None and Decimal(status["totals"]["paper_cash"]) > 0
    assert "paper cash" in fra("status").stdout
