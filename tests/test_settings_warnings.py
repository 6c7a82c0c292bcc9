"""Settings that would be ignored without a word: FRA_* names no setting reads (in the
environment or .env), and an allowlist naming perpetuals the venue does not list."""

from __future__ import annotations

import pytest
from conftest import Fra, assert_refused

from fra.errors import ExitCode

TYPO = "FRA_RISK__MAX_POSITON_USD"
REAL = "FRA_RISK__MAX_POSITION_USD"


@pytest.fixture
def ready(fra: Fra) -> Fra:
    fra("scan")
    return fra


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_a_misspelt_variable_is_named_with_the_real_one(ready: Fra) -> None:
    del ready.env[REAL]  # the harness pins it; the typo alone must not look like a cap
    result = ready("status", **{TYPO: "500"})
    assert warnings(result.stderr) == [
        f"warning: {TYPO} (in the environment) is not a setting fra reads and is ignored;"
        f" did you mean {REAL}?"
    ]
    # The typo is ignored: no cap in force (the value the person meant is not).
    assert ready.json("config", **{TYPO: "500"})["risk"]["max_position_usd"] is None


def test_a_misspelt_name_in_the_env_file_is_named_too(ready: Fra) -> None:
    (ready.workdir / ".env").write_text(
        "FRA_STRATEGY__MIN_FUNDNG_RATE=0.001\nOTHER_TOOL=1\nFRA_RISK__LEVERAGE=2\n"
    )
    result = ready("rank", "--json")
    assert warnings(result.stderr) == [
        "warning: FRA_STRATEGY__MIN_FUNDNG_RATE (in .env) is not a setting fra reads and is"
        " ignored; did you mean FRA_STRATEGY__MIN_FUNDING_RATE?"
    ]


def test_every_unknown_name_gets_a_line_and_a_stranger_no_guess(ready: Fra) -> None:
    result = ready("status", FRA_RISK__LEVRAGE="5", fra_sim__speedupp="2", FRA_ZZZZZZZZZZZZZZZZ="1")
    lines = warnings(result.stderr)
    assert len(lines) == 3, result.stderr
    assert "did you mean FRA_RISK__LEVERAGE?" in lines[0]
    # pydantic-settings reads names in any case, so a lower-case one is judged as well.
    assert lines[1].startswith("warning: fra_sim__speedupp ") and "FRA_SIM__SPEEDUP?" in lines[1]
    assert lines[2].endswith("ignored; see `fra config`")


def test_known_names_in_any_case_and_groups_as_json_are_not_warned_about(ready: Fra) -> None:
    result = ready("status", fra_risk__leverage="2", FRA_PAPER='{"fill_delay_ms": 0}')
    assert warnings(result.stderr) == []
    assert ready("status").stderr == ""


def test_config_lists_the_ignored_names_in_its_output(ready: Fra) -> None:
    data = ready.json("config", **{TYPO: "500"})
    assert data["unknown_variables"] == [{"name": TYPO, "source": "environment", "closest": REAL}]
    result = ready("config", **{TYPO: "500"})
    # Shown once, in the output, rather than also on stderr.
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1].startswith(f"warning: {TYPO} (in the environment)")
    assert ready.json("config")["unknown_variables"] == []


def test_the_renamed_margin_settings_are_still_refused(ready: Fra) -> None:
    err = assert_refused(
        ready,
        ["status"],
        ExitCode.BAD_INPUT,
        "FRA_RISK__TOPUP_CUSHION",
        FRA_RISK__MARGIN_TOPUP="0.08",
    )
    assert "renamed" in err


# -- FRA_STRATEGY__SYMBOLS ----------------------------------------------------------------------


def test_an_allowlist_entry_the_venue_does_not_list_is_warned_about(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=["BTCUSDT", "ETH/USDT:USDT", "ZZZZ/USDT:USDT"])
    scanned = fra("scan").stderr
    assert (
        "FRA_STRATEGY__SYMBOLS: BTCUSDT matches no perpetual on SIMULATED; did you mean"
        " BTC/USDT:USDT? (perpetuals are written in ccxt's unified form, e.g. BTC/USDT:USDT)"
    ) in scanned
    assert "ZZZZ/USDT:USDT matches no perpetual on SIMULATED; is it listed there?" in scanned
    assert "ETH/USDT:USDT matches" not in scanned

    # rank on the stored snapshot, in a process of its own as cron runs it.
    process = fra.spawn("rank")
    _, ranked = process.communicate(timeout=60)
    assert process.returncode == 0, ranked
    assert ranked.count("matches no perpetual") == 2, ranked

    cycle = fra("run-cycle").stderr
    assert cycle.count("BTCUSDT matches no perpetual") == 1, cycle


def test_an_allowlist_the_venue_lists_is_quiet(fra: Fra) -> None:
    fra.set(FRA_STRATEGY__SYMBOLS=["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert "FRA_STRATEGY__SYMBOLS" not in fra("scan").stderr
    assert "FRA_STRATEGY__SYMBOLS" not in fra("run-cycle").stderr
