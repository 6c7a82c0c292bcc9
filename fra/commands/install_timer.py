"""fra install-timer"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import typer

from fra.commands.common import guarded, settings


def units(fra_bin: str, db: Path, every_minutes: int, env_file: Path | None) -> dict[str, str]:
    workdir = db.parent
    env_line = f"EnvironmentFile={env_file}\n" if env_file else ""
    # The state file is always named, so the timer trades the file this command was shown.
    env = {k: v for k, v in os.environ.items() if k.startswith("FRA_")}
    env["FRA_DB"] = str(db)
    env = {k: v for k, v in sorted(env.items()) if "KEY" not in k and "SECRET" not in k}
    passthrough = "".join(f"Environment={shlex.quote(f'{k}={v}')}\n" for k, v in env.items())
    cron_env = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    service = (
        "[Unit]\n"
        "Description=fra funding-rate arbitrage cycle\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={workdir}\n"
        f"{env_line}{passthrough}"
        f"ExecStart={fra_bin} run-cycle\n"
        "# Exit 6 = another cycle still runs: not a failure. 7/8 (margin) are left as failures\n"
        "# so OnFailure= alerting sees them.\n"
        "SuccessExitStatus=6\n"
        "TimeoutStartSec=600\n"
    )
    timer = (
        "[Unit]\n"
        "Description=Run fra run-cycle periodically\n\n"
        "[Timer]\n"
        f"OnCalendar=*:0/{every_minutes}\n"
        "Persistent=true\n"
        "RandomizedDelaySec=15\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    cron = (
        f"*/{every_minutes} * * * * cd {shlex.quote(str(workdir))} && {cron_env} "
        f"{shlex.quote(fra_bin)} run-cycle >> {shlex.quote(str(workdir / 'fra-cron.log'))} 2>&1"
    )
    return {"fra-cycle.service": service, "fra-cycle.timer": timer, "crontab": cron}


def install_timer(
    ctx: typer.Context,
    every: int = typer.Option(5, "--every", min=1, max=59, help="Minutes between cycles."),
    write: bool = typer.Option(False, "--write", help="Write the unit files to --unit-dir."),
    unit_dir: Path = typer.Option(
        Path.home() / ".config" / "systemd" / "user", "--unit-dir", help="Where --write puts them."
    ),
) -> None:
    """Print a systemd service + timer and the equivalent crontab line that run `fra run-cycle`
    in this directory with this environment (--write installs the unit files)."""

    def body() -> None:
        s = settings(ctx)
        fra_bin = shutil.which("fra") or str(Path(sys.argv[0]).resolve())
        env_file = Path.cwd() / ".env"
        files = units(fra_bin, s.db_path.resolve(), every, env_file if env_file.exists() else None)
        for name in ("fra-cycle.service", "fra-cycle.timer"):
            print(f"# --- {name} ---\n{files[name]}")
        print(f"# --- or one crontab line (crontab -e) ---\n{files['crontab']}")
        if write:
            unit_dir.mkdir(parents=True, exist_ok=True)
            for name in ("fra-cycle.service", "fra-cycle.timer"):
                # 0600: the unit carries the environment fra runs with.
                path = unit_dir / name
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(files[name])
                path.chmod(0o600)
            print(
                f"\nwrote {unit_dir}/fra-cycle.service and .timer; enable with:\n"
                "  systemctl --user daemon-reload && systemctl --user enable --now fra-cycle.timer"
            )

    guarded(body)
