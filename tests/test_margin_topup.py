"""Margin management through the CLI: a rally is met by topping up the short's margin, not by
the emergency stop, on paper (simulated market) and live (the local Binance emulator), with
transfers refused, a key without transfer rights, and processes killed mid top-up."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import T0, Fra, iso, legs, wait_until

from fra.emulator import DEFAULT_API_KEY, BinanceEmulator, EmulatedKey, Fault
from fra.emulator.clock import EmulatorClock
from fra.errors import ExitCode
from fra.venues.simulated import parse_shock

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
HOUR_MS = 3_600_000
RALLY_AT = T0 + timedelta(hours=1)


def rally(symbol: str) -> str:
    # +40 %, ramped in over the first 2.4 h (a tenth of the shock), then held.
    return f"{symbol}@{iso(RALLY_AT)}:price=+40%:hours=24"


def hot(symbol: str) -> str:
    return f"{symbol}@{iso(T0)}:funding=0.0008:hours=72"


# Cycles through the ramp, 10 minutes apart (cron would run them every 5).
RAMP = [timedelta(hours=2, minutes=10 * i) for i in range(10)]
# Live cycles cost about 2 s each (the request budget paces the scan's bulk calls): only those
# around the first crossing of the trigger, an 11.5 % cushion, which a 3x short reaches at
# about +19 % (+19.4 %, +22.2 %).
LIVE_RAMP = [timedelta(hours=2, minutes=m) for m in (10, 20)]


def assert_hedged(spot: Decimal, perp: Decimal) -> None:
    assert perp > 0 and spot >= perp, (spot, perp)
    assert (spot - perp) / perp <= Decimal("0.01"), (spot, perp)


def actions(fra: Fra) -> list[tuple[str, str, str]]:
    return fra.query("SELECT kind, state, amount FROM margin_actions ORDER BY id")


# -- paper, on the simulated market -------------------------------------------------------------


def paper_rally(fra: Fra, **env: str) -> Fra:
    # One 2,000 USDT position whatever share of the equity the defaults allot to one.
    return fra.set(
        FRA_STRATEGY__SYMBOLS=[BTC],
        FRA_RISK__MAX_POSITION_USD="2000",
        FRA_RISK__MAX_POSITION_FRACTION="1",
        **env,
    ).shocks(hot(BTC), rally(BTC))


def through_the_ramp(fra: Fra) -> list[dict[str, Any]]:
    """The open at T0 (if not yet done), then a cycle every 10 minutes through the ramp."""
    if not fra.db.exists():
        fra.at(T0)("run-cycle")
    reports = []
    for offset in RAMP:
        fra.at(T0 + offset)
        report = fra.json("run-cycle", code=None)
        assert report["exit_code"] not in (ExitCode.MARGIN_CRITICAL, ExitCode.VENUE), report
        reports.append(report)
    return reports


def test_paper_rally_tops_up_the_margin_instead_of_stopping(fra: Fra) -> None:
    reports = through_the_ramp(paper_rally(fra))
    done = [a for r in reports for a in r["margin_actions"]]
    assert done and {a["kind"] for a in done} == {"add_margin"}, done
    assert all(a["state"] == "done" and a["unit"] == "USDT" for a in done)
    # The leg was measured after its top-up: back in the band, no alert either.
    topped = next(r for r in reports if r["margin_actions"])
    assert Decimal(topped["worst_margin_ratio"]) < Decimal("0.1")
    status = fra.json("status")
    assert status["halted"] is False
    [pos] = status["positions"]
    assert pos["state"] == "open"
    assert_hedged(*legs(fra))
    # The paper exchange holds what was added, and the cash it came from is gone from the pool.
    added = sum(Decimal(a["amount"]) for a in done)
    [(margin,)] = fra.query("SELECT margin FROM paper_shorts")
    [(entry, qty)] = fra.query(
        "SELECT average_price, filled FROM orders WHERE leg = 'perp' AND purpose = 'open'"
    )
    assert Decimal(margin) == Decimal(qty) * Decimal(entry) / 3 + added
    assert fra.query("SELECT COUNT(*) FROM paper_margin_adds") == [(len(done),)]
    # Recorded with each cycle's summary too.
    assert any('"margin_actions": [{' in s for (s,) in fra.query("SELECT summary FROM cycles"))


def test_paper_without_free_usdt_shrinks_both_legs_then_tops_up(fra: Fra) -> None:
    # 2,700 USDT: the 2,000 USDT position takes all but about 30 of it.
    paper_rally(fra, FRA_PAPER__STARTING_BALANCE="2700")
    fra.at(T0)("run-cycle")
    spot_before, perp_before = legs(fra)
    reports = through_the_ramp(fra)
    done = [a for r in reports for a in r["margin_actions"]]
    kinds = [a["kind"] for a in done]
    assert "shrink" in kinds and kinds[kinds.index("shrink") + 1] == "add_margin", done
    spot, perp = legs(fra)
    assert perp < perp_before and spot < spot_before
    assert_hedged(spot, perp)
    assert fra.json("status")["positions"][0]["state"] == "open"


def test_top_ups_can_be_switched_off_and_the_band_is_checked(fra: Fra) -> None:
    # Off: the same rally ends in the emergency stop, as before margin management.
    paper_rally(fra, FRA_RISK__TOPUP_CUSHION="0")
    fra.at(T0)
    fra("run-cycle")
    codes = []
    for offset in RAMP:
        codes.append(fra.at(T0 + offset)("run-cycle", code=None).exit_code)
    assert ExitCode.MARGIN_CRITICAL in codes
    assert actions(fra) == []
    result = fra("status", code=ExitCode.BAD_INPUT, FRA_RISK__TOPUP_CUSHION="0.35")
    assert "topup_cushion" in result.stderr and "target_cushion" in result.stderr
    # The margin-ratio settings they replace are not silently ignored.
    result = fra("status", code=ExitCode.BAD_INPUT, FRA_RISK__MARGIN_TOPUP="0.08")
    assert "FRA_RISK__TOPUP_CUSHION" in result.stderr and "renamed" in result.stderr


def test_paper_kill_during_a_top_up_adds_the_margin_once(fra: Fra) -> None:
    paper_rally(fra)
    fra.at(T0)
    fra("run-cycle")
    fra.at(T0 + timedelta(hours=2, minutes=50))  # past the trigger
    proc = fra.spawn("run-cycle", FRA_PAPER__FILL_DELAY_MS="3000")
    fra.wait_for("SELECT 1 FROM margin_actions WHERE state = 'pending'")
    proc.send_signal(signal.SIGKILL)  # asleep inside the paper venue: nothing was added
    proc.wait(timeout=30)
    assert actions(fra) == [("add_margin", "pending", actions(fra)[0][2])]

    report = fra.json("run-cycle")
    assert any("margin add_margin 1" in line and "unsent" in line for line in report["reconciled"])
    states = [(kind, state) for kind, state, _ in actions(fra)]
    assert states == [("add_margin", "unsent"), ("add_margin", "done")]
    assert fra.query("SELECT COUNT(*) FROM paper_margin_adds") == [(1,)]
    assert report["exit_code"] == ExitCode.OK


def test_paper_kill_between_the_legs_of_a_shrink_is_rehedged_by_the_next_cycle(fra: Fra) -> None:
    paper_rally(fra, FRA_PAPER__STARTING_BALANCE="2700")
    fra.at(T0)("run-cycle")
    fra.at(T0 + timedelta(hours=2, minutes=50))
    proc = fra.spawn("run-cycle", FRA_PAPER__FILL_DELAY_MS="1500")
    fra.wait_for("SELECT 1 FROM orders WHERE purpose = 'close' AND state = 'filled'")
    proc.send_signal(signal.SIGKILL)  # the spot sale that follows the buy-back is in flight
    proc.wait(timeout=30)
    spot, perp = legs(fra)
    assert spot > perp, "killed with the short bought back and the spot not yet sold"
    assert [(k, s) for k, s, _ in actions(fra)] == [("shrink", "pending")]

    report = fra.json("run-cycle")
    assert any("margin shrink 1" in line and "done" in line for line in report["reconciled"])
    assert [(k, s) for k, s, _ in actions(fra)] == [("shrink", "done"), ("add_margin", "done")]
    assert_hedged(*legs(fra))
    assert fra.query("SELECT COUNT(*) FROM orders WHERE purpose = 'close'") == [(1,)]
    assert report["exit_code"] == ExitCode.OK


# -- live, on the local Binance emulator ---------------------------------------------------------


def make_emulator(**kwargs: Any) -> BinanceEmulator:
    clock = EmulatorClock.running_from(int(T0.timestamp() * 1000))
    shocks = [parse_shock(hot(ETH)), parse_shock(rally(ETH))]
    return BinanceEmulator(clock=clock, shocks=shocks, **kwargs)


def live_on(fra: Fra, emu: BinanceEmulator, key: str = DEFAULT_API_KEY) -> Fra:
    secret = emu.keys[key].secret
    return fra.set(
        FRA_VENUE="binance",
        FRA_VENUE_URL=emu.url,
        FRA_VENUE_RETRIES="1",
        FRA_VENUE_TIMEOUT_SECONDS="5",
        FRA_STRATEGY__SYMBOLS=[ETH],
        FRA_MODE="live",
        FRA_LIVE__CONFIRM="true",
        FRA_API_KEY=key,
        FRA_API_SECRET=secret,
        FRA_RISK__MAX_POSITION_USD="1000",
        FRA_RISK__MAX_POSITION_FRACTION="1",
    )


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with make_emulator() as emu:
        yield emu


def posts(emu: BinanceEmulator, path: str) -> list[str]:
    return [r.query for r in emu.requests if r.method == "POST" and r.path == path]


def exchange_short(emu: BinanceEmulator) -> Any:
    return next(p for p in emu.account.positions() if p.listing.id == "ETHUSDT")


def at(emu: BinanceEmulator, offset: timedelta) -> None:
    emu.clock.set(int((T0 + offset).timestamp() * 1000))


def live_ramp(live: Fra, emu: BinanceEmulator) -> list[dict[str, Any]]:
    """The open at T0 (if not yet done), then a cycle every 10 minutes through the ramp."""
    if not live.db.exists():
        live("run-cycle")
    reports = []
    for offset in LIVE_RAMP:
        at(emu, offset)
        report = live.json("run-cycle", code=None)
        assert report["exit_code"] not in (ExitCode.MARGIN_CRITICAL, ExitCode.VENUE), report
        reports.append(report)
    return reports


def exchange_legs(emu: BinanceEmulator) -> tuple[Decimal, Decimal]:
    spot = next(free for asset, free, _ in emu.account.spot_balances() if asset == "ETH")
    return spot, -exchange_short(emu).amount


def test_live_rally_adds_isolated_margin_on_the_exchange(
    fra: Fra, emulator: BinanceEmulator
) -> None:
    live = live_on(fra, emulator)
    reports = live_ramp(live, emulator)
    done = [a for r in reports for a in r["margin_actions"]]
    assert done and all(a["kind"] == "add_margin" and a["state"] == "done" for a in done), done
    sent = posts(emulator, "/fapi/v1/positionMargin")
    assert len(sent) == len(done)
    assert all("type=1" in q and "symbol=ETHUSDT" in q for q in sent)
    # Binance's own record of each addition is what the books name it by.
    history = emulator.account.margin_changes(exchange_short(emulator).listing)
    assert [a["venue_ref"] for a in done] == [
        f"{c.time_ms}:{c.amount.normalize():f}" for c in history
    ]
    assert not posts(emulator, "/sapi/v1/asset/transfer"), "the futures wallet had enough"
    assert live.query("SELECT state FROM positions") == [("open",)]
    assert_hedged(*exchange_legs(emulator))


def test_live_moves_spot_usdt_to_futures_when_the_futures_wallet_is_short(fra: Fra) -> None:
    # 400 USDT in futures: the 1,000 USDT short posts 333 of it, leaving too little to top up.
    with make_emulator(futures_usdt=Decimal(400)) as emu:
        live = live_on(fra, emu)
        reports = live_ramp(live, emu)
        done = [(a["kind"], a["state"]) for r in reports for a in r["margin_actions"]]
        assert ("transfer", "done") in done and done[done.index(("transfer", "done")) + 1] == (
            "add_margin",
            "done",
        ), done
        [sent] = posts(emu, "/sapi/v1/asset/transfer")[:1]
        assert "type=MAIN_UMFUTURE" in sent and "asset=USDT" in sent
        [(ref,)] = live.query(
            "SELECT venue_ref FROM margin_actions WHERE kind = 'transfer' LIMIT 1"
        )
        assert ref == str(emu.account.transfers("MAIN_UMFUTURE")[0].tran_id)
        assert live.query("SELECT state FROM positions") == [("open",)]
        assert_hedged(*exchange_legs(emu))


def test_live_refused_transfer_falls_back_to_shrinking_both_legs(fra: Fra) -> None:
    with make_emulator(futures_usdt=Decimal(400)) as emu:
        emu.inject(
            Fault(
                "/sapi/v1/asset/transfer", "POST", "reject", code=-5013,
                msg="Asset transfer failed: insufficient balance", times=20,
            )
        )  # fmt: skip
        live = live_on(fra, emu)
        live("run-cycle")
        _, short_before = exchange_legs(emu)
        reports = live_ramp(live, emu)
        done = [(a["kind"], a["state"]) for r in reports for a in r["margin_actions"]]
        assert ("transfer", "refused") in done, done
        after = done[done.index(("transfer", "refused")) + 1 :]
        assert after[:2] == [("shrink", "done"), ("add_margin", "done")], done
        [(reason,)] = live.query(
            "SELECT reason FROM margin_actions WHERE kind = 'transfer' LIMIT 1"
        )
        assert "-5013" in reason and "insufficient balance" in reason
        spot, short = exchange_legs(emu)
        assert short < short_before
        assert_hedged(spot, short)
        assert emu.account.transfers("MAIN_UMFUTURE") == []


def test_key_without_transfer_rights_doctor_warns_and_the_cycle_shrinks(fra: Fra) -> None:
    keys = {"nt": EmulatedKey("nt-secret", permits_universal_transfer=False)}
    with make_emulator(futures_usdt=Decimal(400), keys=keys) as emu:
        live = live_on(fra, emu, key="nt")
        checks = {c["name"]: c for c in live.json("doctor")}
        assert checks["transfers"]["status"] == "warn"
        assert "shrinks both legs" in checks["transfers"]["detail"]
        assert "Permits Universal Transfer" in checks["transfers"]["fix"]
        reports = live_ramp(live, emu)
        done = [a for r in reports for a in r["margin_actions"]]
        refused = next(a for a in done if a["kind"] == "transfer")
        assert refused["state"] == "refused" and "-1002" in refused["reason"], refused
        assert "shrink" in [a["kind"] for a in done]
        assert live.query("SELECT state FROM positions") == [("open",)]
        assert_hedged(*exchange_legs(emu))


def test_live_kill_during_add_margin_is_reconciled_added_once(
    fra: Fra, emulator: BinanceEmulator
) -> None:
    live = live_on(fra, emulator)
    live("run-cycle")
    at(emulator, timedelta(hours=2, minutes=50))  # past the trigger
    wallet_before = exchange_short(emulator).isolated_wallet
    # The exchange sits on the request for 2 s; the process dies while it does, and the margin
    # lands after its sender is gone.
    emulator.inject(Fault("/fapi/v1/positionMargin", "POST", "delay", seconds=2))
    proc = live.spawn("run-cycle")
    wait_until(lambda: emulator.faults_pending == 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    [(kind, state, amount)] = actions(live)
    assert (kind, state) == ("add_margin", "pending")
    wait_until(lambda: bool(posts(emulator, "/fapi/v1/positionMargin")))

    report = live.json("run-cycle")
    assert any("margin add_margin 1" in line and "done" in line for line in report["reconciled"])
    assert report["margin_actions"] == [], "topped up already: nothing more to add"
    assert len(posts(emulator, "/fapi/v1/positionMargin")) == 1
    assert exchange_short(emulator).isolated_wallet == wallet_before + Decimal(amount)
    assert actions(live) == [("add_margin", "done", amount)]
    assert report["exit_code"] == ExitCode.OK


def test_live_lost_answers_are_looked_up_in_the_history_not_resent(fra: Fra) -> None:
    # Both the transfer and the margin addition go through, and their answers are lost.
    with make_emulator(futures_usdt=Decimal(400)) as emu:
        live = live_on(fra, emu)
        live("run-cycle")
        emu.inject(Fault("/sapi/v1/asset/transfer", "POST", "drop_after"))
        emu.inject(Fault("/fapi/v1/positionMargin", "POST", "drop_after"))
        at(emu, timedelta(hours=2, minutes=50))
        report = live.json("run-cycle")
        steps = [(a["kind"], a["state"]) for a in report["margin_actions"]]
        assert steps == [("transfer", "done"), ("add_margin", "done")], report
        assert len(posts(emu, "/sapi/v1/asset/transfer")) == 1
        assert len(posts(emu, "/fapi/v1/positionMargin")) == 1
        [(ref,)] = live.query("SELECT venue_ref FROM margin_actions WHERE kind = 'transfer'")
        assert ref == str(emu.account.transfers("MAIN_UMFUTURE")[0].tran_id)
        assert report["exit_code"] == ExitCode.OK


def test_equity_counts_the_margin_a_top_up_added(fra: Fra, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sizes follow equity as the backtest counts it: margin moved behind a short is still the
    account's, and so is what the spot leg gained in the rally."""
    from fra.app import open_app
    from fra.core.positions import HELD_STATES
    from fra.engine.open import account_equity
    from fra.settings import load_settings

    reports = through_the_ramp(paper_rally(fra))
    added = sum(Decimal(a["amount"]) for r in reports for a in r["margin_actions"])
    assert added > 0
    totals = fra.json("status")["totals"]
    for key, value in fra.full_env().items():
        monkeypatch.setenv(key, value)
    with open_app(load_settings()) as app:
        equity = account_equity(app, app.store.positions(HELD_STATES))
        free = app.executor.free_quote()
    # The start, plus what the position made so far (funding less fees, the hedge's P&L).
    expected = Decimal(10_000) + Decimal(totals["unrealized_net_pnl"])
    assert abs(equity - expected) < Decimal("0.005") * expected
    assert free < expected - added, "the top-up left the free cash, not the equity"
