"""The CLI's habits (issue 13): version, help, completion, JSON everywhere, one symbol form,
warnings about stale or short data, and a Ctrl-C that says what it does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from conftest import T0, Fra, assert_refused, iso

from fra import __version__
from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
HOT = [f"{sym}@{iso(T0)}:funding=0.0008:hours=48" for sym in (ETH, SOL)]


def run(fra: Fra, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """`python -m fra ARGS` in a process of its own: the fast path in fra.cli is what runs."""
    return subprocess.run(
        [sys.executable, "-m", "fra", *args],
        cwd=fra.workdir,
        env={**fra.full_env(), "PATH": "/usr/bin:/bin", "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- version, help, completion ---------------------------------------------------------------


@pytest.mark.parametrize("args", [["--version"], ["--db", "other.db", "--version"]])
def test_version(fra: Fra, args: list[str]) -> None:
    proc = run(fra, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"fra {__version__}\n"
    assert not (fra.workdir / "other.db").exists()


@pytest.mark.parametrize("args", [["-h"], ["status", "-h"], ["history", "import", "-h"]])
def test_h_is_help(fra: Fra, args: list[str]) -> None:
    short, long = run(fra, *args), run(fra, *args[:-1], "--help")
    assert short.returncode == long.returncode == 0, short.stderr
    assert short.stdout == long.stdout
    assert "Usage: fra" in short.stdout


@pytest.mark.parametrize(
    ("args", "example", "code"),
    [
        (["status"], "$ fra status --check", "10 --check"),
        (["open"], "$ fra open ETH/USDT:USDT --size 1000", "4 refused by a risk rule"),
        (["loop"], "$ fra loop --interval 300", "130 stopped by Ctrl-C"),
        (["history", "import"], "$ fra history import", "2 bad file"),
        (["notify", "test"], "$ fra notify test", "5 a service did not take it"),
    ],
)
def test_each_commands_help_has_examples_and_exit_codes(
    fra: Fra, args: list[str], example: str, code: str
) -> None:
    out = " ".join(run(fra, *args, "--help", columns=200).stdout.split())
    assert "Examples:" in out and example in out
    assert "Exit codes: 0 " in out and code in out


def test_help_wraps_to_the_terminal(fra: Fra) -> None:
    """The command list rewraps each docstring: no line ends mid-sentence because the source
    broke it there, and none is wider than the terminal."""
    out = run(fra, "--help", columns=80).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    scan = next(i for i, line in enumerate(lines) if line.startswith("│ scan "))
    # "... spot and" then "perp best bid/ask" on a short line was the docstring's own break.
    first = lines[scan].rstrip("│ ")
    assert len(first) > 70, lines[scan : scan + 3]


def test_completion_is_offered(fra: Fra) -> None:
    # Typer finds the shell from the process tree (shellingham), which a suite started by cron
    # or in the background may not have; its own switch makes it take the shell named.
    fra.env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    proc = run(fra, "--show-completion", "bash")
    assert proc.returncode == 0, proc.stderr
    assert "_FRA_COMPLETE" in proc.stdout
    # And it completes commands: the script calls fra back with these variables.
    env = {**fra.full_env(), "PATH": "/usr/bin:/bin", "_FRA_COMPLETE": "complete_bash"}
    env.update(COMP_WORDS="fra sta", COMP_CWORD="1")
    done = subprocess.run(
        [sys.executable, "-m", "fra"], cwd=fra.workdir, env=env, capture_output=True, text=True
    )
    assert "status" in done.stdout.split(), (done.stdout, done.stderr)


# -- JSON from every command that reports, errors included -----------------------------------


@pytest.fixture
def held(fra: Fra) -> Fra:
    """Two positions open on the simulated market."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH, SOL]).shocks(*HOT)
    fra("open", ETH, "--size", "500")
    fra("open", SOL, "--size", "500")
    return fra


def test_emergency_stop_and_resume_report_in_json(held: Fra) -> None:
    stop = held.json("emergency-stop", "--reason", "exchange incident")
    assert stop["halted"] is True and stop["reason"] == "exchange incident"
    assert sorted(p["symbol"] for p in stop["closed"]) == [ETH, SOL]
    assert {p["state"] for p in stop["closed"]} == {"closed"}
    assert held.json("resume") == {"resumed": True, "was_halted": "exchange incident"}
    assert held.json("resume") == {"resumed": False, "was_halted": None}


def test_loop_reports_each_cycle_as_a_json_line(held: Fra) -> None:
    out = held("loop", "--interval", "1", "--max-cycles", "1", "--json").stdout
    [cycle] = [json.loads(line) for line in out.splitlines()]
    assert cycle["event"] == "cycle" and cycle["cycle"] == 1 and cycle["outcome"] == "ok"
    assert cycle["at"] == iso(T0)


def test_errors_are_json_when_json_was_asked_for(held: Fra) -> None:
    before = held.fingerprint()
    result = held("open", "NOPE/USDT:USDT", "--json", code=ExitCode.BAD_INPUT)
    error = json.loads(result.stdout)
    assert error["exit_code"] == 2 and "NOPE" in error["error"] and error["fix"]
    assert result.stderr.startswith("error: ")  # cron's mail still gets the line
    result = held("resume", "--json", code=ExitCode.BAD_INPUT, FRA_RISK__LEVERAGE="-1")
    assert json.loads(result.stdout)["exit_code"] == 2
    assert held.fingerprint() == before
    # Without --json, stdout stays empty.
    assert held("open", "NOPE/USDT:USDT", code=ExitCode.BAD_INPUT).stdout == ""


# -- fra loop and Ctrl-C ---------------------------------------------------------------------


def test_loop_ctrl_c_says_what_it_closes_and_exits_130(held: Fra) -> None:
    proc = held.spawn("loop", "--interval", "60")
    held.wait_for("SELECT 1 FROM cycles WHERE finished_ms IS NOT NULL")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    lines = out.splitlines()
    assert lines[-3:] == [
        "closing 2 positions — Ctrl-C again to leave them open",
        "stopped: closed 2 positions",
        lines[0].replace("cycle 1", "last cycle 1"),
    ]
    assert held.query("SELECT DISTINCT state FROM positions") == [("closed",)]


def test_loop_second_ctrl_c_leaves_the_rest_open(held: Fra) -> None:
    # Slow fills: the second Ctrl-C comes while the first position is still closing.
    proc = held.spawn("loop", "--interval", "60", FRA_PAPER__FILL_DELAY_MS="800")
    held.wait_for("SELECT 1 FROM cycles WHERE finished_ms IS NOT NULL")
    proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    while "Ctrl-C again" not in (line := proc.stdout.readline()):
        assert line, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    states = sorted(state for (state,) in held.query("SELECT state FROM positions"))
    left = states.count("open")
    # None is half-closed: each position is closed whole or left whole.
    assert left >= 1 and states.count("closed") == 2 - left
    assert f"left {left} open (`fra close --all` closes them)" in out


def test_install_timer_reports_in_json_and_never_prints_the_keys(fra: Fra) -> None:
    keys = {"FRA_API_KEY": "k" * 24, "FRA_API_SECRET": "s" * 24}
    shown = fra("install-timer", "--json", **keys).stdout
    report = json.loads(shown)
    assert report["secret_names"] == ["FRA_API_KEY", "FRA_API_SECRET"]
    assert report["wrote"] == [] and report["secrets_written"] is False
    assert "run-cycle" in report["crontab"] and "[Timer]" in report["timer"]
    assert "k" * 24 not in shown and "s" * 24 not in shown
    written = fra.json("install-timer", "--write", "--unit-dir", "units", **keys)
    units = fra.workdir / "units"
    assert written["wrote"] == [
        str(fra.workdir / "fra-secrets.env"),
        str(units / "fra-cycle.service"),
        str(units / "fra-cycle.timer"),
    ]
    assert (units / "fra-cycle.timer").read_text() == report["timer"]


# -- one form of symbols ---------------------------------------------------------------------


def test_open_and_close_take_symbols_as_backtest_does(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH, SOL]).shocks(*HOT)
    assert fra.json("open", "ethusdt", "--size", "500")["symbol"] == ETH
    assert fra.json("open", "SOLUSDT", "--size", "500")["symbol"] == SOL
    [closed] = fra.json("close", "ETHUSDT")
    assert closed["symbol"] == ETH and closed["state"] == "closed"
    [closed] = fra.json("close", "sol/usdt")  # its spot market, in lower case
    assert closed["symbol"] == SOL


@pytest.mark.parametrize("args", [["open", "nopeusdt"], ["close", "ethusdt"]])
def test_an_unknown_symbol_in_any_form_is_named(fra: Fra, args: list[str]) -> None:
    fra("resume")
    assert_refused(fra, args, ExitCode.BAD_INPUT, args[1].upper().replace("USDT", "/USDT"))


def test_rank_says_when_its_snapshot_is_old(fra: Fra) -> None:
    fra("scan")
    fresh = fra("rank")
    assert "old" not in fresh.stderr
    late = fra.advance(hours=2, minutes=5)("rank")
    assert "warning: the snapshot is 2h05m old" in late.stderr and "--refresh" in late.stderr
    assert fra.json("rank")["snapshot_age_seconds"] == 2 * 3600 + 5 * 60


def test_a_short_backtest_says_its_yearly_figures_mean_little(fra: Fra) -> None:
    fra("history", "fetch", "--exchange", "sim", "--since", "2025-01-01", "--until", "2025-04-15",
        "--symbols", "BTC/USDT:USDT")  # fmt: skip
    args = ["backtest", "--exchange", "sim", "--symbols", "BTC/USDT:USDT"]
    short = fra.json(*args, "--from", "2025-01-01", "--to", "2025-02-01")
    assert any("31 days" in w and "not meaningful" in w for w in short["warnings"])
    longer = fra.json(*args, "--from", "2025-01-01", "--to", "2025-04-15")
    assert not any("not meaningful" in w for w in longer["warnings"])
