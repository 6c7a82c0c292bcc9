"""fra history import: the three CSV formats, idempotence, and every kind of bad file."""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import Fra

from fra.errors import ExitCode

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FUNDING = (
    "exchange,symbol,funding_time_ms,funding_rate,interval_hours,mark_price\n"
    "binance,BTCUSDT,1672531200001,0.0001,8,16500.5\n"
    "binance,BTCUSDT,1672560000000,0.00012,8,\n"
    "binance,ETHUSDT,1672531200000,-0.00003,,\n"
)
BARS = (
    "exchange,symbol,market,open_time_ms,open,high,low,close,volume\n"
    "binance,BTCUSDT,perp,1672531200000,16500,16600,16400,16550,1200.5\n"
    "binance,BTCUSDT,spot,1672531200000,16490,16590,16390,16540,900\n"
)
ARCHIVE = "calc_time,funding_interval_hours,last_funding_rate\n1672531200000,8,0.00010000\n"


def history_hash(fra: Fra) -> str:
    path = fra.workdir / "history.db"
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        p = Path(str(path) + suffix)
        if p.exists():
            digest.update(p.read_bytes())
    return digest.hexdigest()


def stored(fra: Fra, sql: str) -> list[tuple]:
    conn = sqlite3.connect(fra.workdir / "history.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def write(fra: Fra, name: str, text: str) -> Path:
    path = fra.workdir / name
    path.write_text(text)
    return path


def test_funding_file_is_stored_in_unified_symbols_and_reimport_changes_nothing(fra: Fra) -> None:
    path = write(fra, "funding.csv", FUNDING)
    first = fra.json("history", "import", str(path))
    assert first["format"] == "funding" and first["new"] == 3
    assert first["symbols"] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    rows = stored(fra, "SELECT symbol, time_ms, rate, interval_hours, mark_price FROM funding")
    # The ms jitter of the settlement time is rounded off; the rate kept exactly as written.
    assert ("BTC/USDT:USDT", 1672531200000, "0.0001", 8, "16500.5") in rows
    assert ("ETH/USDT:USDT", 1672531200000, "-0.00003", None, None) in rows

    before = history_hash(fra)
    again = fra.json("history", "import", str(path))
    assert (again["new"], again["unchanged"]) == (0, 3)
    assert history_hash(fra) == before, "re-importing the same file changed history.db"


def test_bars_and_a_binance_archive_zip(fra: Fra) -> None:
    bars = fra.json("history", "import", str(write(fra, "bars.csv", BARS)))
    assert bars["format"] == "bars" and bars["symbols"] == ["BTC/USDT", "BTC/USDT:USDT"]
    archive = fra.workdir / "SOLUSDT-fundingRate-2023-01.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("SOLUSDT-fundingRate-2023-01.csv", ARCHIVE)
    done = fra.json("history", "import", str(archive))
    assert done["format"] == "binance-archive" and done["symbols"] == ["SOL/USDT:USDT"]
    assert stored(fra, "SELECT rate FROM funding WHERE symbol = 'SOL/USDT:USDT'") == [
        ("0.00010000",)
    ]
    listing = fra.json("history", "list")
    assert {(r["symbol"], r["kind"]) for r in listing} == {
        ("SOL/USDT:USDT", "funding"),
        ("BTC/USDT", "bars"),
        ("BTC/USDT:USDT", "bars"),
    }


def test_duplicated_and_unsorted_rows_are_merged_and_sorted(fra: Fra) -> None:
    # The same settlement twice, one copy with the mark price; rows out of order.
    text = (
        "exchange,symbol,funding_time_ms,funding_rate,interval_hours,mark_price\n"
        "binance,BTCUSDT,1672560000000,0.00012,8,\n"
        "binance,BTCUSDT,1672531200000,0.0001,8,\n"
        "binance,BTCUSDT,1672531200002,0.0001,,16500.5\n"
    )
    done = fra.json("history", "import", str(write(fra, "dup.csv", text)))
    assert done["rows"] == 2
    assert stored(fra, "SELECT time_ms, interval_hours, mark_price FROM funding") == [
        (1672531200000, 8, "16500.5"),
        (1672560000000, 8, None),
    ]


def test_a_file_that_adds_mark_prices_completes_stored_rows(fra: Fra) -> None:
    fra("history", "import", str(write(fra, "a.csv", FUNDING)))
    more = FUNDING.replace("0.00012,8,", "0.00012,8,16600")
    done = fra.json("history", "import", str(write(fra, "b.csv", more)))
    assert (done["completed"], done["unchanged"]) == (1, 2)


BAD = [
    ("empty.csv", "", ["empty.csv is empty"]),
    ("header.csv", "exchange,symbol,funding_time_ms,funding_rate\n", ["has a header but no rows"]),
    ("what.csv", "a,b,c\n1,2,3\n", ["unknown format", "funding_time_ms"]),
    ("cols.csv", "exchange,symbol,funding_time_ms\nbinance,BTCUSDT,1\n",
     ["lacks column", "funding_rate"]),
    ("bars.csv", "exchange,symbol,market,open_time_ms,open,high,low,close\n",
     ["lacks column", "volume"]),
    ("rate.csv", FUNDING.replace("0.00012", "lots"), ["line 3", "funding_rate 'lots'"]),
    ("time.csv", FUNDING.replace("1672560000000", "2023-01-01"), ["line 3", "epoch milliseconds"]),
    ("secs.csv", FUNDING.replace("1672560000000", "1672560000"), ["line 3", "2000-2100"]),
    ("short.csv", FUNDING + "binance,BTCUSDT\n", ["line 5", "2 fields"]),
    ("sym.csv", FUNDING.replace("ETHUSDT", "ETHBTCX"), ["ETHBTCX", "unified form"]),
    ("conflict.csv", FUNDING + "binance,BTCUSDT,1672560000000,0.0009,8,\n", ["line 5", "line 3"]),
    ("hilo.csv", BARS.replace("16600,16400", "16400,16600"), ["high/low"]),
    ("market.csv", BARS.replace(",spot,", ",margin,"), ["neither spot nor perp"]),
    ("noname.csv", ARCHIVE, ["names no symbol", "--symbol"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_refused_and_change_nothing(
    fra: Fra, name: str, text: str, words: list[str]
) -> None:
    fra("history", "import", str(write(fra, "good.csv", FUNDING)))
    before = history_hash(fra)
    result = fra("history", "import", str(write(fra, name, text)), code=ExitCode.BAD_INPUT)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert history_hash(fra) == before


def test_a_bad_file_creates_no_history_file(fra: Fra) -> None:
    fra("history", "import", str(write(fra, "x.csv", "a,b\n")), code=ExitCode.BAD_INPUT)
    fra("history", "import", str(fra.workdir / "missing.csv"), code=ExitCode.BAD_INPUT)
    gz = fra.workdir / "broken.csv.gz"
    gz.write_bytes(b"not gzip at all")
    fra("history", "import", str(gz), code=ExitCode.BAD_INPUT)
    assert not (fra.workdir / "history.db").exists()


def test_a_contradicting_file_needs_replace(fra: Fra) -> None:
    fra("history", "import", str(write(fra, "a.csv", FUNDING)))
    before = history_hash(fra)
    changed = write(fra, "b.csv", FUNDING.replace("0.00012", "0.0002"))
    result = fra("history", "import", str(changed), code=ExitCode.BAD_INPUT)
    assert "stored rate 0.00012" in result.stderr and "--replace" in result.stderr
    assert history_hash(fra) == before
    done = fra.json("history", "import", str(changed), "--replace")
    assert done["replaced"] == 1
    assert ("0.0002",) in stored(fra, "SELECT rate FROM funding")


def test_the_state_file_is_not_a_history_file(fra: Fra) -> None:
    fra("resume")  # creates state.db
    before = fra.fingerprint()
    result = fra(
        "history", "import", str(write(fra, "a.csv", FUNDING)),
        code=ExitCode.STATE, FRA_HISTORY_DB=str(fra.db),
    )  # fmt: skip
    assert "not a fra history file" in result.stderr
    assert fra.fingerprint() == before


@pytest.mark.skipif(not (DATA / "funding.csv.gz").exists(), reason="shared/data absent")
def test_real_funding_history_imports_with_its_known_facts(fra: Fra) -> None:
    done = fra.json("history", "import", str(DATA / "funding.csv.gz"))
    # Two sources overlap on Binance in 2025-26 and agree: merged, not doubled.
    assert done["rows"] < 190_434 and done["replaced"] == 0
    rates = sorted(
        Decimal(r[0])
        for r in stored(
            fra,
            "SELECT rate FROM funding WHERE exchange = 'binance' AND symbol = 'BTC/USDT:USDT'"
            " AND time_ms < 1772000000000",
        )
    )
    assert rates[len(rates) // 2] == Decimal("0.0001")  # BTCUSDT's median, exactly
