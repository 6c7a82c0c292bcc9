"""The CLI's habits (issue 13): version, help, completion, JSON everywhere, one symbol form,
warnings about stale or short data, and a Ctrl-C that says what it does."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import Fra

from fra import __version__


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
