"""fra install-timer"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import typer

from fra.commands.common import guarded, print_json, settings
from fra.errors import BadInput

SECRETS_FILE = "fra-secrets.env"


def units(
    fra_bin: str,
    workdir: Path,
    db: Path,
    every_minutes: int,
    environ: dict[str, str],
    secrets_file: Path | None,
    masked: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """The systemd service and timer, the crontab line and the secrets file's text for cycles
    that run in `workdir` with the FRA_* settings of `environ` on the state file `db`.
    `masked`: names `fra config` masks, kept out of the unit and the line like the keys."""
    from fra.env_names import setting_names

    known = {name: secret or name in masked for name, secret in setting_names().items()}
    env = {k: v for k, v in environ.items() if k.upper().startswith("FRA_")}
    # The state file is always named, so the timer trades the file this command was shown.
    env["FRA_DB"] = str(db)
    private = {k: v for k, v in sorted(env.items()) if _is_secret(k, known)}
    public = {k: v for k, v in sorted(env.items()) if k not in private}
    env_file_line = f"EnvironmentFile={secrets_file}\n" if secrets_file and private else ""
    passthrough = "".join(f"Environment={_systemd_word(f'{k}={v}')}\n" for k, v in public.items())
    service = (
        "[Unit]\n"
        "Description=fra funding-rate arbitrage cycle\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_path(workdir)}\n"
        f"{env_file_line}{passthrough}"
        f"ExecStart={_systemd_word(fra_bin)} run-cycle\n"
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
    # Only the value is quoted: a quoted `'NAME=value'` word is a command to the shell, which
    # cron would fail to find on every tick.
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in public.items())
    source = ""
    if secrets_file and private:
        source = f"set -a && . {shlex.quote(str(secrets_file))} && set +a && "
    command = (
        f"cd {shlex.quote(str(workdir))} && {source}{assignments} "
        f"{shlex.quote(fra_bin)} run-cycle >> {shlex.quote(str(workdir / 'fra-cron.log'))} 2>&1"
    )
    # cron turns an unescaped % into a newline (the rest is the command's stdin).
    cron = f"*/{every_minutes} * * * * " + command.replace("%", "\\%")
    secrets = "".join(f"{k}={_single_quoted(k, v)}\n" for k, v in private.items())
    return {
        "fra-cycle.service": service,
        "fra-cycle.timer": timer,
        "crontab": cron,
        SECRETS_FILE: secrets,
    }


def _is_secret(name: str, known: dict[str, bool]) -> bool:
    upper = name.upper()
    if upper in known:
        return known[upper]
    # A misspelt key name (FRA_API_KEYY) is still a key: it must not land in the unit either.
    return any(w in upper for w in ("KEY", "SECRET", "TOKEN", "PASSWORD"))


def _systemd_word(text: str) -> str:
    """One word for a unit file: double-quoted, with systemd's escapes (backslash, quote,
    control characters) and its specifier character % doubled."""
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "%":
            out.append("%%")
        elif not c.isprintable():
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _systemd_path(path: Path) -> str:
    text = str(path)
    if any(not c.isprintable() for c in text):
        raise BadInput(
            f"the directory {text!r} has control characters a unit file cannot hold",
            "run install-timer from a directory with a plain name",
        )
    return text.replace("%", "%%")


def _single_quoted(name: str, value: str) -> str:
    # The one quoting sh's `.` and systemd's EnvironmentFile= read alike: no escapes inside.
    if "'" in value or "\n" in value or "\r" in value:
        raise BadInput(
            f"{name} holds a quote or a line break, which the secrets file cannot carry",
            "check the value (API keys and secrets are letters and digits)",
        )
    return f"'{value}'"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only from the first byte on."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT


def install_timer(
    ctx: typer.Context,
    every: int = typer.Option(5, "--every", min=1, max=59, help="Minutes between cycles."),
    write: bool = typer.Option(
        False,
        "--write",
        help="Write the unit files to --unit-dir (and API keys from the environment to"
        f" ./{SECRETS_FILE}).",
    ),
    unit_dir: Path = typer.Option(
        Path.home() / ".config" / "systemd" / "user", "--unit-dir", help="Where --write puts them."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the files and what was written as JSON."
    ),
) -> None:
    """Print a systemd service + timer and the equivalent crontab line that run `fra run-cycle`
    in this directory with this environment (--write installs the unit files). API keys set in
    the environment go to a file of their own, 0600, which both read."""

    def body() -> None:
        s = settings(ctx)
        fra_bin = shutil.which("fra") or str(Path(sys.argv[0]).resolve())
        # The cycle runs where this command runs: fra reads the .env here itself, and relative
        # paths in the settings mean what they mean now.
        workdir = Path.cwd()
        secrets_path = workdir / SECRETS_FILE
        from fra.env_names import masked_names
        from fra.settings import masked

        hidden = masked_names(masked(s), s.model_dump(mode="json"))
        files = units(
            fra_bin, workdir, s.db_path.resolve(), every, dict(os.environ), secrets_path, hidden
        )
        secrets = files[SECRETS_FILE]
        if as_json:
            _report_json(files, write, secrets_path, unit_dir)
            return
        for name in ("fra-cycle.service", "fra-cycle.timer"):
            print(f"# --- {name} ---\n{files[name]}")
        print(f"# --- or one crontab line (crontab -e) ---\n{files['crontab']}")
        if secrets and write:
            write_private(secrets_path, secrets)
            print(f"\nwrote {_names(secrets)} to {secrets_path} (0600): both read it")
        elif secrets and not _holds(secrets_path, secrets):
            print(
                f"note: {_names(secrets)} from the environment go in neither the unit nor the"
                f" crontab line; --write stores them in {secrets_path} (0600), which both read",
                file=sys.stderr,
            )
        if write:
            unit_dir.mkdir(parents=True, exist_ok=True)
            for name in ("fra-cycle.service", "fra-cycle.timer"):
                # 0600: the unit carries the environment fra runs with.
                write_private(unit_dir / name, files[name])
            print(
                f"\nwrote {unit_dir}/fra-cycle.service and .timer; enable with:\n"
                "  systemctl --user daemon-reload && systemctl --user enable --now fra-cycle.timer"
            )

    guarded(body)


def _report_json(files: dict[str, str], write: bool, secrets_path: Path, unit_dir: Path) -> None:
    """The same as the text output: the files, and with --write where they went. The secrets
    file's content is never printed, only the names it holds."""
    secrets = files[SECRETS_FILE]
    wrote: list[str] = []
    if write:
        if secrets:
            write_private(secrets_path, secrets)
            wrote.append(str(secrets_path))
        unit_dir.mkdir(parents=True, exist_ok=True)
        for name in ("fra-cycle.service", "fra-cycle.timer"):
            write_private(unit_dir / name, files[name])
            wrote.append(str((unit_dir / name).resolve()))
    print_json(
        {
            "service": files["fra-cycle.service"],
            "timer": files["fra-cycle.timer"],
            "crontab": files["crontab"].strip(),
            "secrets_file": str(secrets_path) if secrets else None,
            "secret_names": _names(secrets).split(", ") if secrets else [],
            "secrets_written": bool(secrets) and (write or _holds(secrets_path, secrets)),
            "wrote": wrote,
        }
    )


def _names(secrets: str) -> str:
    return ", ".join(line.partition("=")[0] for line in secrets.splitlines())


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except OSError:
        return False
