"""Input that is well-formed but out of bounds, or carries control characters: refused with one
line and exit 2, the state file and history.db exactly as they were; or, where refusing would
do harm (the reason of an emergency stop), cleaned."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0, Fra, iso

from fra.core.text import REASON_MAX
from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"
FUNDING = (
    "exchange,symbol,funding_time_ms,funding_rate,interval_hours,mark_price\n"
    "binance,BTCUSDT,1672531200000,0.0001,8,16500.5\n"
)
BARS = (
    "exchange,symbol,market,open_time_ms,open,high,low,close,volume\n"
    "binance,BTCUSDT,perp,1672531200000,16500,16600,16400,16550,1200.5\n"
)


def digest(path: Path) -> str | None:
    """Hash of a SQLite file's bytes with its WAL; None when there is no such file."""
    if not path.exists():
        return None
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        part = Path(str(path) + suffix)
        if part.exists():
            h.update(part.read_bytes())
    return h.hexdigest()


def both(fra: Fra) -> tuple[str | None, str | None]:
    return digest(fra.db), digest(fra.workdir / "history.db")


def refused(fra: Fra, args: list[str], *words: str, **env: str) -> str:
    """Exit 2 with one line naming the problem, and neither file touched."""
    before = both(fra)
    result = fra(*args, code=ExitCode.BAD_INPUT, **env)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert both(fra) == before, "a file changed"
    return err


def write(fra: Fra, name: str, text: str) -> Path:
    path = fra.workdir / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def held(fra: Fra) -> Fra:
    """A state file holding a position and a history.db holding rows: something to protect."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("run-cycle")
    assert len(fra.json("status")["positions"]) == 1
    fra("history", "import", str(write(fra, "good.csv", FUNDING)))
    fra("history", "import", str(write(fra, "bars.csv", BARS)))
    assert all(both(fra))
    return fra


# -- periods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        # The case: the simulated market would compute millennia of bars.
        (["--from", "0001-01-01", "--to", "9999-12-31"], ["--from 0001-01-01", "2016-01-01"]),
        (["--exchange", "sim", "--from", "0001-01-01", "--to", "9999-12-31"], ["--from"]),
        (["--exchange", "sim", "--from", "2025-01-01", "--to", "9999-12-31"],
         ["--to 9999-12-31 is in the future", "2026-03-02 or earlier"]),
        (["--from", "2015-12-31", "--to", "2017-01-01"], ["perpetual swaps", "2016-01-01"]),
        (["--sweep", "--train", "0001-01-01..2020-01-01"], ["--train 0001-01-01..2020-01-01"]),
        (["--sweep", "--train", "2020-01-01..2021-01-01", "--test", "2021-01-01..9999-01-01"],
         ["--test 2021-01-01..9999-01-01 is in the future"]),
        (["--sweep", "--from", "2010-01-01", "--to", "2021-01-01"], ["--from 2010-01-01"]),
        (["--sweep", "--workers", "100000", "--from", "2020-01-01", "--to", "2021-01-01"],
         ["--workers 100000", "at most 256"]),
        (["--sweep", "--from", "2023-01-01", "--to", "2023-01-02",
          "--grid", "min_rate=" + ",".join(f"0.000{i}" for i in range(1, 10)),
          "--grid", "leverage=" + ",".join(str(i) for i in range(1, 21)),
          "--grid", "holding_periods=" + ",".join(str(i) for i in range(1, 61))],
         ["10,800 combinations", "more than 10,000"]),
        (["--exchange", "sim", "--symbols", "BTC\x1bUSDT", "--from", "2025-01-01",
          "--to", "2025-01-02"], ["control character", "\\x1b"]),
    ],
)  # fmt: skip
def test_backtest_periods_are_bounded_like_history_fetch(
    held: Fra, args: list[str], words: list[str]
) -> None:
    refused(held, ["backtest", *args], *words)


def test_history_fetch_refuses_control_characters_in_symbols(held: Fra) -> None:
    args = ["history", "fetch", "--exchange", "sim", "--since", "2026-02-27"]
    refused(held, [*args, "--symbols", "BTCUSDT,ETH\u202eUSDT"], "control character", "\\u202e")
    refused(held, [*args, "--since", "0001-01-01"], "before any exchange had perpetual swaps")


# -- history import -----------------------------------------------------------------------------

HEADER = "exchange,symbol,funding_time_ms,funding_rate,interval_hours,mark_price\n"
ROW = "binance,ETHUSDT,1672531200000,0.0001,8,1200\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HEADER + ROW + ROW.replace("0.0001", "1e400").replace("167253", "167256"),
         ["line 3", "funding_rate '1e400'", "±1 per interval"]),
        (HEADER + ROW.replace("0.0001", "-1.0001"), ["line 2", "'-1.0001'", "±1"]),
        (HEADER + ROW.replace(",1200", ",1e400"), ["line 2", "mark_price '1e400'", "1e9"]),
        (HEADER + ROW.replace(",1200", ",1e-13"), ["line 2", "mark_price", "1e-12"]),
        (HEADER + ROW.replace(",8,", ",25,"), ["line 2", "interval_hours '25'", "1 to 24"]),
        (HEADER + ROW.replace("ETHUSDT", "ETH\x00USDT"),
         ["line 2", "symbol 'ETH\\x00USDT'", "control character"]),
        (HEADER + ROW.replace("binance", "bin\u202eance"), ["line 2", "exchange", "\\u202e"]),
        (HEADER + ROW.replace("binance", " "), ["line 2", "exchange '' is empty"]),
        (HEADER + ROW.replace("ETHUSDT", "ETH" * 30 + "USDT"), ["line 2", "64 characters"]),
        (BARS + BARS.splitlines()[1].replace("16600", "1e400") + "\n",
         ["line 3", "high '1e400'", "not a price"]),
        (BARS.replace("16400", "0.0000000000001"), ["line 2", "low", "1e-12"]),
        (BARS.replace("1200.5", "-1"), ["line 2", "volume '-1'"]),
        (BARS.replace("1200.5", "1e21"), ["line 2", "volume '1e21'", "1e20"]),
        (BARS.replace("BTCUSDT", "BTC\x7fUSDT"), ["line 2", "\\x7f"]),
    ],
)  # fmt: skip
def test_history_import_bounds_magnitudes_and_names(held: Fra, text: str, words: list[str]) -> None:
    refused(held, ["history", "import", str(write(held, "bad.csv", text))], *words)


def test_history_import_options_refuse_control_characters(held: Fra) -> None:
    archive = write(held, "x.csv", "calc_time,funding_interval_hours,last_funding_rate\n"
                    "1672531200000,8,0.0001\n")  # fmt: skip
    refused(held, ["history", "import", str(archive), "--symbol", "SOL\x1bUSDT"], "\\x1b")
    refused(held, ["history", "import", str(archive), "--symbol", "SOLUSDT",
                   "--exchange", "bin\x07ance"], "--exchange", "\\x07")  # fmt: skip


def test_rates_and_prices_at_the_bounds_are_accepted(fra: Fra) -> None:
    text = (
        HEADER
        + ROW.replace("0.0001", "-1").replace(",1200", ",1e-12")
        + ROW.replace("0.0001", "1").replace(",1200", ",1e9").replace("167253", "167256")
    )
    done = fra.json("history", "import", str(write(fra, "edge.csv", text)))
    assert done["new"] == 2


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", ["FRA_VENUE_URL='file:///etc/passwd'", "http or https"]),
        ("http://[::1", ["FRA_VENUE_URL", "not a URL", "IPv6"]),
        ("NaN", ["FRA_VENUE_URL='NaN'", "http or https"]),
        ("http://127.0.0.1:99999", ["Port out of range"]),
        ("http://key:secret@127.0.0.1:8765", ["user name or password"]),
        ("http://127.0.0.1:8765/?x=1", ["?query"]),
        ("http://127.0.0.1:8765/a b", ["spaces or control characters"]),
    ],
)
def test_venue_url_must_be_an_http_address(held: Fra, url: str, words: list[str]) -> None:
    # Checked with the settings, before anything: a state file of either venue is left alone,
    # and history fetch creates no history.db.
    for command in (["status"], ["run-cycle"]):
        refused(held, command, *words, FRA_VENUE_URL=url)
    held.db.rename(held.workdir / "aside.db")
    (held.workdir / "history.db").rename(held.workdir / "aside-history.db")
    refused(held, ["scan"], *words, FRA_VENUE="binance", FRA_VENUE_URL=url)
    refused(held, ["history", "fetch", "--since", "2026-02-27"], *words, FRA_VENUE_URL=url)
    assert both(held) == (None, None)


def test_an_empty_venue_url_means_unset(fra: Fra) -> None:
    assert fra.json("config", FRA_VENUE_URL="")["venue_url"] is None
    shown = fra.json("config", FRA_VENUE_URL="http://127.0.0.1:8765/")
    assert shown["venue_url"] == "http://127.0.0.1:8765/"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FRA_SIM__NOW": "-1"}, ["FRA_SIM__NOW='-1'", "1969-12-31", "between 2015 and 2100"]),
        ({"FRA_SIM__NOW": "2014-12-31T23:59:59Z"}, ["FRA_SIM__NOW", "2014-12-31"]),
        ({"FRA_SIM__NOW": "2100-01-01T00:00:00Z"}, ["FRA_SIM__NOW", "2100"]),
        ({"FRA_SIM__SHOCKS": '["ETH/USDT:USDT@1970-01-01T00:00:00Z:price=+5%"]'},
         ["FRA_SIM__SHOCKS", "1970-01-01", "between 2015 and 2100"]),
        ({"FRA_SIM__SHOCKS": f'["{ETH}@{iso(T0)}:price=+1e300%"]'}, ["FRA_SIM__SHOCKS", "+1000 %"]),
        ({"FRA_SIM__SHOCKS": f'["{ETH}@{iso(T0)}:funding=0.001:hours=8761"]'}, ["a year"]),
        ({"FRA_STRATEGY__MIN_FUNDING_RATE": "1e400"}, ["FRA_STRATEGY__MIN_FUNDING_RATE"]),
        ({"FRA_STRATEGY__STOP_FUNDING_RATE": "-2"}, ["FRA_STRATEGY__STOP_FUNDING_RATE"]),
        ({"FRA_PAPER__STARTING_BALANCE": "1e400"}, ["FRA_PAPER__STARTING_BALANCE"]),
        ({"FRA_BACKTEST__CAPITAL": "1e400"}, ["FRA_BACKTEST__CAPITAL"]),
    ],
)  # fmt: skip
def test_times_and_magnitudes_in_settings_are_bounded(
    held: Fra, env: dict[str, str], words: list[str]
) -> None:
    for command in (["status"], ["run-cycle"], ["close", "--all"]):
        refused(held, command, *words, **env)


def test_a_sim_time_without_a_zone_is_utc_whatever_the_machines_zone(fra: Fra) -> None:
    process = fra.spawn("scan", FRA_SIM__NOW="2026-03-01T00:00:00", TZ="Asia/Tokyo")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert fra.query("SELECT taken_ms FROM snapshots") == [(int(T0.timestamp() * 1000),)]


def test_a_clock_behind_the_state_file_is_warned_about(held: Fra) -> None:
    def status_stderr() -> str:
        # A process of its own, as cron runs it: status sets up no log handlers of its own.
        process = held.spawn("status")
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        return err

    held.advance(hours=1)
    assert "earlier than" not in status_stderr()
    held.at(T0 - timedelta(days=30))
    err = status_stderr()
    assert (
        "the simulated clock (2026-01-30 00:00:00 UTC) is earlier than the latest time the"
        " state file holds (2026-03-01 00:00:00 UTC)"
    ) in err


def test_a_sped_up_clock_that_ran_past_2100_is_refused(held: Fra) -> None:
    conn = sqlite3.connect(held.db)
    with conn:
        conn.execute("UPDATE meta SET value = '1577836800000' WHERE key = 'created_ms'")  # 2020
    conn.close()
    # A state file made in 2020 and run since at 100,000x: the clock reads some 700,000 years on.
    env = {"FRA_SIM__NOW": "", "FRA_SIM__SPEEDUP": "100000"}
    for command in (["status"], ["run-cycle"]):
        refused(held, command, "run past 2100", "FRA_SIM__SPEEDUP", **env)
    # Pinned as well (the README's demo, looked at years of wall time later): reading the file at
    # the pinned time needs only the speed-up unset.
    env["FRA_SIM__NOW"] = "2026-03-01T00:00:00Z"
    err = refused(held, ["status"], "run past 2100", "from FRA_SIM__NOW", **env)
    assert "unset FRA_SIM__SPEEDUP to read this file at FRA_SIM__NOW" in err
    held("status", FRA_SIM__SPEEDUP="1")


# -- free text ----------------------------------------------------------------------------------


def test_emergency_stop_reason_is_stored_as_one_clean_line(held: Fra) -> None:
    reason = "exchange\x00 incident\x1b[2J\u202egnitirw\nsecond line\udcff end"
    result = held("emergency-stop", "--reason", reason)
    stored = held.query("SELECT value FROM meta WHERE key = 'halt_reason'")[0][0]
    assert stored == "exchange incident [2J gnitirw second line end"
    assert f"HALTED: {stored}\n" in result.stdout
    assert held.json("status")["halt_reason"] == stored
    assert held.query("SELECT close_reason FROM positions WHERE id = 1")[0][0].endswith(stored)


def test_emergency_stop_reason_is_capped(held: Fra) -> None:
    held("emergency-stop", "--reason", "word " * 20_000)
    stored = held.query("SELECT value FROM meta WHERE key = 'halt_reason'")[0][0]
    assert len(stored) == REASON_MAX and stored.endswith("word…")


def test_emergency_stop_reason_of_only_control_characters_is_refused(held: Fra) -> None:
    refused(held, ["emergency-stop", "--reason", "\x1b\x07\u202e\n"], "--reason is empty")
    assert held.json("status")["halted"] is False


def test_an_error_quoting_typed_text_stays_one_visible_line(held: Fra) -> None:
    err = refused(held, ["close", "FOO\x1b[31m\nBAR"], "no open position on FOO\\x1b[31m\\nBAR")
    assert "\x1b" not in err


def test_status_json_says_simulated_for_a_simulated_file_without_fra_venue(held: Fra) -> None:
    del held.env["FRA_VENUE"]
    data = held.json("status")
    assert (data["simulated"], data["venue"]) == (True, "SIMULATED")
