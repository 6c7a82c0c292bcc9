"""Test harness: the real CLI against a real state.db in a temporary directory, on the
simulated market with a pinned clock."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fra.cli import app

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# The machinery's tests (orders, crashes, margin, accounting) were written against these
# settings, pinned so that the strategy's defaults can move without rewriting them: they
# decide on the venue's current rate alone (a forced funding shock makes a pair hot at once),
# with fixed USD limits. The strategy's own rules have tests of their own.
PINNED = {
    "FRA_STRATEGY__PREDICTED_WEIGHT": "1",
    "FRA_STRATEGY__MIN_FUNDING_RATE": "0.0003",
    "FRA_STRATEGY__EXIT_FUNDING_RATE": "0.00005",
    "FRA_STRATEGY__MIN_HOLDING_PERIODS": "21",
    "FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS": "72",
    "FRA_RISK__MAX_POSITIONS": "3",
    "FRA_RISK__MAX_POSITION_USD": "2000",
    "FRA_RISK__MAX_TOTAL_EXPOSURE_USD": "6000",
}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Fra:
    """Runs `fra` with a given environment and clock; keeps state in `self.db`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db = workdir / "state.db"
        self.now = T0
        self.env: dict[str, str] = {"FRA_DB": str(self.db), "FRA_VENUE": "simulated", **PINNED}

    # -- time and settings ----------------------------------------------------------------

    def at(self, when: datetime) -> Fra:
        self.now = when
        return self

    def advance(self, **delta: float) -> Fra:
        self.now += timedelta(**delta)
        return self

    def set(self, **env: Any) -> Fra:
        for key, value in env.items():
            self.env[key] = value if isinstance(value, str) else json.dumps(value)
        return self

    def shocks(self, *texts: str) -> Fra:
        return self.set(FRA_SIM__SHOCKS=list(texts))

    def full_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.env, "FRA_SIM__NOW": iso(self.now), **(extra or {})}

    # -- running ---------------------------------------------------------------------------

    def __call__(self, *args: str, code: int | None = 0, **extra: str) -> Any:
        result = CliRunner().invoke(app, list(args), env=self.full_env(extra))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        if code is not None:
            assert result.exit_code == code, (
                f"fra {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str, code: int | None = 0, **extra: str) -> Any:
        return json.loads(self(*args, "--json", code=code, **extra).stdout)

    def process_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a real `fra` process: this test's settings, none of the caller's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
        env.update(self.full_env(extra))
        return env

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """`python -m fra ...` in a real process (signals, locks, concurrency)."""
        return subprocess.Popen(
            [sys.executable, "-m", "fra", *args],
            cwd=self.workdir,
            env=self.process_env(extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_as_from_a_terminal,
        )

    # -- looking at the state file -----------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def wait_for(self, sql: str, timeout: float = 20.0) -> list[tuple[Any, ...]]:
        """Poll the state file until `sql` returns rows (another process got that far)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.db.exists():
                try:
                    rows = self.query(sql)
                except sqlite3.Error:  # the other process may be creating the schema now
                    rows = []
                if rows:
                    return rows
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {sql}")

    def fingerprint(self) -> str:
        """Hash of the state file's bytes, its WAL included: 'exactly as it was'."""
        digest = hashlib.sha256()
        for suffix in ("", "-wal"):
            path = Path(str(self.db) + suffix)
            if path.exists():
                digest.update(path.read_bytes())
        return digest.hexdigest()


def _as_from_a_terminal() -> None:
    # A shell runs background jobs with SIGINT ignored, and an ignored signal stays ignored
    # across exec: fra respects that (nohup's way), so a suite started with `&` would see
    # Ctrl-C ignored. Children start with SIGINT as a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_refused(fra: Fra, args: list[str], code: int, *words: str, **env: str) -> str:
    """The command exits `code` with one line holding `words`, the state file untouched."""
    before = fra.fingerprint()
    result = fra(*args, code=code, **env)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert fra.fingerprint() == before, "the state file changed"
    return err


def legs(fra: Fra, position_id: int = 1) -> tuple[Decimal, Decimal]:
    """(spot held, perp short) of a position, summed from its fills in the state file."""
    spot = perp = Decimal(0)
    for leg, side, filled, fee, fee_currency in fra.query(
        "SELECT leg, side, filled, fee, fee_currency FROM orders WHERE position_id = ?",
        (position_id,),
    ):
        qty = Decimal(filled)
        if leg == "spot":
            spot += qty if side == "buy" else -qty
            if side == "buy" and fee_currency != "USDT":
                spot -= Decimal(fee)
        else:
            perp += qty if side == "sell" else -qty
    return spot, perp


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until `condition()` holds (another process or thread got that far)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a real exchange: any connection beyond 127.0.0.1 fails at once."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            raise ConnectionRefusedError(f"tests may not connect to {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def fra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fra:
    # A developer's own FRA_* variables or .env must not leak into tests.
    for key in list(os.environ):
        if key.startswith("FRA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return Fra(tmp_path)
