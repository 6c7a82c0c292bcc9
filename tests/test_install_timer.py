"""install-timer's output as it really runs: the crontab line under sh the way cron runs it,
the unit through systemd-analyze, and the API keys kept out of both."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import T0, Fra, iso

ETH = "ETH/USDT:USDT"
# Values that need quoting in sh, in a unit file and in a crontab: JSON quotes, a space, a %.
SYMBOLS = json.dumps([ETH, "BTC/USDT:USDT"])
SHOCKS = json.dumps(
    [f"{ETH}@{iso(T0)}:funding=0.0008:hours=48", f"BTC/USDT:USDT@{iso(T0)}:price=+5%"]
)
KEY, SECRET = "k3yK3yK3y0123456789abcdef", "s3cr3tS3cr3t0123456789abcdef"


def cron_command(line: str) -> tuple[str, str | None]:
    """What cron hands to `sh -c` for a crontab line, and the stdin it feeds it: the five time
    fields dropped, the command cut at the first unescaped % (the rest, newlines for further
    %s, is stdin), and \\% turned into %."""
    command = line.split(None, 5)[5]
    out, stdin, i = "", None, 0
    while i < len(command):
        c = command[i]
        if c == "\\" and command[i + 1 : i + 2] == "%":
            out += "%"
            i += 2
            continue
        if c == "%":
            stdin = command[i + 1 :].replace("%", "\n")
            break
        out += c
        i += 1
    return out, stdin


def run_as_cron(line: str, home: Path) -> subprocess.CompletedProcess[str]:
    command, stdin = cron_command(line)
    # cron's environment: no FRA_* variables, a minimal PATH.
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "fra"}
    return subprocess.run(
        ["/bin/sh", "-c", command], env=env, input=stdin, capture_output=True, text=True
    )


def crontab_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("*/")]
    assert len(lines) == 1, out
    return lines[0]


@pytest.fixture
def fake_fra(tmp_path: Path) -> Path:
    """A `fra` first on PATH that records the FRA_* environment and arguments it ran with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "fra"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "seen = {k: v for k, v in os.environ.items() if k.startswith('FRA_')}\n"
        "json.dump({'env': seen, 'args': sys.argv[1:], 'cwd': os.getcwd()},"
        " open(os.path.join(os.environ['HOME'], 'seen.json'), 'w'))\n"
    )
    script.chmod(0o755)
    return bin_dir


def test_the_crontab_line_runs_under_sh_with_every_value_and_the_keys(
    fra: Fra, fake_fra: Path
) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=SYMBOLS, FRA_SIM__SHOCKS=SHOCKS, FRA_LOG_FILE="logs/a b.jsonl")
    path = f"{fake_fra}:{os.environ['PATH']}"
    out = fra(
        "install-timer", "--write", "--unit-dir", "units",
        PATH=path, FRA_API_KEY=KEY, FRA_API_SECRET=SECRET,
    ).stdout  # fmt: skip
    line = crontab_line(out)

    result = run_as_cron(line, fra.workdir)
    assert result.returncode == 0, result.stderr
    seen = json.loads((fra.workdir / "seen.json").read_text())
    assert seen["args"] == ["run-cycle"]
    assert seen["cwd"] == str(fra.workdir)
    expected = {k: v for k, v in fra.full_env().items() if k.startswith("FRA_")}
    assert seen["env"] == {**expected, "FRA_API_KEY": KEY, "FRA_API_SECRET": SECRET}


def test_the_keys_go_to_a_private_file_never_into_the_unit_or_the_crontab(
    fra: Fra, fake_fra: Path
) -> None:
    env = {"PATH": f"{fake_fra}:{os.environ['PATH']}", "FRA_API_KEY": KEY, "FRA_API_SECRET": SECRET}
    shown = fra("install-timer", **env)
    secrets = fra.workdir / "fra-secrets.env"
    # Printing writes nothing, and says where the keys would go.
    assert not secrets.exists()
    assert "--write stores them in" in shown.stderr and str(secrets) in shown.stderr
    written = fra("install-timer", "--write", "--unit-dir", "units", **env)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert secrets.read_text() == f"FRA_API_KEY='{KEY}'\nFRA_API_SECRET='{SECRET}'\n"
    service = (fra.workdir / "units" / "fra-cycle.service").read_text()
    assert f"EnvironmentFile={secrets}\n" in service
    for text in (shown.stdout, shown.stderr, written.stdout, service, crontab_line(shown.stdout)):
        assert KEY not in text and SECRET not in text
    assert f". {secrets} &&" in crontab_line(written.stdout)
    # Once the file holds them, printing again has nothing to say.
    assert fra("install-timer", **env).stderr == ""


def test_without_keys_in_the_environment_there_is_no_secrets_file(fra: Fra, fake_fra: Path) -> None:
    out = fra("install-timer", "--write", "--unit-dir", "units", PATH=str(fake_fra)).stdout
    assert not (fra.workdir / "fra-secrets.env").exists()
    service = (fra.workdir / "units" / "fra-cycle.service").read_text()
    assert "EnvironmentFile" not in service and "fra-secrets.env" not in crontab_line(out)
    assert 'Environment="FRA_LIVE__ALLOW_WITHDRAWAL_KEY' not in service


def test_a_setting_named_like_a_key_stays_in_the_unit(fra: Fra, fake_fra: Path) -> None:
    # FRA_LIVE__ALLOW_WITHDRAWAL_KEY is a switch, not a secret: dropping it would change
    # what the timer's cycles accept.
    out = fra("install-timer", PATH=str(fake_fra), FRA_LIVE__ALLOW_WITHDRAWAL_KEY="true").stdout
    assert 'Environment="FRA_LIVE__ALLOW_WITHDRAWAL_KEY=true"' in out
    assert "FRA_LIVE__ALLOW_WITHDRAWAL_KEY=true" in crontab_line(out)


def test_the_real_fra_runs_a_cycle_from_the_crontab_line(fra: Fra) -> None:
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "fra").exists():
        pytest.skip("the fra script is not installed beside this Python")
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH], FRA_SIM__SHOCKS=SHOCKS)
    out = fra("install-timer", PATH=f"{venv_bin}:{os.environ['PATH']}").stdout
    result = run_as_cron(crontab_line(out), fra.workdir)
    assert result.returncode == 0, result.stderr
    log = (fra.workdir / "fra-cron.log").read_text()
    assert "not found" not in log
    assert fra.query("SELECT outcome, exit_code FROM cycles") == [("ok", 0)], log
    # The allowlist and the shock reached the cycle: it opened the one pair allowed.
    assert fra.query("SELECT perp_symbol FROM positions") == [(ETH,)]


def test_systemd_reads_the_unit_without_a_complaint(fra: Fra) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    venv_bin = Path(sys.executable).parent
    fra.set(FRA_STRATEGY__SYMBOLS=SYMBOLS, FRA_SIM__SHOCKS=SHOCKS, FRA_LOG_FILE="logs/a b.jsonl")
    fra(
        "install-timer", "--write", "--unit-dir", "units",
        PATH=f"{venv_bin}:{os.environ['PATH']}", FRA_API_KEY=KEY, FRA_API_SECRET=SECRET,
    )  # fmt: skip
    units = fra.workdir / "units"
    result = subprocess.run(
        [analyze, "verify", str(units / "fra-cycle.service"), str(units / "fra-cycle.timer")],
        capture_output=True,
        text=True,
    )
    if "Failed to initialize manager" in result.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    # verify exits 0 on a line it ignores, so its complaints are read as well.
    complaints = [line for line in result.stderr.splitlines() if "fra-cycle" in line]
    assert result.returncode == 0 and not complaints, result.stderr


def test_settings_fra_config_masks_are_kept_out_like_the_keys(fra: Fra, fake_fra: Path) -> None:
    # Notification URLs carry their service's token (a Telegram bot's, an ntfy topic): shown
    # masked by fra config, so they go where the keys go.
    urls = json.dumps(["ntfys://ntfy.sh/fra-secret-topic-4711"])
    beat = "https://hc-ping.com/0b5e8c1e-secret-uuid"
    env = {"PATH": str(fake_fra), "FRA_NOTIFY__URLS": urls, "FRA_NOTIFY__HEARTBEAT_URL": beat}
    out = fra("install-timer", "--write", "--unit-dir", "units", **env).stdout
    service = (fra.workdir / "units" / "fra-cycle.service").read_text()
    for text in (out, service):
        assert "fra-secret-topic-4711" not in text and "secret-uuid" not in text
    secrets = (fra.workdir / "fra-secrets.env").read_text()
    assert f"FRA_NOTIFY__HEARTBEAT_URL='{beat}'\n" in secrets
    assert f"FRA_NOTIFY__URLS='{urls}'\n" in secrets
    result = run_as_cron(crontab_line(out), fra.workdir)
    assert result.returncode == 0, result.stderr
    seen = json.loads((fra.workdir / "seen.json").read_text())["env"]
    assert seen["FRA_NOTIFY__URLS"] == urls and seen["FRA_NOTIFY__HEARTBEAT_URL"] == beat
