"""The CLI's surface: help everywhere, config with secrets masked, install-timer, scan output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import Fra
from typer.main import get_command

from fra.cli import app

COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_all_documented_subcommands_exist() -> None:
    expected = {
        "scan", "rank", "open", "close", "margin-check", "run-cycle", "emergency-stop",
        "resume", "status", "positions", "config", "loop", "install-timer",
    }  # fmt: skip
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_help_text(fra: Fra, name: str) -> None:
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.strip()) > 20, f"{name} has no help text"
    for param in command.params:
        if param.name not in ("ctx",) and getattr(param, "help", None) is not None:
            assert param.help.strip(), f"{name} --{param.name} has empty help"
    out = fra(name, "--help").stdout
    assert "Usage:" in out


def test_readme_lists_every_subcommand() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in COMMANDS:
        assert f"fra {name}" in readme, f"README does not show `fra {name}`"


def test_config_masks_secrets_and_shows_overrides(fra: Fra) -> None:
    data = fra.json("config", FRA_API_KEY="abcd1234secretvalue", FRA_RISK__MAX_POSITIONS="5")
    assert data["api_key"] == "********"
    assert data["risk"]["max_positions"] == 5
    text = fra("config", FRA_API_KEY="abcd1234secretvalue").stdout
    assert "abcd1234secretvalue" not in text and "FRA_RISK__MAX_POSITIONS" in text


def test_db_flag_beats_environment(fra: Fra) -> None:
    other = fra.workdir / "other.db"
    fra("--db", str(other), "scan")
    assert other.exists()
    assert not fra.db.exists()


def test_install_timer_prints_and_writes_units(fra: Fra) -> None:
    other = fra.workdir / "prod.db"
    out = fra("--db", str(other), "install-timer", "--every", "10", FRA_RISK__LEVERAGE="2").stdout
    assert "OnCalendar=*:0/10" in out
    assert f"WorkingDirectory={fra.workdir}" in out
    assert "run-cycle" in out and "*/10 * * * *" in out
    # Both the unit and the cron line name the state file and carry the FRA_* settings.
    assert f'Environment="FRA_DB={other}"' in out
    cron = out.strip().splitlines()[-1]
    assert f"FRA_DB={other}" in cron and "FRA_RISK__LEVERAGE=2" in cron
    units = fra.workdir / "units"
    fra("install-timer", "--write", "--unit-dir", str(units))
    service = (units / "fra-cycle.service").read_text()
    assert "ExecStart=" in service and "SuccessExitStatus=6" in service
    assert (units / "fra-cycle.timer").read_text().count("[Timer]") == 1


def test_scan_stores_a_snapshot_of_every_perpetual(fra: Fra) -> None:
    data = fra.json("scan")
    rows = data["rows"]
    assert data["venue"] == "SIMULATED"
    assert len(rows) >= 20
    assert {r["interval_hours"] for r in rows} >= {1, 4, 8}
    assert any(r["spot_symbol"] is None for r in rows)
    for r in rows:
        assert float(r["perp_ask"]) > float(r["perp_bid"]) > 0
    stored = fra.query("SELECT COUNT(*) FROM snapshot_rows")
    assert stored == [(len(rows),)]
    text = fra("scan").stdout
    assert "SIMULATED" in text and "perpetuals" in text


def test_rank_json_and_top(fra: Fra) -> None:
    fra("scan")
    rows = fra.json("rank", "--top", "3")["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    full = fra.json("rank")["rows"]
    no_spot = [r for r in full if r["spot_symbol"] is None]
    assert no_spot and all("no_spot_market" in r["reasons"] for r in no_spot)
    for r in full:
        if r["apr"] is not None:
            expected = float(r["funding_rate"]) * 8760 / r["interval_hours"]
            assert abs(float(r["apr"]) - expected) < 1e-12


def test_read_only_commands_do_not_import_ccxt(fra: Fra) -> None:
    fra("scan")
    code = (
        "import sys; from fra.cli import main; sys.argv=['fra','status']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.argv=['fra','rank']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps('ccxt' in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        cwd=fra.workdir,
        env={**fra.full_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) is False, proc.stderr


def test_logs_json_lines_to_a_file_and_warnings_to_the_terminal(fra: Fra) -> None:
    eth = "ETH/USDT:USDT"
    fra.set(FRA_STRATEGY__SYMBOLS=[eth]).shocks(
        f"{eth}@2026-03-01T00:00:00Z:funding=0.0008:hours=48"
    )
    result = fra("run-cycle")
    assert result.stderr == ""  # nothing worth a warning happened
    lines = [
        json.loads(line) for line in (fra.workdir / "state.db.log.jsonl").read_text().splitlines()
    ]
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    assert any(r["msg"].startswith("opened position 1 ETH/USDT:USDT") for r in lines)
    assert all(r["level"] in {"info", "warning", "error"} for r in lines)
    stop = fra("emergency-stop", "--reason", "drill")
    # A stop a person asked for is no error: the command says HALTED, the log file keeps it.
    assert "HALTED: drill" in stop.stdout and "ERROR" not in stop.stderr
    logged = (fra.workdir / "state.db.log.jsonl").read_text().splitlines()
    [requested] = [json.loads(x) for x in logged if "emergency stop requested" in x]
    assert (requested["level"], requested["msg"]) == ("warning", "emergency stop requested: drill")


def test_a_terminal_gets_the_same_table_in_colour(fra: Fra) -> None:
    import os
    import pty

    fra("scan")
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fra", "rank", "--top", "2"],
        cwd=fra.workdir,
        env={**env, **fra.full_env(), "TERM": "xterm", "COLUMNS": "200"},
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the process closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    shown = b"".join(chunks).decode()
    assert "\x1b[1m" in shown  # bold header: rich drew it
    plain = fra("rank", "--top", "2").stdout
    for word in ("Perpetual", "Forecast", plain.splitlines()[4].split("│")[2].strip()):
        assert word in shown
