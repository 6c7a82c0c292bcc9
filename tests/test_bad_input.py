"""Bad input: one line naming the problem and the fix, a documented exit code, and the state
file exactly as it was."""

from __future__ import annotations

import os
import sqlite3

import pytest
from conftest import T0, Fra, assert_refused, iso

from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"


@pytest.fixture
def ready(fra: Fra) -> Fra:
    """A state file with an open position and a snapshot, so there is something to protect."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("run-cycle")
    assert len(fra.json("status")["positions"]) == 1
    # The settled funding of every pair, which forecasts read and the state file keeps once
    # read: read it now, so that the tests below see only what the bad input would change.
    fra("rank", FRA_STRATEGY__SYMBOLS="[]", FRA_STRATEGY__MIN_VOLUME_USD="0")
    return fra


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["open", "FOO/USDT:USDT"], ["unknown symbol FOO/USDT:USDT", "fra rank"]),
        (["open", "ETH/USDT"], ["ETH/USDT is a spot market", "ETH/USDT:USDT"]),
        (["open", "1000PEPE/USDT:USDT"], ["no spot market", "1000PEPE/USDT"]),
        (["open", ETH, "--size", "0"], ["--size must be a positive"]),
        (["open", ETH, "--size", "-5"], ["--size must be a positive"]),
        (["open", ETH, "--size", "abc"], ["is not a number"]),
        (["open", ETH, "--size", "nan"], ["--size must be a positive"]),
        (["open", ETH, "--size", "9e999999"], ["not a plausible amount"]),
        (["open", "SOL/USDT:USDT", "--size", "1"], ["too small", "use --size"]),
        (["close"], ["exactly one of"]),
        (["close", "7", "--all"], ["exactly one of"]),
        (["close", "99"], ["no position with id 99"]),
        (["close", "99999999999999999999999"], ["no position with id"]),
        (["emergency-stop", "--reason", " "], ["--reason is empty"]),
        (["close", "DOGE/USDT:USDT"], ["no open position on DOGE/USDT:USDT"]),
        (["positions", "--state", "weird"], ["unknown --state"]),
    ],
)
def test_bad_arguments_exit_2_and_change_nothing(
    ready: Fra, args: list[str], words: list[str]
) -> None:
    env = {}
    if args[0] == "open" and args[1] == "SOL/USDT:USDT":
        # Make SOL otherwise eligible so the only problem is the size.
        env = {"FRA_SIM__SHOCKS": f'["SOL/USDT:USDT@{iso(T0)}:funding=0.001:hours=48"]'}
        env["FRA_STRATEGY__SYMBOLS"] = '["SOL/USDT:USDT"]'
    assert_refused(ready, args, ExitCode.BAD_INPUT, *words, **env)


def test_rank_without_snapshot_says_how_to_get_one(fra: Fra) -> None:
    fra("resume")  # a state file with no snapshot yet
    assert_refused(fra, ["rank"], ExitCode.BAD_INPUT, "no market snapshot", "fra scan")


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FRA_RISK__MAX_POSITIONS": "abc"}, ["FRA_RISK__MAX_POSITIONS='abc'", "integer"]),
        ({"FRA_RISK__LEVERAGE": "0"}, ["FRA_RISK__LEVERAGE", "greater than or equal to 1"]),
        ({"FRA_RISK__MARGIN_ALERT": "0.9"}, ["margin_alert must be below margin_critical"]),
        ({"FRA_STRATEGY__MIN_FUNDING_RATE": "lots"}, ["FRA_STRATEGY__MIN_FUNDING_RATE"]),
        ({"FRA_STRATEGY__SYMBOLS": "BTC"}, ["FRA_STRATEGY__SYMBOLS"]),
        ({"FRA_SIM__NOW": "yesterday"}, ["FRA_SIM__NOW"]),
        ({"FRA_MODE": "yolo"}, ["FRA_MODE", "paper"]),
        ({"FRA_SIM__SHOCKS": '["ETH@nope"]'}, ["FRA_SIM__SHOCKS"]),
    ],
)
def test_malformed_settings_exit_2_and_change_nothing(
    ready: Fra, env: dict[str, str], words: list[str]
) -> None:
    for command in (["run-cycle"], ["status"]):
        assert_refused(ready, command, ExitCode.BAD_INPUT, *words, **env)


def test_malformed_dotenv_is_named_too(ready: Fra) -> None:
    (ready.workdir / ".env").write_text("FRA_RISK__LEVERAGE=many\n")
    assert_refused(ready, ["status"], ExitCode.BAD_INPUT, "FRA_RISK__LEVERAGE='many'")


def test_corrupt_state_file(fra: Fra) -> None:
    fra.db.write_bytes(b"this is not a database, just some bytes " * 200)
    err = assert_refused(fra, ["status"], ExitCode.STATE, "corrupt", "backup")
    assert str(fra.db) in err
    assert_refused(fra, ["run-cycle"], ExitCode.STATE, "corrupt")


def test_sqlite_file_that_is_not_ours(fra: Fra) -> None:
    conn = sqlite3.connect(fra.db)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    assert_refused(fra, ["status"], ExitCode.STATE, "not a fra state file")


def test_state_file_from_a_newer_fra(ready: Fra) -> None:
    conn = sqlite3.connect(ready.db)
    conn.execute(
        "INSERT INTO _sqlite_migrations(migration_set, name, applied_at)"
        " VALUES ('fra', 'm999_from_the_future', '2030-01-01')"
    )
    conn.commit()
    conn.close()
    for command in (["status"], ["run-cycle"], ["open", ETH]):
        assert_refused(ready, command, ExitCode.STATE, "newer fra", "m999_from_the_future")


def test_state_path_is_a_directory(fra: Fra) -> None:
    fra.db.mkdir()
    fra("status", code=ExitCode.STATE)


def test_state_directory_missing(fra: Fra) -> None:
    result = fra("status", code=ExitCode.STATE, FRA_DB=str(fra.workdir / "nope" / "state.db"))
    assert "does not exist" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_state_file(ready: Fra) -> None:
    ready.db.chmod(0)
    try:
        assert_refused(ready, ["status"], ExitCode.STATE, "not readable", "chmod")
    finally:
        ready.db.chmod(0o644)


def test_truncated_state_file(ready: Fra) -> None:
    data = ready.db.read_bytes()
    ready.db.write_bytes(data[:50])
    assert_refused(ready, ["status"], ExitCode.STATE, "corrupt")


def test_size_whose_legs_cannot_match_within_tolerance(ready: Fra) -> None:
    # ARB: perp step 10 coins, spot step 1; at $6 the fee top-up is a whole extra coin.
    arb = "ARB/USDT:USDT"
    env = {
        "FRA_SIM__SHOCKS": f'["{arb}@{iso(T0)}:funding=0.001:hours=48"]',
        "FRA_STRATEGY__SYMBOLS": f'["{arb}"]',
        "FRA_STRATEGY__MIN_VOLUME_USD": "0",
    }
    args = ["open", arb, "--size", "6"]
    assert_refused(
        ready, args, ExitCode.BAD_INPUT, "legs differ by", "FRA_RISK__DELTA_TOLERANCE", **env
    )


def test_bad_input_on_a_new_state_path_creates_no_state_file(fra: Fra) -> None:
    fresh = fra.workdir / "fresh.db"
    fra("--db", str(fresh), "open", "FOO/USDT:USDT", code=ExitCode.BAD_INPUT)
    fra("--db", str(fresh), "open", "BTC/USDT:USDT", "--size", "0", code=ExitCode.BAD_INPUT)
    fra("--db", str(fresh), "rank", code=ExitCode.BAD_INPUT)  # no snapshot yet
    fra("--db", str(fresh), "open", ETH, "--size", "500", code=ExitCode.REFUSED)
    # The log (which records the error) and the lock file may stay; no state file does.
    for suffix in ("", "-wal", "-shm"):
        assert not (fra.workdir / f"fresh.db{suffix}").exists()
