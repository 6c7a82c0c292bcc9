"""The state file as it is found in the wild: emptied, damaged, made immutable, left by a killed
cycle, mistyped. fra refuses what it cannot trust with one line and exit 3 (2 for a path that
holds no file), leaving the file byte for byte as it was; and a live account whose positions
the books forgot is reported, never traded, until a person adopts them."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import T0, Fra, assert_refused, iso
from test_binance import ETH, exchange_view, live_on, make_emulator, short_on_exchange

from fra.emulator import BinanceEmulator
from fra.errors import ExitCode

HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=72"


@pytest.fixture
def ready(fra: Fra) -> Fra:
    """A paper state file with an open position."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("run-cycle")
    assert len(fra.json("status")["positions"]) == 1
    return fra


def damage(fra: Fra, sql: str) -> None:
    conn = sqlite3.connect(fra.db)
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


# -- an emptied file --------------------------------------------------------------------------


def test_an_emptied_state_file_is_refused_until_init(ready: Fra) -> None:
    ready.db.write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        Path(f"{ready.db}{suffix}").unlink(missing_ok=True)
    for args in (["run-cycle"], ["status"], ["open", ETH], ["close", "--all"]):
        assert_refused(ready, args, ExitCode.STATE, "empty (0 bytes)", "--init")
    assert ready.db.stat().st_size == 0
    ready("--init", "run-cycle")
    assert ready.db.stat().st_size > 0
    ready("status")  # an ordinary state file from now on


# -- damage found when the file is opened ---------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DROP TABLE funding_payments", ["damaged", "table funding_payments missing"]),
        ("ALTER TABLE orders DROP COLUMN fee", ["damaged", "orders's column(s) fee missing"]),
        ("UPDATE positions SET state = 'parked'", ["position 1", "'parked'", "does not know"]),
        (
            "UPDATE orders SET filled = '1.2.3' WHERE leg = 'perp'",
            ["order", "'1.2.3'", "not a number"],
        ),
        ("UPDATE orders SET average_price = 'NaN' WHERE leg = 'spot'", ["order", "not a number"]),
        ("UPDATE positions SET target_amount = 'lots'", ["position 1", "'lots'"]),
        ("UPDATE paper_shorts SET margin = ''", ["paper short", "not a number"]),
    ],
)
def test_a_damaged_state_file_is_refused_untouched(ready: Fra, sql: str, words: list[str]) -> None:
    damage(ready, sql)
    cycles = ready.query("SELECT COUNT(*) FROM cycles")
    for args in (["run-cycle"], ["status"], ["positions", "--state", "all"], ["close", "1"]):
        assert_refused(ready, args, ExitCode.STATE, *words)
    assert ready.query("SELECT COUNT(*) FROM cycles") == cycles  # no cycle row left "running"


def test_damage_in_a_closed_position_is_named_when_read(ready: Fra) -> None:
    ready("close", "1")
    damage(ready, "UPDATE orders SET fee = 'x' WHERE position_id = 1")
    assert_refused(
        ready, ["positions", "--state", "all"], ExitCode.STATE, "a position", "malformed number"
    )
    ready("run-cycle")  # the books the cycle acts on are sound: it runs


@pytest.mark.parametrize("target", ["file", "directory"])
def test_an_immutable_state_file_is_refused_untouched(ready: Fra, target: str) -> None:
    path = ready.db if target == "file" else ready.workdir
    # The cycle lock and the log live beside the state file: made before the directory is.
    ready("positions")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        before = ready.db.read_bytes()
        for args in (["run-cycle"], ["status"], ["close", "1"]):
            result = ready(*args, code=ExitCode.STATE)
            assert "not writable" in result.stderr and "chattr -i" in result.stderr
        assert ready.db.read_bytes() == before
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# -- cycles, permissions, mistyped paths ----------------------------------------------------


def test_a_killed_cycle_is_marked_killed_by_the_next(ready: Fra) -> None:
    # What kill -9 leaves: the cycle's row written, never finished.
    damage(ready, "INSERT INTO cycles(started_ms, outcome) VALUES (1, 'running')")
    ready("run-cycle")
    outcomes = [r[0] for r in ready.query("SELECT outcome FROM cycles ORDER BY id")]
    assert outcomes[-2:] == ["killed", "ok"], outcomes
    assert "running" not in outcomes


def test_the_state_file_and_its_log_are_private(ready: Fra) -> None:
    conn = sqlite3.connect(ready.db)  # held open, so that the -wal and -shm files stay
    try:
        conn.execute("UPDATE meta SET value = value WHERE key = 'instance'")
        paths = [ready.db, Path(f"{ready.db}-wal"), Path(f"{ready.db}-shm")]
        for path in [*paths, Path(f"{ready.db}.log.jsonl")]:
            assert path.exists(), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        conn.close()
    ready("--db", str(ready.workdir / "prod.db"), "install-timer", "--write", "--unit-dir", "u")
    for unit in (ready.workdir / "u").iterdir():
        assert stat.S_IMODE(unit.stat().st_mode) == 0o600, unit


@pytest.mark.parametrize("command", [["status"], ["positions"], ["margin-check"]])
def test_reporting_commands_never_create_a_state_file(fra: Fra, command: list[str]) -> None:
    result = fra(*command, code=ExitCode.BAD_INPUT, FRA_DB=str(fra.workdir / "typo.db"))
    assert "there is no state file at" in result.stderr and "typo.db" in result.stderr
    assert list(fra.workdir.iterdir()) == []


def test_doctor_checks_the_env_file_and_the_state_file(fra: Fra) -> None:
    env = fra.workdir / ".env"
    env.write_text("FRA_API_KEY=k\nFRA_API_SECRET=s\n")
    env.chmod(0o644)
    checks = {c["name"]: c for c in fra.json("doctor")}
    assert checks[".env"]["status"] == "warn" and "chmod 600" in checks[".env"]["fix"]
    assert "none yet" in checks["state file"]["detail"] and not fra.db.exists()
    env.chmod(0o600)
    fra.db.write_bytes(b"")
    checks = {c["name"]: c for c in fra.json("doctor", code=ExitCode.BAD_INPUT)}
    assert checks[".env"]["status"] == "ok"
    assert checks["state file"]["status"] == "fail" and "empty" in checks["state file"]["detail"]


# -- positions the books forgot (live, against the emulator) -------------------------------


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with make_emulator() as emu:
        yield emu


def test_an_emptied_live_file_finds_the_position_and_adopts_it(
    fra: Fra, emulator: BinanceEmulator
) -> None:
    live = live_on(fra, emulator)
    live("run-cycle")
    short = short_on_exchange(emulator)
    assert short > 0

    live.db.write_bytes(b"")  # the disk filled up; the short and its coins are still there
    Path(f"{live.db}-wal").unlink(missing_ok=True)
    assert_refused(live, ["run-cycle"], ExitCode.STATE, "empty (0 bytes)")

    report = live.json("--init", "run-cycle", code=ExitCode.UNTRACKED)
    found = {u["kind"]: u for u in report["untracked"]}
    assert found["short"]["symbol"] == ETH and found["short"]["amount"] == str(short)
    assert found["spot"]["symbol"] == "ETH/USDT" and found["spot"]["pair"] == ETH
    assert report["opened"] == [] and any("do not explain" in s for s in report["skipped"])
    assert short_on_exchange(emulator) == short  # never traded by itself
    lines = [c for c in live.json("doctor", code=ExitCode.UNTRACKED) if c["name"] == "untracked"]
    assert [c["status"] for c in lines] == ["fail", "fail"]
    assert f"{short} {ETH} short" in lines[0]["detail"] and "fra adopt" in lines[0]["fix"]

    adopted = live.json("adopt", ETH)
    assert adopted["state"] == "open"
    live("run-cycle")  # nothing untracked any more: exit 0
    [position] = live.json("status")["positions"]
    assert position["symbol"] == ETH
    live("close", "1")
    assert short_on_exchange(emulator) == 0
    live("adopt", ETH, code=ExitCode.BAD_INPUT)


def test_adopt_refuses_a_short_without_its_coins(fra: Fra, emulator: BinanceEmulator) -> None:
    live = live_on(fra, emulator)
    live("run-cycle")
    held = exchange_view(emulator)("fetch_balance", {"type": "spot"})["total"]["ETH"]
    exchange_view(emulator)("create_order", "ETH/USDT", "market", "sell", float(held))
    live.db.unlink()
    Path(f"{live.db}-wal").unlink(missing_ok=True)
    live("run-cycle", code=ExitCode.UNTRACKED)
    err = assert_refused(live, ["adopt", ETH], ExitCode.REFUSED, "naked")
    assert "buy" in err


def test_a_damaged_realized_total_is_named(ready: Fra) -> None:
    ready("close", "1")
    damage(ready, "UPDATE positions SET realized_net = 'oops' WHERE id = 1")
    assert_refused(ready, ["status"], ExitCode.STATE, "realized total", "malformed number")
