"""Every table fits the width it is shown at (`COLUMNS`, as a terminal sets it): the least
useful columns are left out, with a note naming them, long text wraps within its column, and
`--wide` shows every column. Output with no width to go by (a pipe) keeps every column."""

from __future__ import annotations

import socket

import pytest
from conftest import T0, Fra, iso
from rich.cells import cell_len

ETH = "ETH/USDT:USDT"
SWEEP = ["--exchange", "sim", "--from", "2025-03-01", "--to", "2025-03-05"]
SWEEP += ["--symbols", "BTCUSDT,SOL/USDT:USDT"]

# Each command with a table, how to get a populated one, and the columns that must stay at 80.
COMMANDS: dict[str, tuple[list[str], set[str]]] = {
    "rank": (["rank"], {"#", "Perpetual", "Forecast", "Net", "Action"}),
    "status": (["status"], {"ID", "Perpetual", "State", "Funding", "Net P&L"}),
    "positions": (["positions"], {"ID", "Perpetual", "State", "Funding", "Net P&L", "Reason"}),
    "margin-check": (["margin-check"], {"ID", "Perpetual", "Ratio", "Level"}),
    "doctor": (["doctor"], {"Check", "Status", "Detail", "Fix"}),
    "config": (["config"], {"File", "Path", "Variable", "Value", "Source"}),
    "notify log": (["notify", "log"], {"Id", "Time (UTC)", "Level", "Title", "Delivery"}),
    "history list": (["history", "list"], {"Symbol", "Kind", "From", "To"}),
    "backtest": (
        ["backtest", *SWEEP],
        {"", "Net/yr", "Sharpe", "Max DD", "Trades", "Symbol", "Net P&L"},
    ),
    "backtest --sweep": (
        ["backtest", *SWEEP, "--sweep", "--grid", "min_rate=0.0001,0.0005"],
        {"", "min_rate", "Net/yr", "Max DD"},
    ),
}


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def busy(fra: Fra) -> Fra:
    """A state file with an open and a closed position, a failed notification (its delivery's
    error is long text), a world-readable .env holding a key (doctor's long warning) and a
    history file."""
    url = f"json://127.0.0.1:{dead_port()}/hook"
    hot = [f"{p}@{iso(T0)}:funding=0.0008:hours=48" for p in (ETH, "SOL/USDT:USDT")]
    fra.set(FRA_NOTIFY__URLS=[url]).shocks(*hot)
    fra("run-cycle")  # opens both
    fra.advance(hours=9)("close", ETH)
    env = fra.workdir / ".env"
    env.write_text("FRA_API_KEY=abc\nFRA_API_SECRET=def\n")
    env.chmod(0o644)
    (fra.workdir / "f.csv").write_text(
        "exchange,symbol,funding_time_ms,funding_rate,interval_hours\n"
        "binance,BTCUSDT,1672531200000,0.0001,8\nbinance,BTCUSDT,1672560000000,0.0001,8\n"
    )
    fra("history", "import", "f.csv")
    return fra


def run(fra: Fra, args: list[str], columns: str, *more: str) -> list[str]:
    # doctor exits 0 or 2 depending on the checks; the table is what is under test here.
    out = fra(*args, *more, code=None, COLUMNS=columns)
    assert out.exit_code in (0, 2), out.stderr
    return out.stdout.splitlines()


def headers(lines: list[str]) -> list[set[str]]:
    """Each table's column names, from its header rows (┃ name ┃ name ┃)."""
    return [
        {name.strip() for name in text.strip().strip("┃").split("┃")}
        for text in lines
        if text.startswith("┃")
    ]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_table_fits_80_and_120_columns_and_wide_shows_all(busy: Fra, name: str) -> None:
    args, important = COMMANDS[name]
    full = run(busy, args, "")  # the fixture runs fra in the workdir: doctor reads its .env
    everything = headers(full)
    assert everything, f"fra {name} printed no table:\n" + "\n".join(full)
    for width in (80, 120):
        lines = run(busy, args, str(width))
        too_wide = [t for t in lines if cell_len(t) > width]
        assert not too_wide, f"fra {name} at {width} columns:\n" + "\n".join(lines)
        shown = headers(lines)
        assert len(shown) == len(everything)
        assert important <= shown[0] | shown[-1], (important, shown)
        left_out = [a - b for a, b in zip(everything, shown, strict=True)]
        notes = " ".join(" ".join(lines[i : i + 2]) for i, t in enumerate(lines) if "left out" in t)
        if any(left_out):
            # The note names what is missing and how to see it.
            assert "--wide shows them" in notes
            assert all(c in notes for missing in left_out for c in missing), notes
        else:
            assert not notes
        # --wide: every column, as a pipe shows them.
        assert headers(run(busy, args, str(width), "--wide")) == everything


def test_narrow_tables_leave_out_the_least_useful_columns_and_wrap_text(busy: Fra) -> None:
    rank = run(busy, ["rank"], "80")
    # All 29 perpetuals are still listed; the columns that explain the forecast went first.
    assert sum(1 for t in rank if t.startswith("│ ") and t[2:4].strip().isdigit()) == 29
    assert headers(rank)[0] == {"#", "Perpetual", "Forecast", "Net", "Action"}
    # Doctor's warning wraps inside its column: its words are all there, over two lines.
    doctor = run(busy, ["doctor"], "80")
    detail = " ".join(t.split("│")[3].strip() for t in doctor if t.startswith("│"))
    assert ".env holds the API key and others may read it" in " ".join(detail.split())
    assert len(doctor) > len(run(busy, ["doctor"], ""))
    # At 120 columns positions keep more than at 80.
    wide, narrow = (headers(run(busy, ["positions"], w))[1] for w in ("120", "80"))
    assert narrow < wide


def test_a_pipe_without_columns_gets_the_full_table_unchanged(busy: Fra) -> None:
    for args in (["status"], ["positions"], ["rank"]):
        piped = busy(*args, COLUMNS="").stdout
        assert piped == busy(*args, "--wide", COLUMNS="").stdout
        assert "left out to fit" not in piped
        # Lines are not wrapped either: one row per position or pair.
        assert not any(t.startswith("│ ") and t[2:4].strip() == "" for t in piped.splitlines())


def test_wide_leaves_json_alone(busy: Fra) -> None:
    assert busy.json("positions", "--wide") == busy.json("positions")
