"""fra history import: how a file's rows meet those already stored (identical, completed,
contradicting), and its progress on a terminal only."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest
from conftest import Fra
from test_history_import import BARS, FUNDING, history_hash, stored, write

from fra.errors import ExitCode

# FUNDING's three settlements, one with another rate, and one more settlement.
OVERLAP = FUNDING.replace("0.00012", "0.0002") + "binance,BTCUSDT,1672588800000,0.0001,8,\n"


def test_reimporting_counts_every_row_as_already_stored(fra: Fra) -> None:
    path = write(fra, "funding.csv", FUNDING)
    first = fra.json("history", "import", str(path))
    assert (first["new"], first["already_stored"]) == (3, 0)
    again = fra.json("history", "import", str(path))
    assert (again["new"], again["already_stored"], again["unchanged"]) == (0, 3, 3)
    assert (again["completed"], again["replaced"]) == (0, 0)
    line = fra("history", "import", str(path)).stdout
    assert "0 new, 3 already stored (3 identical, 0 completed, 0 replaced)" in line


def test_a_first_import_says_nothing_was_stored_before(fra: Fra) -> None:
    line = fra("history", "import", str(write(fra, "funding.csv", FUNDING))).stdout
    assert ": 3 new, 0 already stored -> " in line and "identical" not in line


def test_an_overlapping_file_with_a_differing_row_is_refused_then_replaced(fra: Fra) -> None:
    fra("history", "import", str(write(fra, "a.csv", FUNDING)))
    before = history_hash(fra)
    path = write(fra, "b.csv", OVERLAP)
    result = fra("history", "import", str(path), code=ExitCode.BAD_INPUT)
    err = result.stderr.strip()
    assert err.startswith("error: 1 row differs from stored ones; the first: BTC/USDT:USDT")
    assert "stored rate 0.00012" in err and "give --replace to overwrite it" in err
    assert "\n" not in err
    assert history_hash(fra) == before, "a refused import changed history.db"

    done = fra.json("history", "import", str(path), "--replace")
    assert (done["new"], done["already_stored"]) == (1, 3)
    assert (done["unchanged"], done["completed"], done["replaced"]) == (2, 0, 1)
    rates = stored(fra, "SELECT time_ms, rate FROM funding WHERE symbol = 'BTC/USDT:USDT'")
    assert rates == [
        (1672531200000, "0.0001"),
        (1672560000000, "0.0002"),
        (1672588800000, "0.0001"),
    ]
    # Imported again the file is all stored, and the replaced row is one of them.
    line = fra("history", "import", str(path), "--replace").stdout
    assert "0 new, 4 already stored (4 identical, 0 completed, 0 replaced)" in line


def test_every_contradicting_row_is_counted_not_just_the_first(fra: Fra) -> None:
    fra("history", "import", str(write(fra, "a.csv", FUNDING)))
    both = FUNDING.replace("0.00012", "0.0002").replace("-0.00003", "0.00003")
    result = fra("history", "import", str(write(fra, "b.csv", both)), code=ExitCode.BAD_INPUT)
    assert "2 rows differ from stored ones" in result.stderr
    assert "overwrite them" in result.stderr


def test_a_differing_bar_is_counted_like_a_settlement(fra: Fra) -> None:
    fra("history", "import", str(write(fra, "bars.csv", BARS)))
    changed = write(fra, "bars2.csv", BARS.replace("16550,1200.5", "16560,1200.5"))
    result = fra("history", "import", str(changed), code=ExitCode.BAD_INPUT)
    assert "1 row differs from stored ones; the first: BTC/USDT:USDT bar at" in result.stderr
    done = fra.json("history", "import", str(changed), "--replace")
    assert (done["new"], done["already_stored"], done["replaced"], done["unchanged"]) == (
        0,
        2,
        1,
        1,
    )


# -- progress ---------------------------------------------------------------------------------

ROWS = 12_000  # more than one progress report's worth


def big_file(fra: Fra) -> str:
    start = 1672531200000
    lines = [f"binance,BTCUSDT,{start + i * 28_800_000},0.0001,8," for i in range(ROWS)]
    text = "exchange,symbol,funding_time_ms,funding_rate,interval_hours,mark_price\n"
    return str(write(fra, "big.csv", text + "\n".join(lines) + "\n"))


def run_on_terminal(fra: Fra, *args: str) -> tuple[str, str]:
    """`fra` in a real process with stderr on a pseudo-terminal and stdout on a pipe, as a
    person running `fra ... | less` would: (what the terminal got, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fra", *args],
        cwd=fra.workdir,
        env=fra.process_env({"TERM": "xterm", "COLUMNS": "100"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal's last handle
            break
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, terminal.decode(errors="replace")
    return terminal.decode(errors="replace"), out.decode()


def test_progress_shows_on_a_terminal(fra: Fra) -> None:
    terminal, out = run_on_terminal(fra, "history", "import", big_file(fra))
    assert "reading big.csv" in terminal and f"{ROWS:,} rows" in terminal
    # Part-way through: 5,000 rows read, and the share of the file's bytes they took.
    assert "5,000 rows" in terminal and re.search(r" [1-9]\d%", terminal), terminal
    assert "storing big.csv" in terminal
    # The summary is on stdout, and none of the bar is.
    assert f"big.csv: {ROWS} funding rows" in out and "reading" not in out


def test_no_progress_on_a_pipe_nor_with_json(fra: Fra) -> None:
    path = big_file(fra)
    piped = fra.spawn("history", "import", path)
    out, err = piped.communicate(timeout=120)
    assert piped.returncode == 0 and err == ""
    assert f"big.csv: {ROWS} funding rows" in out
    terminal, out = run_on_terminal(fra, "history", "import", path, "--json")
    assert "reading" not in terminal and "rows" not in terminal
    assert '"already_stored": 12000' in out


@pytest.mark.parametrize("suffix", [".gz", ".zip"])
def test_progress_counts_the_rows_of_a_compressed_file(fra: Fra, suffix: str) -> None:
    import gzip
    import zipfile
    from pathlib import Path

    plain = Path(big_file(fra))
    packed = fra.workdir / f"BTCUSDT-big.csv{suffix}"
    if suffix == ".gz":
        packed.write_bytes(gzip.compress(plain.read_bytes()))
    else:
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("big.csv", plain.read_text())
    terminal, out = run_on_terminal(fra, "history", "import", str(packed))
    assert f"{ROWS:,} rows" in terminal and "100%" in terminal
    assert f"{ROWS} funding rows" in out
