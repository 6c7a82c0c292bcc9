"""Every line fra prints reads as what it means (issue 13): what a cycle did to each position,
counts in the number they take, a halt said as a halt (and a requested one not as an error),
what an empty status means, flags without a value in help, and click's own usage errors said
the way fra says its errors, as JSON when --json was asked for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import T0, Fra, iso
from test_serve import serving

from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
HOT = [f"{sym}@{iso(T0)}:funding=0.0008:hours=48" for sym in (ETH, SOL)]
COLD = f"{ETH}@{iso(T0 + timedelta(hours=48))}:funding=-0.0003:hours=24"


def run(fra: Fra, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m fra ARGS` in a process of its own: the fast path in fra.cli is what runs."""
    return subprocess.run(
        [sys.executable, "-m", "fra", *args],
        cwd=fra.workdir,
        env={**fra.full_env(), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def money(value: str) -> str:
    return f"{Decimal(value):,.2f}"


def grid_row(out: str, label: str) -> str:
    """The value `fra status` shows beside `label`."""
    [found] = [line for line in out.splitlines() if line.startswith(label + " ")]
    return found[len(label) :].strip()


@pytest.fixture
def halted(fra: Fra) -> Fra:
    """One ETH position opened by a cycle, then an emergency stop a person asked for."""
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(*HOT)
    fra("run-cycle")
    fra.advance(hours=1)
    stop = fra("emergency-stop", "--reason", "test")
    assert "HALTED: test\n" in stop.stdout and "closed 1 position;" in stop.stdout
    # Asked for, so not an error: no ERROR log line, no `error:` prefix anywhere.
    assert "ERROR" not in stop.stderr and "error" not in stop.stderr.lower()
    fra.advance(hours=1)
    return fra


# -- run-cycle: what happened to each position ------------------------------------------------


def test_run_cycle_says_what_it_opened_and_closed(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT[0], COLD)
    first, *items = fra("run-cycle").stdout.splitlines()
    assert first == (
        "SIMULATED cycle 1: ok; scanned 29 perpetuals, settled 0 funding payments,"
        " closed 0 positions, opened 1 position"
    )
    [pos] = fra.json("status")["positions"]
    [opened] = items
    found = re.fullmatch(r"  opened position 1: ETH/USDT:USDT, (\S+) ETH \((\S+) USDT\)", opened)
    assert found, opened
    amount = Decimal(found.group(1))
    assert amount == Decimal(pos["perp_amount"]) > 0
    assert found.group(2) == money(str(amount * Decimal(pos["perp_entry_price"])))

    # Funding turns negative at 48h: the cycle closes it and says why and for how much.
    fra.at(T0 + timedelta(hours=48, minutes=1))
    first, *items = fra("run-cycle").stdout.splitlines()
    assert first.startswith("SIMULATED cycle 2: ok; scanned 29 perpetuals, settled 6 funding")
    assert first.endswith(", closed 1 position, opened 0 positions")
    [closed] = fra.json("positions")
    assert items == [
        f"  closed position 1: ETH/USDT:USDT ({closed['close_reason']}),"
        f" net {money(closed['net_pnl'])}"
    ]
    assert "below the exit bar" in closed["close_reason"]


def test_counts_take_the_number_of_their_noun(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH, SOL]).shocks(*HOT)
    out = fra("run-cycle").stdout
    assert ", opened 2 positions\n" in out
    assert out.count("  opened position ") == 2
    fra.advance(hours=1)
    assert "closed 2 positions;" in fra("emergency-stop").stdout
    status = fra("status").stdout
    assert "Totals: 0 open positions," in status and " over 2 closed positions;" in status


def test_a_stop_the_margin_check_triggered_stays_loud(fra: Fra) -> None:
    # Leverage 3 and thresholds as in test_cycle: +30 % on ETH is critical.
    fra.set(
        FRA_STRATEGY__SYMBOLS=[ETH],
        FRA_RISK__LEVERAGE="3",
        FRA_RISK__MARGIN_ALERT="0.02",
        FRA_RISK__MARGIN_CRITICAL="0.1",
        FRA_RISK__TOPUP_CUSHION="0",
    ).shocks(HOT[0], f"{ETH}@{iso(T0 + timedelta(hours=1))}:price=+30%:hours=12")
    fra("run-cycle")
    fra.advance(hours=3)
    result = fra("run-cycle", code=ExitCode.MARGIN_CRITICAL)
    first, closed = result.stdout.splitlines()
    assert first.startswith("SIMULATED cycle 2: EMERGENCY STOP (critical margin ratio ")
    assert first.endswith(", closed 1 position; `fra resume` allows opening again once it is safe")
    assert closed.startswith("  closed position 1: ETH/USDT:USDT (emergency stop: critical")
    assert "ERROR EMERGENCY STOP: critical margin ratio" in result.stderr
    assert fra.json("status")["last_cycle"]["outcome"] == "critical"  # stored as it was
    assert "EMERGENCY STOP (critical margin ratio" in grid_row(fra("status").stdout, "Last cycle")


# -- a halt is said as a halt -----------------------------------------------------------------


def test_a_cycle_while_halted_leads_with_the_halt(halted: Fra) -> None:
    out = halted("run-cycle").stdout
    assert out == (
        "SIMULATED cycle 2: halted (test), opened nothing; scanned 29 perpetuals, settled 0"
        " funding payments, closed 0 positions; `fra resume` allows opening again\n"
    )
    # What scripts read stays: outcome ok, exit 0, the halt in its own field.
    report = halted.json("run-cycle")
    assert (report["exit_code"], report["halted"]) == (0, "test")
    assert halted.json("status")["last_cycle"]["outcome"] == "ok"
    status = halted("status").stdout
    assert grid_row(status, "Halted") == "YES: test (`fra resume` allows opening again)"
    assert re.fullmatch(
        r"#3 at \S+ \S+ UTC: halted \(test\), opened nothing \(exit 0\)",
        grid_row(status, "Last cycle"),
    )

    halted("resume")
    assert halted("run-cycle").stdout.startswith("SIMULATED cycle 4: ok; ")


def test_status_check_says_halted_without_calling_it_an_error(halted: Fra) -> None:
    halted("run-cycle")
    result = halted("status", "--check", code=ExitCode.UNHEALTHY)
    assert result.stderr == "halted: test; cycles run but open nothing until `fra resume`\n"
    data = halted.json("status", "--check", code=ExitCode.UNHEALTHY)
    assert data["check"] == {"ok": False, "problems": ["trading is halted (test)"]}
    # A real problem beside the halt is still an error.
    halted.advance(hours=2)
    err = halted("status", "--check", code=ExitCode.UNHEALTHY).stderr
    assert err.startswith("error: the last cycle finished 2h 00m ago") and "halted (test)" in err


def test_loop_says_halted(halted: Fra) -> None:
    out = halted("loop", "--interval", "1", "--max-cycles", "1").stdout
    assert re.fullmatch(
        r"cycle 2 at \S+ \S+ UTC: halted \(test\), opened nothing; settled 0 funding payments,"
        r" closed 0 positions\n",
        out,
    ), out


def test_the_dashboard_says_halted_not_ok(halted: Fra) -> None:
    halted("run-cycle")
    with serving(halted) as server:
        page = server.get("/")
    assert page.status == 200
    text = re.sub(r"<[^>]+>", " ", page.body)
    assert "halted (test), opened nothing" in text
    assert re.search(r"Worst margin ratio\s+no open shorts", text)
    assert 'badge warn">halted (test), opened nothing' in page.body  # the cycles table


# -- status with nothing to show ----------------------------------------------------------------


def test_status_says_what_an_empty_field_means(fra: Fra) -> None:
    fra("resume")  # starts the state file; no cycle, no snapshot, no position
    out = fra("status").stdout
    assert (
        grid_row(out, "Prices as of") == "no snapshot yet (`fra run-cycle` or `fra scan` takes one)"
    )
    assert grid_row(out, "Margin ratio") == "no open shorts"
    assert grid_row(out, "Last cycle") == "never (run `fra run-cycle`)"
    assert " - " not in out and not re.search(r"\s-$", out, re.MULTILINE)
    fra.shocks(HOT[0])("open", ETH, "--size", "500")
    assert grid_row(fra("status").stdout, "Margin ratio") == (
        "not measured yet (`fra run-cycle` or `fra margin-check` measures it)"
    )
    fra("margin-check")
    assert re.fullmatch(r"worst \d+\.\d\d%", grid_row(fra("status").stdout, "Margin ratio"))


# -- help and usage errors --------------------------------------------------------------------


@pytest.mark.parametrize("args", [["history", "import"], ["status"], []])
def test_flags_show_no_value_in_help(fra: Fra, args: list[str]) -> None:
    out = run(fra, *args, "-h").stdout
    assert "--help" in out and "<bool>" not in out
    assert "<bool>" not in fra(*args, "--help").stdout
    if args == ["history", "import"]:
        [replace] = [line for line in out.splitlines() if line.startswith("│ --replace")]
        assert re.search(r"--replace\s+Overwrite", replace), replace
    if args == ["status"]:
        assert "--max-age" in out and "<float>" in out  # an option that takes a value shows it


# (arguments, what is wrong, the help to read); --json is added last, where click stops at the
# problem before it, except after an option that wants a value (it would take --json as one).
USAGE = [
    (["status", "--bogus"], "no such option: --bogus", "fra status -h"),
    (["status", "--jsn"], "no such option: --jsn", "fra status -h"),
    (["history", "import"], "missing argument 'file'", "fra history import -h"),
    (["open", "--size"], "option '--size' requires an argument", "fra open -h"),
    (["bogus"], "no such command 'bogus'", "fra -h"),
]


def with_json(args: list[str]) -> list[str]:
    return [*args[:-1], "--json", args[-1]] if args[-1] == "--size" else [*args, "--json"]


@pytest.mark.parametrize(("args", "said", "help_"), USAGE)
def test_usage_errors_are_one_line_naming_the_help(
    fra: Fra, args: list[str], said: str, help_: str
) -> None:
    process = run(fra, *args)
    assert process.returncode == ExitCode.BAD_INPUT
    for result in (fra(*args, code=ExitCode.BAD_INPUT), process):
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: {said}")
        assert result.stderr.endswith(f"; see `{help_}`\n") and result.stderr.count("\n") == 1
    assert not fra.db.exists()  # nothing written, not even a state file


@pytest.mark.parametrize(("args", "said", "help_"), USAGE)
def test_usage_errors_are_json_when_json_was_asked_for(
    fra: Fra, args: list[str], said: str, help_: str
) -> None:
    process = run(fra, *with_json(args))
    assert process.returncode == ExitCode.BAD_INPUT
    for result in (fra(*with_json(args), code=ExitCode.BAD_INPUT), process):
        error = json.loads(result.stdout)
        assert error["error"].startswith(said)
        assert error == {"error": error["error"], "fix": f"see `{help_}`", "exit_code": 2}
        assert result.stderr.startswith(f"error: {said}")  # cron's mail still gets the line
    assert not fra.db.exists()


def test_a_value_that_looks_like_json_is_not_a_request_for_it(fra: Fra) -> None:
    # After `--`, --json is an argument's value, not the flag.
    result = fra("status", "--", "--json", code=ExitCode.BAD_INPUT)
    assert result.stdout == "" and "unexpected extra argument" in result.stderr


def test_one_position_open_is_said_in_the_singular(fra: Fra) -> None:
    fra.set(FRA_RISK__MAX_POSITIONS="1").shocks(
        "ETH/USDT:USDT@2026-03-01T00:00:00Z:funding=0.002:hours=48",
        "SOL/USDT:USDT@2026-03-01T00:00:00Z:funding=0.002:hours=48",
    )
    fra("open", "ETH/USDT:USDT", "--size", "1000")
    err = fra("open", "SOL/USDT:USDT", "--size", "1000", code=4).stderr
    assert "1 position open, limit 1" in err, err
