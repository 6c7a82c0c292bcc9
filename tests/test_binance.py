"""fra on Binance, end to end: the real CLI and real ccxt against the local Binance emulator.

Paper mode reads the emulator's market and fills on paper; live mode sends real orders to it.
The emulator's clock runs from T0, nine months off this machine's clock: fra must sign with the
exchange's time (clock skew handled), and `advance` moves it across funding settlements.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import T0, Fra, iso, wait_until

from fra.emulator import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceEmulator, EmulatedKey, Fault
from fra.emulator.clock import EmulatorClock
from fra.errors import ExitCode
from fra.venues.simulated import Shock, parse_shock

ETH = "ETH/USDT:USDT"
HOUR_MS = 3_600_000
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=72"


def make_emulator(extra_shocks: list[Shock] | None = None, **kwargs: Any) -> BinanceEmulator:
    clock = EmulatorClock.running_from(int(T0.timestamp() * 1000))
    shocks = [parse_shock(HOT), *(extra_shocks or [])]
    return BinanceEmulator(clock=clock, shocks=shocks, **kwargs)


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with make_emulator() as emu:
        yield emu


def paper_on(fra: Fra, emu: BinanceEmulator) -> Fra:
    return fra.set(
        FRA_VENUE="binance",
        FRA_VENUE_URL=emu.url,
        FRA_VENUE_RETRIES="1",
        FRA_VENUE_TIMEOUT_SECONDS="2",
        FRA_STRATEGY__SYMBOLS=[ETH],
    )


def live_on(fra: Fra, emu: BinanceEmulator) -> Fra:
    return paper_on(fra, emu).set(
        FRA_MODE="live",
        FRA_LIVE__CONFIRM="true",
        FRA_API_KEY=DEFAULT_API_KEY,
        FRA_API_SECRET=DEFAULT_SECRET,
        FRA_RISK__MAX_POSITION_USD="1000",
    )


@pytest.fixture
def paper(fra: Fra, emulator: BinanceEmulator) -> Fra:
    return paper_on(fra, emulator)


@pytest.fixture
def live(fra: Fra, emulator: BinanceEmulator) -> Fra:
    return live_on(fra, emulator)


def paths(emu: BinanceEmulator, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests[since:]]


def exchange_view(emu: BinanceEmulator) -> Any:
    """What the account holds, read through ccxt as its owner would."""
    from fra.venues.exchange import Caller, build_exchange

    exchange = build_exchange(
        "binance", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_SECRET, url=emu.url
    )
    return Caller(exchange, retries=0)


def short_on_exchange(emu: BinanceEmulator, symbol: str = ETH) -> Decimal:
    for p in exchange_view(emu)("fetch_positions", [symbol]):
        if p["symbol"] == symbol and p.get("contracts"):
            return Decimal(str(p["contracts"]))
    return Decimal(0)


def spot_on_exchange(emu: BinanceEmulator, coin: str = "ETH") -> Decimal:
    balance = exchange_view(emu)("fetch_balance", {"type": "spot"})
    return Decimal(str(balance.get("total", {}).get(coin) or 0))


# -- scanning ---------------------------------------------------------------------------------


def test_scan_uses_bulk_calls_and_caches_markets(paper: Fra, emulator: BinanceEmulator) -> None:
    first = len(emulator.requests)
    snap = paper.json("scan")
    cold = paths(emulator, first)
    assert "GET /api/v3/exchangeInfo" in cold and "GET /fapi/v1/exchangeInfo" in cold
    # Only USDT perpetuals; the dated quarterly future and the USDC perpetual are left out.
    symbols = {r["symbol"] for r in snap["rows"]}
    assert ETH in symbols and all(s.endswith("/USDT:USDT") for s in symbols)
    eth = next(r for r in snap["rows"] if r["symbol"] == ETH)
    assert eth["spot_symbol"] == "ETH/USDT" and Decimal(eth["funding_rate"]) > 0

    second = len(emulator.requests)
    paper.json("scan")
    warm = paths(emulator, second)
    assert len(warm) <= 6, warm
    assert not any("exchangeInfo" in p for p in warm), "markets come from the cache"

    third = len(emulator.requests)
    paper.json("scan", FRA_MARKETS_TTL_MINUTES="0")
    assert any("exchangeInfo" in p for p in paths(emulator, third)), "an expired cache reloads"


def test_funding_intervals_come_from_the_exchange(paper: Fra) -> None:
    rows = paper.json("scan")["rows"]
    hours = {r["symbol"]: r["interval_hours"] for r in rows}
    # The simulated market has 1h and 4h symbols; Binance lists them in fundingInfo, and every
    # symbol it does not list is 8h.
    assert set(hours.values()) == {1, 4, 8}


def test_a_temporary_failure_is_retried(paper: Fra, emulator: BinanceEmulator) -> None:
    emulator.inject(Fault("/fapi/v1/premiumIndex", "GET", "http_5xx"))
    paper("scan")
    emulator.inject(Fault("/fapi/v1/premiumIndex", "GET", "http_429", seconds=0))
    paper("scan")
    emulator.inject(Fault("/api/v3/ticker/24hr", "GET", "timeout", seconds=3))
    paper("scan")


def test_a_persistent_failure_stops_cleanly(paper: Fra, emulator: BinanceEmulator) -> None:
    paper("scan")
    before = paper.fingerprint()
    emulator.inject(Fault("/fapi/v1/premiumIndex", "GET", "maintenance", times=5))
    result = paper("scan", code=ExitCode.VENUE)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "retries" in err, err
    assert paper.fingerprint() == before


# -- paper trading on the exchange's data ----------------------------------------------------


def test_paper_cycle_trades_on_paper_and_reads_real_funding(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    paper("run-cycle")
    status = paper.json("status")
    assert [p["symbol"] for p in status["positions"]] == [ETH]
    assert not any(r.method == "POST" for r in emulator.requests), "paper sends no orders"

    emulator.clock.advance(9 * HOUR_MS)
    paper("run-cycle")
    positions = paper.json("positions")
    assert Decimal(positions[0]["funding"]) > 0, positions[0]
    assert any(r.path == "/fapi/v1/fundingRate" for r in emulator.requests)


def test_paper_and_live_refuse_each_others_state_file(paper: Fra) -> None:
    paper("scan")
    before = paper.fingerprint()
    result = paper(
        "run-cycle",
        code=ExitCode.BAD_INPUT,
        FRA_MODE="live",
        FRA_LIVE__CONFIRM="true",
        FRA_API_KEY=DEFAULT_API_KEY,
        FRA_API_SECRET=DEFAULT_SECRET,
    )
    assert "holds paper trading on binance" in result.stderr
    assert paper.fingerprint() == before


# -- live trading ------------------------------------------------------------------------------


def test_live_cycle_opens_both_legs_with_committed_client_ids(
    live: Fra, emulator: BinanceEmulator
) -> None:
    live("run-cycle")
    status = live.json("status")
    assert [p["symbol"] for p in status["positions"]] == [ETH]
    cids = {row[0] for row in live.query("SELECT client_order_id FROM orders")}
    sent = [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/order")]
    assert len(sent) >= 2
    for request in sent:
        assert any(f"newClientOrderId={cid}" in request.query for cid in cids), request.query
    # The exchange holds what fra's books say: the spot bought net of its fee in ETH covers
    # the short exactly (to the step).
    short, spot = short_on_exchange(emulator), spot_on_exchange(emulator)
    assert short > 0
    assert abs(spot - short) / short <= Decimal("0.01"), (spot, short)
    # Set-up calls were made, and repeating them next cycle is harmless ("no need to change").
    done = paths(emulator, 0)
    assert "POST /fapi/v1/marginType" in done and "POST /fapi/v1/leverage" in done
    live("run-cycle")


def test_live_funding_is_read_back_from_the_exchange(live: Fra, emulator: BinanceEmulator) -> None:
    live("run-cycle")
    emulator.clock.advance(9 * HOUR_MS)
    live("run-cycle")
    position = live.json("positions")[0]
    assert Decimal(position["funding"]) > 0
    assert any(r.path == "/fapi/v1/income" for r in emulator.requests)


def test_live_margin_ratio_comes_from_the_exchange(live: Fra, emulator: BinanceEmulator) -> None:
    live("run-cycle")
    [leg] = live.json("margin-check")["legs"]
    [position] = [p for p in exchange_view(emulator)("fetch_positions", [ETH]) if p["contracts"]]
    info = position["info"]
    balance = Decimal(info["isolatedWallet"]) + Decimal(info["unRealizedProfit"])
    # The clock runs between the two reads: the mark may move a little, nothing more.
    assert abs(Decimal(leg["margin_balance"]) - balance) / balance < Decimal("0.01")
    maintenance = Decimal(str(position["maintenanceMargin"]))
    assert abs(Decimal(leg["maintenance_margin"]) - maintenance) / maintenance < Decimal("0.01")
    assert Decimal(leg["ratio"]) == pytest.approx(
        Decimal(leg["maintenance_margin"]) / Decimal(leg["margin_balance"])
    )


def test_live_partial_perp_fill_is_hedged_to_the_smaller_leg(
    live: Fra, emulator: BinanceEmulator
) -> None:
    emulator.inject(Fault("/fapi/v1/order", "POST", "partial", fraction=Decimal("0.5")))
    live("run-cycle")
    short, spot = short_on_exchange(emulator), spot_on_exchange(emulator)
    assert short > 0
    assert abs(spot - short) / short <= Decimal("0.01"), (spot, short)


def test_live_perp_rejected_unwinds_the_spot(live: Fra, emulator: BinanceEmulator) -> None:
    emulator.inject(
        Fault("/fapi/v1/order", "POST", "reject", code=-2019, msg="Margin is insufficient.")
    )
    live("run-cycle")
    states = live.query("SELECT state FROM positions")
    assert states == [("unwound",)]
    assert short_on_exchange(emulator) == 0
    assert spot_on_exchange(emulator) < Decimal("0.01")  # dust below the step at most


def test_live_lost_answer_is_looked_up_not_resent(live: Fra, emulator: BinanceEmulator) -> None:
    emulator.inject(Fault("/fapi/v1/order", "POST", "drop_after"))
    live("run-cycle")
    perp_posts = [r for r in emulator.requests if r.method == "POST" and r.path == "/fapi/v1/order"]
    assert len(perp_posts) == 1, "the order went through; it must not be sent again"
    assert live.query("SELECT state FROM positions") == [("open",)]
    assert short_on_exchange(emulator) > 0


def test_live_process_killed_with_the_perp_order_in_flight(
    live: Fra, emulator: BinanceEmulator
) -> None:
    # The exchange sits on the perp order for 4 s; the process dies while it does, so the
    # order fills after its sender is gone, and the next cycle starts before it has.
    emulator.inject(Fault("/fapi/v1/order", "POST", "delay", seconds=4))
    proc = live.spawn("run-cycle")
    wait_until(lambda: emulator.faults_pending == 0)  # the perp order has reached the exchange
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert live.query("SELECT state FROM positions") == [("opening",)]
    assert live.query("SELECT state FROM orders WHERE leg = 'perp'") == [("pending",)]
    assert short_on_exchange(emulator) == 0  # not yet

    result = live("run-cycle", FRA_RISK__MAX_POSITIONS="0")  # reconcile, open nothing new
    assert "reconciled 1" in result.stdout
    # "Not found" right after the kill did not count: fra waited out the order's time in
    # flight, found it filled, and kept the hedged position instead of selling the spot and
    # leaving the short to land alone.
    assert live.query("SELECT state FROM positions") == [("open",)]
    short, spot = short_on_exchange(emulator), spot_on_exchange(emulator)
    assert short > 0 and abs(spot - short) / short <= Decimal("0.01"), (spot, short)
    assert live.query("SELECT state FROM orders WHERE leg = 'perp'") == [("filled",)]


def test_live_process_killed_before_the_perp_order_is_unwound(
    live: Fra, emulator: BinanceEmulator
) -> None:
    # Dies with the spot bought and the perp order written but not sent: the perpetual's
    # leverage is being set first, and the exchange is slow to answer.
    emulator.inject(Fault("/fapi/v1/leverage", "POST", "delay", seconds=3))
    proc = live.spawn("run-cycle")
    live.wait_for("SELECT 1 FROM orders WHERE leg = 'perp' AND state = 'pending'")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert spot_on_exchange(emulator) > 0 and short_on_exchange(emulator) == 0

    live("run-cycle", FRA_RISK__MAX_POSITIONS="0")
    assert live.query("SELECT state FROM positions") == [("unwound",)]
    assert live.query("SELECT state FROM orders WHERE leg = 'perp'") == [("unsent",)]
    assert short_on_exchange(emulator) == 0
    assert spot_on_exchange(emulator) < Decimal("0.01")  # dust below the step at most


def test_live_liquidation_is_recorded_the_spot_sold_and_everything_stops(fra: Fra) -> None:
    # +40 % on ETH an hour in, against a third of the notional as isolated margin: Binance's
    # liquidation engine takes the short over before fra's next cycle looks.
    squeeze = parse_shock(f"{ETH}@{iso(T0 + timedelta(hours=1))}:price=+40%:hours=12")
    with make_emulator(extra_shocks=[squeeze]) as emu:
        live = live_on(fra, emu).set(FRA_RISK__LEVERAGE="3")
        live("run-cycle")
        short = short_on_exchange(emu)
        assert short > 0
        emu.clock.advance(3 * HOUR_MS)
        out = live("run-cycle", code=ExitCode.MARGIN_CRITICAL).stdout
        assert "EMERGENCY STOP (the venue liquidated the short on ETH/USDT:USDT)" in out
        [pos] = live.json("positions")
        assert (
            pos["state"] == "closed" and pos["close_reason"] == "perp leg liquidated by the venue"
        )
        # Binance's forced order, read from /fapi/v1/forceOrders, is in the books as it was.
        [(cid, state, side, filled)] = live.query(
            "SELECT client_order_id, state, side, filled FROM orders WHERE purpose = 'liquidation'"
        )
        assert cid.startswith("autoclose-") and (state, side) == ("filled", "buy")
        assert Decimal(filled) == short
        # The spot it hedged was sold on the exchange: nothing is left unhedged.
        assert short_on_exchange(emu) == 0
        assert spot_on_exchange(emu) < Decimal("0.01")
        # Isolated margin: the short lost the margin it posted (its entry fee aside).
        margin = Decimal(pos["perp_amount"]) * Decimal(pos["perp_entry_price"]) / 3
        assert abs(Decimal(pos["perp_pnl"]) + margin) / margin < Decimal("0.01"), pos
        live("run-cycle")  # halted: opens nothing until a human resumes
        assert live.json("status")["positions"] == [] and short_on_exchange(emu) == 0


def test_live_switches_a_hedge_mode_account_to_one_way(
    live: Fra, emulator: BinanceEmulator
) -> None:
    exchange_view(emulator)("set_position_mode", True, None, {"type": "swap"})
    assert emulator.account.dual_side
    checks = {c["name"]: c for c in live.json("doctor")}
    assert checks["position mode"]["status"] == "warn", checks["position mode"]
    live("run-cycle")
    assert not emulator.account.dual_side
    assert "POST /fapi/v1/positionSide/dual" in paths(emulator, 0)
    assert live.query("SELECT state FROM positions") == [("open",)]


def test_live_refuses_a_hedge_mode_account_it_cannot_switch(
    live: Fra, emulator: BinanceEmulator
) -> None:
    # The owner trades by hand in hedge mode: Binance refuses the switch while a position is
    # open (the emulator trades one-way only, so the refusal is injected).
    exchange_view(emulator)("set_position_mode", True, None, {"type": "swap"})
    emulator.inject(
        Fault(
            "/fapi/v1/positionSide/dual", "POST", "reject", code=-4068,
            msg="Position side cannot be changed if there exists position.",
        )
    )  # fmt: skip
    result = live("run-cycle", code=ExitCode.BAD_INPUT)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "hedge mode" in err and "one-way" in err, err
    assert not any(r.path == "/api/v3/order" for r in emulator.requests), "nothing traded"
    assert emulator.account.dual_side
    assert not live.db.exists(), "bad input leaves no state behind"


def test_live_reconcile_cancels_a_stale_order_of_its_own(
    live: Fra, emulator: BinanceEmulator
) -> None:
    live("run-cycle")
    [(instance,)] = live.query("SELECT value FROM meta WHERE key = 'instance'")
    view = exchange_view(emulator)
    low = Decimal(str(view("fetch_ticker", "ETH/USDT")["last"])) / 2
    # A resting order with fra's client id (fra only sends market orders, so one still open
    # is left over from something that went wrong), and one the owner placed by hand.
    ours = view(
        "create_order", "ETH/USDT", "limit", "buy", 0.01, float(low),
        {"newClientOrderId": f"fra{instance}-1-99so"},
    )  # fmt: skip
    theirs = view("create_order", "ETH/USDT", "limit", "buy", 0.01, float(low))
    lines = live.json("run-cycle", code=None)["reconciled"]
    assert f"cancelled stale order fra{instance}-1-99so" in lines, lines
    still_open = {o["id"] for o in view("fetch_open_orders", "ETH/USDT")}
    assert still_open == {theirs["id"]}, "only fra's own order is cancelled"
    assert ours["id"] not in still_open


def test_live_refuses_a_rejected_key_and_changes_nothing(live: Fra) -> None:
    result = live("run-cycle", code=ExitCode.BAD_INPUT, FRA_API_SECRET="wrong")
    err = result.stderr.strip()
    assert err.startswith("error: ") and "rejected the API key" in err and "wrong" not in err
    assert not live.db.exists()


def test_live_refuses_a_key_that_can_withdraw(fra: Fra) -> None:
    keys = {"w": EmulatedKey("w-secret", enable_withdrawals=True)}
    with make_emulator(keys=keys) as emu:
        fra.set(
            FRA_VENUE="binance",
            FRA_VENUE_URL=emu.url,
            FRA_MODE="live",
            FRA_LIVE__CONFIRM="true",
            FRA_API_KEY="w",
            FRA_API_SECRET="w-secret",
            FRA_STRATEGY__SYMBOLS=[ETH],
        )
        result = fra("run-cycle", code=ExitCode.BAD_INPUT)
        assert "can withdraw" in result.stderr and "FRA_LIVE__ALLOW_WITHDRAWAL_KEY" in result.stderr
        assert not any(r.method == "POST" for r in emu.requests)
        doctor = fra.json("doctor", code=ExitCode.BAD_INPUT)
        assert {"name": "withdrawals", "status": "fail"}.items() <= next(
            c for c in doctor if c["name"] == "withdrawals"
        ).items()
        fra("run-cycle", FRA_LIVE__ALLOW_WITHDRAWAL_KEY="true")
        assert len(fra.json("status")["positions"]) == 1


def test_doctor_reports_the_set_up(live: Fra) -> None:
    checks = {c["name"]: c for c in live.json("doctor")}
    assert checks["connectivity"]["status"] == "ok"
    # Nine months off: fra signs with the exchange's clock, and says so.
    assert checks["clock"]["status"] == "warn" and "sync" in checks["clock"]["fix"]
    assert checks["withdrawals"]["status"] == "ok"
    assert "USDT" in checks["balances"]["detail"]


def test_delisted_symbol_while_held_is_kept_with_a_note(
    live: Fra, emulator: BinanceEmulator
) -> None:
    live("run-cycle")
    emulator.delist(ETH, remove=True)
    result = live("run-cycle", code=None, FRA_MARKETS_TTL_MINUTES="0")
    assert result.exit_code == ExitCode.VENUE, result.stderr
    state, note = live.query("SELECT state, note FROM positions")[0]
    assert state == "closing" and "no longer listed" in note


def test_live_cycle_reconciles_the_books_with_the_exchange(
    live: Fra, emulator: BinanceEmulator
) -> None:
    live("run-cycle")
    # Someone sells half the coins by hand on the exchange.
    held = spot_on_exchange(emulator)
    exchange_view(emulator)("create_order", "ETH/USDT", "market", "sell", float(held / 2))
    lines = live.json("run-cycle", code=None)["reconciled"]
    assert any("ETH/USDT: exchange holds" in line for line in lines), lines


def test_paper_delisted_symbol_while_held_is_kept_with_a_note(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    # The paper account lives in the state file: the cycle, its margins and its balances must
    # get through a held market the venue no longer lists, as live does.
    paper("run-cycle")
    emulator.delist(ETH, remove=True)
    result = paper("run-cycle", code=None, FRA_MARKETS_TTL_MINUTES="0")
    assert result.exit_code == ExitCode.VENUE, result.stderr
    state, note = paper.query("SELECT state, note FROM positions")[0]
    assert state == "closing" and "no longer listed" in note
