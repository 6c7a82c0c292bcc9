"""fra config names the files fra uses and where each setting's value came from: a flag, the
environment, the .env file or the default, merged as pydantic-settings merges them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Fra

ENV_FILE = (
    "FRA_VENUE=bybit\n"
    "FRA_RISK__MAX_POSITIONS=7\n"
    "FRA_RISK__LEVERAGE=4\n"
    'FRA_STRATEGY__SYMBOLS=["ETH/USDT:USDT"]\n'
)


@pytest.fixture
def layered(fra: Fra) -> Fra:
    """A real .env in the directory fra runs in; the harness's own FRA_RISK__MAX_POSITIONS is
    taken out of the environment so that the file's can show."""
    (fra.workdir / ".env").write_text(ENV_FILE)
    del fra.env["FRA_RISK__MAX_POSITIONS"]
    return fra


def rows(stdout: str) -> dict[str, list[str]]:
    """Each table row's cells by its first cell (a pipe keeps rows unwrapped)."""
    out = {}
    for text in stdout.splitlines():
        if text.startswith("│"):
            cells = [c.strip() for c in text.strip("│").split("│")]
            out[cells[0]] = cells[1:]
    return out


def leaves(data: dict, skip: tuple[str, ...] = (), prefix: str = "FRA_") -> list[str]:
    out = []
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            out += leaves(value, (), f"{prefix}{key.upper()}__")
        else:
            out.append(f"{prefix}{key.upper()}")
    return out


def test_each_value_names_its_source_in_json_and_the_table(layered: Fra) -> None:
    env = {"FRA_VENUE": "okx", "FRA_RISK": '{"leverage": 5}'}
    data = layered.json("--venue", "simulated", "config", **env)
    sources = data["sources"]
    # The flag beats the environment, which beats .env.
    assert (data["venue"], sources["FRA_VENUE"]) == ("simulated", "flag (--venue)")
    # A group's JSON in the environment beats the same value by its own name in .env ...
    assert (data["risk"]["leverage"], sources["FRA_RISK__LEVERAGE"]) == (5, "environment")
    # ... and leaves the group's other values to .env: the sources merge value by value.
    assert (data["risk"]["max_positions"], sources["FRA_RISK__MAX_POSITIONS"]) == (7, ".env")
    assert data["strategy"]["symbols"] == ["ETH/USDT:USDT"]
    assert sources["FRA_STRATEGY__SYMBOLS"] == ".env"
    assert (data["risk"]["margin_alert"], sources["FRA_RISK__MARGIN_ALERT"]) == ("0.3", "default")
    assert sources["FRA_DB"] == "environment"  # the harness sets it
    # Every value has a source, and only values do (not a group's own name).
    assert set(sources) == set(leaves(data, ("files", "sources", "unknown_variables")))
    assert set(sources.values()) == {"flag (--venue)", "environment", ".env", "default"}

    table = rows(layered("--venue", "simulated", "config", **env).stdout)
    assert table["FRA_VENUE"] == ["simulated", "flag (--venue)"]
    assert table["FRA_RISK__LEVERAGE"] == ["5", "environment"]
    assert table["FRA_RISK__MAX_POSITIONS"] == ["7", ".env"]
    assert table["FRA_STRATEGY__SYMBOLS"] == ["['ETH/USDT:USDT']", ".env"]
    assert table["FRA_RISK__MARGIN_ALERT"] == ["0.3", "default"]


def test_without_the_flag_the_environment_wins_and_without_that_the_env_file(
    layered: Fra,
) -> None:
    data = layered.json("config", FRA_VENUE="okx")
    assert (data["venue"], data["sources"]["FRA_VENUE"]) == ("okx", "environment")
    del layered.env["FRA_VENUE"]
    data = layered.json("config")
    assert (data["venue"], data["sources"]["FRA_VENUE"]) == ("bybit", ".env")
    (layered.workdir / ".env").unlink()
    data = layered.json("config")
    assert (data["venue"], data["sources"]["FRA_VENUE"]) == ("binance", "default")
    assert data["files"]["env_file"]["exists"] is False


def test_a_name_in_the_environment_beats_its_group_json_in_the_env_file(fra: Fra) -> None:
    (fra.workdir / ".env").write_text('fra_risk={"leverage": 6, "margin_alert": "0.2"}\n')
    data = fra.json("config", FRA_RISK__LEVERAGE="2")
    assert (data["risk"]["leverage"], data["sources"]["FRA_RISK__LEVERAGE"]) == (2, "environment")
    assert (data["risk"]["margin_alert"], data["sources"]["FRA_RISK__MARGIN_ALERT"]) == (
        "0.2",
        ".env",
    )


def test_files_are_absolute_paths_and_config_creates_none_of_them(fra: Fra) -> None:
    before = sorted(p.name for p in fra.workdir.iterdir())
    env = {"FRA_DB": "books/paper.db", "FRA_HISTORY_DB": "hist.db"}
    data = fra.json("config", **env)
    base = fra.workdir.resolve()
    assert data["files"] == {
        "state": {"path": str(base / "books" / "paper.db"), "exists": False},
        "history": {"path": str(base / "hist.db"), "exists": False},
        "log": {"path": str(base / "books" / "paper.db.log.jsonl"), "exists": False},
        "env_file": {"path": str(base / ".env"), "exists": False},
    }
    assert data["db"] == "books/paper.db"  # the setting as given; files shows where it leads
    table = rows(fra("config", **env).stdout)
    assert table["state"] == [str(base / "books" / "paper.db"), "no"]
    assert table[".env"] == [str(base / ".env"), "no"]
    assert sorted(p.name for p in fra.workdir.iterdir()) == before, "fra config created a file"


def test_files_say_which_exist_and_the_db_flag_is_a_source(fra: Fra) -> None:
    fra("resume")  # creates the state file
    (fra.workdir / ".env").write_text("FRA_RISK__LEVERAGE=2\n")
    data = fra.json("config")
    assert data["files"]["state"] == {"path": str(fra.db.resolve()), "exists": True}
    assert data["files"]["env_file"]["exists"] is True
    other = fra.workdir / "other.db"
    flagged = fra.json("--db", str(other), "config")
    assert flagged["files"]["state"] == {"path": str(other.resolve()), "exists": False}
    assert flagged["sources"]["FRA_DB"] == "flag (--db)"
    assert flagged["files"]["history"]["path"] == str(Path(other.resolve()).with_name("history.db"))
    assert not other.exists()
