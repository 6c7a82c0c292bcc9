"""A final position's realized P&L is stored once, when it becomes final, and `fra status` sums
the stored totals: they must equal what the fills give, however the position ended. Also the
migration that back-fills them, and `fra positions --limit/--since`."""

from __future__ import annotations

import signal
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import T0, Fra, iso
from sqlite_utils import Database

from fra.core.models import OrderResult, OrderStatus, Side
from fra.core.positions import Payment, PositionState
from fra.errors import ExitCode
from fra.store.db import Store
from fra.store.migrations import migrations

ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"
HOT_SOL = f"{SOL}@{iso(T0)}:funding=0.0009:hours=10"
COLD_SOL = f"{SOL}@{iso(T0 + timedelta(hours=10))}:funding=-0.001:hours=24"
FINAL = "('closed', 'unwound', 'failed')"
STORED = "realized_spot_pnl, realized_perp_pnl, realized_funding, realized_fees, realized_net"
EIGHT = Decimal("1e-8")  # JSON gives derived money to 8 places (fra.core.precision)


def stored_totals(fra: Fra) -> dict[int, tuple[Decimal, ...]]:
    rows = fra.query(f"SELECT id, {STORED} FROM positions WHERE state IN {FINAL} ORDER BY id")
    return {row[0]: tuple(Decimal(v) for v in row[1:]) for row in rows}


def net_from_fills(fra: Fra, position_id: int) -> Decimal:
    """Realized net P&L as cash flows, from the raw order and funding rows: what was paid and
    received in USDT, plus the coin left over (dust) at the spot exit price."""
    cash = coins = spot_sold = spot_proceeds = Decimal(0)
    rows = fra.query(
        "SELECT leg, side, filled, average_price, fee, fee_currency FROM orders"
        " WHERE position_id = ?",
        (position_id,),
    )
    for leg, side, filled, price, fee, fee_currency in rows:
        qty, value = Decimal(filled), Decimal(filled) * Decimal(price)
        cash += value if side == "sell" else -value
        if fee_currency == "USDT":
            cash -= Decimal(fee)
        elif leg == "spot":
            coins -= Decimal(fee)
        if leg == "spot":
            coins += qty if side == "buy" else -qty
            if side == "sell":
                spot_sold += qty
                spot_proceeds += value
    for (amount,) in fra.query(
        "SELECT amount FROM funding_payments WHERE position_id = ?", (position_id,)
    ):
        cash += Decimal(amount)
    dust = coins * spot_proceeds / spot_sold if spot_sold else Decimal(0)
    return cash + dust


def assert_totals_match_fills(fra: Fra) -> list[dict[str, object]]:
    """Every final position's stored totals equal what `fra positions` derives from its fills
    (and the cash flows of its raw rows), `fra status` sums them, and held ones store none."""
    derived = fra.json("positions", "--state", "closed")
    stored = stored_totals(fra)
    assert [p["id"] for p in derived] == list(stored)
    for p in derived:
        spot, perp, funding, fees, net = (
            Decimal(str(p[key])) for key in ("spot_pnl", "perp_pnl", "funding", "fees", "net_pnl")
        )
        s_spot, s_perp, s_funding, s_fees, s_net = stored[p["id"]]
        # Funding and fees exactly as paid; the P&L of the legs to the 8 places JSON gives money
        # to, and the net the sum of the four as printed.
        assert (funding, fees) == (s_funding, s_fees), p["id"]
        assert (spot, perp) == (s_spot.quantize(EIGHT), s_perp.quantize(EIGHT)), p["id"]
        assert net == spot + perp + funding - fees, p["id"]
        assert abs(net - s_net) <= EIGHT, p["id"]
        # The same money added up another way: equal but for Decimal's rounding at 28 digits.
        assert abs(s_net - net_from_fills(fra, p["id"])) < Decimal("1e-18")
    totals = fra.json("status")["totals"]
    assert totals["closed_positions"] == len(derived)
    realized = sum(stored[p["id"]][4] for p in derived)
    assert Decimal(totals["realized_net_pnl"]) == realized.quantize(EIGHT)
    printed = sum((Decimal(str(p["net_pnl"])) for p in derived), Decimal(0))
    assert abs(Decimal(totals["realized_net_pnl"]) - printed) <= EIGHT * len(derived)
    held = fra.query(
        f"SELECT COUNT(*) FROM positions WHERE state NOT IN {FINAL} AND realized_net IS NOT NULL"
    )
    assert held == [(0,)]
    return derived


def assert_paper_account_agrees(fra: Fra, spot_exit_price: Decimal) -> None:
    """The paper account's own books: cash plus the ETH dust equals the start plus realized."""
    status = fra.json("status")
    dust = fra.query("SELECT amount FROM paper_balances WHERE asset = 'ETH'")
    dust_value = Decimal(dust[0][0]) * spot_exit_price if dust else Decimal(0)
    cash = Decimal(status["totals"]["paper_cash"])
    realized = Decimal(status["totals"]["realized_net_pnl"])
    # Both printed to 8 places, each within half a unit of the 8th.
    assert abs(cash + dust_value - Decimal(10000) - realized) <= EIGHT


def test_closed_by_the_close_command_and_by_the_cycle(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH, SOL]).shocks(HOT, HOT_SOL, COLD_SOL)
    fra("open", ETH, "--size", "600")
    fra("open", SOL, "--size", "600")
    fra.advance(hours=17)  # two settlements paid
    fra("close", "1")
    assert "closed 1" in fra("run-cycle", FRA_RISK__MAX_POSITIONS="0").stdout  # SOL turned cold
    closed = assert_totals_match_fills(fra)
    assert [(p["symbol"], p["state"]) for p in closed] == [(ETH, "closed"), (SOL, "closed")]
    assert all(p["funding_payments"] == 2 for p in closed)
    assert "below the exit bar" in str(closed[1]["close_reason"])


def test_closed_by_the_emergency_stop(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("run-cycle")
    fra.advance(hours=9)
    fra("emergency-stop", "--reason", "exchange incident")
    [pos] = assert_totals_match_fills(fra)
    assert pos["close_reason"] == "emergency stop: exchange incident"
    assert pos["funding_payments"] == 1
    assert_paper_account_agrees(fra, Decimal(str(pos["spot_exit_price"])))


def test_closed_by_a_liquidation(fra: Fra) -> None:
    # +40 % on ETH with a third of the notional as margin: the paper venue liquidates the short.
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH], FRA_RISK__LEVERAGE="3").shocks(
        HOT, f"{ETH}@{iso(T0 + timedelta(hours=1))}:price=+40%:hours=12"
    )
    fra("run-cycle")
    fra.advance(hours=3)
    fra("run-cycle", code=ExitCode.MARGIN_CRITICAL)
    [pos] = assert_totals_match_fills(fra)
    assert pos["close_reason"] == "perp leg liquidated by the venue"
    # Isolated margin: the short lost what it posted, the spot leg gained the rally.
    margin = Decimal(str(pos["perp_amount"])) * Decimal(str(pos["perp_entry_price"])) / 3
    assert Decimal(str(pos["perp_pnl"])) == -margin.quantize(EIGHT)
    assert_paper_account_agrees(fra, Decimal(str(pos["spot_exit_price"])))


def test_unwound_by_reconcile_after_a_kill_between_the_legs(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    proc = fra.spawn("open", ETH, "--size", "500", FRA_PAPER__FILL_DELAY_MS="1500")
    fra.wait_for("SELECT 1 FROM orders WHERE leg = 'spot' AND state = 'filled'")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    fra("run-cycle", FRA_RISK__MAX_POSITIONS="0")
    [pos] = assert_totals_match_fills(fra)
    assert pos["state"] == "unwound" and "reconcile" in str(pos["close_reason"])
    assert Decimal(str(pos["fees"])) > 0  # a round trip of the spot leg, paid for nothing


def test_failed_by_reconcile_when_nothing_filled(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    proc = fra.spawn("open", ETH, "--size", "500", FRA_PAPER__FILL_DELAY_MS="5000")
    fra.wait_for("SELECT 1 FROM orders WHERE leg = 'spot' AND state = 'pending'")
    proc.send_signal(signal.SIGKILL)  # while the paper venue waits, before anything fills
    proc.communicate(timeout=30)
    fra("run-cycle", FRA_RISK__MAX_POSITIONS="0")
    [pos] = assert_totals_match_fills(fra)
    assert pos["state"] == "failed"
    assert stored_totals(fra)[1] == (Decimal(0),) * 5


def test_close_finished_by_reconcile_after_a_kill(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("open", ETH, "--size", "600")
    fra.advance(hours=9)
    proc = fra.spawn("close", "1", FRA_PAPER__FILL_DELAY_MS="1500")
    fra.wait_for("SELECT 1 FROM orders WHERE purpose = 'close' AND leg = 'perp' AND filled != '0'")
    proc.send_signal(signal.SIGKILL)  # the short is bought back, the spot not yet sold
    proc.communicate(timeout=30)
    assert fra.query("SELECT state, realized_net FROM positions") == [("closing", None)]
    fra("run-cycle", FRA_RISK__MAX_POSITIONS="0")
    [pos] = assert_totals_match_fills(fra)
    assert pos["state"] == "closed" and pos["funding_payments"] == 1
    assert_paper_account_agrees(fra, Decimal(str(pos["spot_exit_price"])))


def test_funding_recorded_after_the_final_mark_updates_the_totals(fra: Fra) -> None:
    # A close marks the position final and then records the short's last settlements: one
    # that fell between the buy-back and the mark arrives after the totals were first stored.
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("open", ETH, "--size", "600")
    fra.advance(hours=9)
    fra("close", "1")
    before = stored_totals(fra)[1]
    late = Payment(
        int((T0 + timedelta(hours=16)).timestamp() * 1000),
        Decimal("0.5"),
        Decimal("0.0008"),
        Decimal("2000"),
        Decimal("0.3"),
    )
    store = Store.open(fra.db)
    try:
        with store.tx():
            assert store.add_funding(1, [late]) == 1
        with store.tx():
            assert store.add_funding(1, [late]) == 0  # once per settlement, as ever
    finally:
        store.close()
    [pos] = assert_totals_match_fills(fra)
    assert pos["funding_payments"] == 2
    assert stored_totals(fra)[1][4] == before[4] + Decimal("0.5")


# -- the migration -------------------------------------------------------------------------


def previous_schema(path: Path) -> str:
    """The positions table as the migrations before this one leave it."""
    db = Database(sqlite3.connect(path))
    before = [m for m in migrations._migrations if m.name != "m006_realized_totals"]
    for migration in before:
        migration.fn(db)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'positions'").fetchone()[0]
    db.conn.close()
    return sql


def to_previous_schema(fra: Fra, tmp_path: Path) -> None:
    """Take the state file back to the schema before the totals: what an older fra wrote."""
    conn = sqlite3.connect(fra.db)
    for column in STORED.split(", "):
        conn.execute(f"ALTER TABLE positions DROP COLUMN {column}")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_realized_totals'")
    conn.commit()
    old = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'positions'").fetchone()[0]
    conn.close()
    assert old == previous_schema(tmp_path / "previous.db")


def test_migration_back_fills_positions_already_final(fra: Fra, tmp_path: Path) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH, SOL]).shocks(HOT, HOT_SOL, COLD_SOL)
    fra("open", ETH, "--size", "600")
    fra("open", SOL, "--size", "600")
    fra.advance(hours=17)
    fra("close", "1")
    fra("run-cycle", FRA_RISK__MAX_POSITIONS="0")
    fra("open", ETH, "--size", "500")  # one held, which gets no totals
    expected = fra.json("status")["totals"]
    to_previous_schema(fra, tmp_path)

    status = fra.json("status")  # any command migrates the file it opens
    assert status["totals"] == expected
    assert fra.query("SELECT name FROM _sqlite_migrations WHERE name LIKE 'm006%'") == [
        ("m006_realized_totals",)
    ]
    assert len(assert_totals_match_fills(fra)) == 2


def test_migration_back_fills_more_positions_than_it_builds_at_once(
    fra: Fra, tmp_path: Path
) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("open", ETH, "--size", "600")
    fra.advance(hours=9)
    fra("close", "1")
    # 1,200 more closed positions, each the first one's orders at other prices, written
    # through the store's calls as the engine writes them.
    store = Store.open(fra.db)
    try:
        [first] = store.positions()
        with store.tx():
            for k in range(1, 1201):
                pid = store.create_position(
                    venue=first.venue,
                    mode=first.mode,
                    perp_symbol=ETH,
                    spot_symbol="ETH/USDT",
                    target_amount=first.target_amount,
                    leverage=first.leverage,
                    entry_rate=first.entry_rate,
                    interval_hours=first.interval_hours,
                    now_ms=first.created_ms + k,
                )
                for f in first.fills:
                    cid = f"{f.client_order_id}-{k}"
                    symbol = "ETH/USDT" if f.leg == "spot" else ETH
                    store.add_order(
                        client_order_id=cid,
                        position_id=pid,
                        leg=f.leg,
                        purpose="open" if f.side == "buy" else "close",
                        symbol=symbol,
                        side=f.side,
                        requested=f.requested,
                        now_ms=f.time_ms,
                    )
                    price = f.price + Decimal(k) / 7 * (1 if f.leg == "spot" else -1)
                    store.record_order(
                        OrderResult(
                            cid,
                            symbol,
                            Side(f.side),
                            OrderStatus(f.state),
                            f.requested,
                            f.filled,
                            price,
                            f.fee,
                            f.fee_currency,
                            f.time_ms,
                        )
                    )
                store.set_position_state(pid, PositionState.OPEN, now_ms=first.opened_ms)
                store.set_position_state(pid, PositionState.CLOSING, reason="test")
                store.set_position_state(pid, PositionState.CLOSED, now_ms=first.closed_ms)
    finally:
        store.close()
    expected = fra.json("status")["totals"]
    to_previous_schema(fra, tmp_path)

    assert fra.json("status")["totals"] == expected
    assert expected["closed_positions"] == 1201
    assert len(set(stored_totals(fra).values())) == 1201  # each its own prices, all filled in
    assert len(assert_totals_match_fills(fra)) == 1201


# -- fra positions --limit / --since ---------------------------------------------------------


@pytest.fixture
def history(fra: Fra) -> Fra:
    """Positions 1-3 closed a day apart (2026-03-01, -02, -03), position 4 still open."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(f"{ETH}@{iso(T0)}:funding=0.0008:hours=96")
    for day in range(3):
        fra.at(T0 + timedelta(days=day, hours=1))
        fra("open", ETH, "--size", "500")
        fra.advance(hours=2)
        fra("close", "--all")
    fra("open", ETH, "--size", "500")
    return fra


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in rows]


def test_positions_limit_keeps_the_newest_in_id_order(history: Fra) -> None:
    assert ids(history.json("positions")) == [1, 2, 3, 4]
    assert ids(history.json("positions", "--limit", "2")) == [3, 4]
    assert ids(history.json("positions", "--state", "closed", "--limit", "2")) == [2, 3]
    assert ids(history.json("positions", "--limit", "10")) == [1, 2, 3, 4]
    table = history("positions", "--limit", "1").stdout
    assert "Open positions" in table and "Closed positions" not in table


def test_positions_since_keeps_the_held_and_those_closed_since(history: Fra) -> None:
    assert ids(history.json("positions", "--since", "2026-03-02")) == [2, 3, 4]
    # Position 2 closed at 03:00 that day: "on or after" includes the very millisecond.
    assert ids(history.json("positions", "--since", "2026-03-02T03:00:00Z")) == [2, 3, 4]
    assert ids(history.json("positions", "--since", "2026-03-02T03:00:01Z")) == [3, 4]
    assert ids(history.json("positions", "--since", "2026-03-04", "--state", "closed")) == []
    assert ids(history.json("positions", "--since", "2026-03-01", "--limit", "2")) == [3, 4]
    out = history("positions", "--since", "2030-01-01", "--state", "closed").stdout
    assert out.strip() == "None since 2030-01-01."


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--limit", "0"], ["--limit '0' is not a positive whole number", "e.g. --limit 20"]),
        (["--limit", "-3"], ["--limit '-3' is not a positive whole number"]),
        (["--limit", "ten"], ["--limit 'ten' is not a positive whole number"]),
        (["--limit", "1.5"], ["--limit '1.5' is not a positive whole number"]),
        (["--since", "last week"], ["--since 'last week' is not a date", "YYYY-MM-DD"]),
        (["--since", "2026-13-01"], ["--since '2026-13-01' is not a date"]),
    ],
)
def test_positions_bad_limit_or_since_exit_2_and_change_nothing(
    history: Fra, args: list[str], words: list[str]
) -> None:
    before = history.fingerprint()
    err = history("positions", *args, code=ExitCode.BAD_INPUT).stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert history.fingerprint() == before


# -- output shapes ---------------------------------------------------------------------------

POSITION_KEYS = {
    "id", "symbol", "spot_symbol", "state", "spot_amount", "perp_amount", "spot_entry_price",
    "perp_entry_price", "spot_exit_price", "perp_exit_price", "funding", "funding_payments",
    "fees", "spot_pnl", "perp_pnl", "net_pnl", "opened_at", "closed_at", "age", "close_reason",
    "note",
}  # fmt: skip
TOTALS_KEYS = {
    "open_positions", "exposure", "funding", "fees", "unrealized_net_pnl", "realized_net_pnl",
    "closed_positions", "paper_cash",
}  # fmt: skip


def test_status_and_positions_json_keep_their_shape(history: Fra) -> None:
    status = history.json("status")
    assert set(status["totals"]) == TOTALS_KEYS
    assert isinstance(status["totals"]["closed_positions"], int)
    assert status["totals"]["closed_positions"] == 3
    assert isinstance(status["totals"]["realized_net_pnl"], str)  # a Decimal, as before
    [held] = status["positions"]
    assert set(held) == POSITION_KEYS
    for rows in (history.json("positions"), history.json("positions", "--limit", "2")):
        assert all(set(r) == POSITION_KEYS for r in rows)
