"""What cron and people run most stays near Python's start-up time: `status`, `rank` and a cycle
that sends nothing import none of the libraries other commands need (ccxt for exchanges,
apprise for notifications, the dashboard's web stack, the Prometheus client)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import Fra

HEAVY = ["ccxt", "apprise", "starlette", "uvicorn", "jinja2", "prometheus_client", "playwright"]


def imported(fra: Fra, *args: str) -> list[str]:
    """The HEAVY libraries a fresh `fra ARGS` process imported, as cron would start it."""
    code = (
        "import json, sys\n"
        "from fra.cli import main\n"
        f"sys.argv = ['fra', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
        f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=fra.workdir,
        env={**fra.full_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    code_, found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert code_ in (0, None), proc.stderr
    return found


@pytest.mark.parametrize(
    "command", [["status"], ["rank"], ["status", "--json"], ["rank", "--json"], ["config"]]
)
def test_status_and_rank_import_no_heavy_library(fra: Fra, command: list[str]) -> None:
    fra("run-cycle")
    assert imported(fra, *command) == []


def test_a_cycle_that_sends_nothing_imports_no_heavy_library(fra: Fra) -> None:
    fra.set(FRA_RISK__MAX_POSITIONS="0")
    assert imported(fra, "run-cycle") == []
    # Nothing was sent: no order on file.
    assert fra.query("SELECT COUNT(*) FROM orders") == [(0,)]


def run_fra(fra: Fra, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**fra.full_env(), "PATH": "/usr/bin:/bin"}
    env.pop("FRA_DB")
    return subprocess.run(
        [sys.executable, "-m", "fra", *args],
        cwd=fra.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_builds_only_the_command_it_runs_and_means_the_same(fra: Fra) -> None:
    # Global flags before the command, in both spellings, reach it.
    cycle = run_fra(fra, "--venue", "simulated", "--db", "other.db", "run-cycle")
    assert cycle.returncode == 0, cycle.stderr
    status = run_fra(fra, "--db=other.db", "status", "--json")
    assert json.loads(status.stdout)["state_file"] == "other.db"
    # The whole app where no command is named, or a name is mistyped.
    listing = run_fra(fra, "--help").stdout
    assert all(name in listing for name in ("run-cycle", "status", "history", "backtest"))
    typo = run_fra(fra, "statu")
    assert typo.returncode == 2 and "Did you mean 'status'?" in typo.stderr
    assert "fra status [OPTIONS]" in run_fra(fra, "status", "--help").stdout
