"""Choosing a venue and a mode: bad choices are refused before anything is touched, and a state
file keeps to the one venue and mode it was made for."""

from __future__ import annotations

import pytest
from conftest import Fra
from test_bad_input import assert_refused, ready  # noqa: F401  (fixture)

from fra.errors import ExitCode


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FRA_VENUE": "notanexchange"}, ["FRA_VENUE='notanexchange'", "unknown exchange id"]),
        ({"FRA_MODE": "live", "FRA_VENUE": "binance"}, ["FRA_MODE", "FRA_LIVE__CONFIRM=true"]),
        (
            {"FRA_MODE": "live", "FRA_LIVE__CONFIRM": "true", "FRA_VENUE": "binance"},
            ["FRA_API_KEY", "FRA_API_SECRET"],
        ),
        (
            {"FRA_MODE": "live", "FRA_LIVE__CONFIRM": "true", "FRA_VENUE": "okx"},
            ["binance only"],
        ),
        ({"FRA_MODE": "dry"}, ["FRA_MODE='dry'"]),
        ({"FRA_LIVE__MARGIN_MODE": "portfolio"}, ["FRA_LIVE__MARGIN_MODE"]),
        ({"FRA_MARKETS_TTL_MINUTES": "-1"}, ["FRA_MARKETS_TTL_MINUTES"]),
    ],
)
def test_bad_venue_settings_exit_2_and_change_nothing(
    ready: Fra,  # noqa: F811
    env: dict[str, str],
    words: list[str],
) -> None:
    for command in (["run-cycle"], ["status"], ["scan"]):
        assert_refused(ready, command, ExitCode.BAD_INPUT, *words, **env)


def test_unknown_exchange_on_a_new_path_leaves_no_state_file(fra: Fra) -> None:
    fra("scan", code=ExitCode.BAD_INPUT, FRA_VENUE="nope")
    assert not fra.db.exists()


def test_an_exchange_without_perpetuals_is_refused(fra: Fra) -> None:
    # kraken's ccxt class has no swaps: refused when the venue is built, before any request.
    result = fra("scan", code=ExitCode.BAD_INPUT, FRA_VENUE="kraken")
    assert "no perpetual swaps with funding data" in result.stderr
    assert not fra.db.exists()


def test_a_state_file_keeps_to_its_venue(ready: Fra) -> None:  # noqa: F811
    err = assert_refused(
        ready,
        ["run-cycle"],
        ExitCode.BAD_INPUT,
        "holds paper trading on simulated",
        FRA_VENUE="binance",
    )
    assert "--db" in err
    # A venue left at its default follows the file: `fra status` needs no flag.
    env = {k: v for k, v in ready.env.items() if k != "FRA_VENUE"}
    ready.env = env
    status = ready.json("status")
    assert status["venue"] == "SIMULATED" and len(status["positions"]) == 1


def test_live_and_paper_never_share_the_default_state_file(fra: Fra) -> None:
    from fra.settings import load_settings

    live = load_settings(
        mode="live", live={"confirm": True}, api_key="k", api_secret="s", venue="binance"
    )
    paper = load_settings(venue="binance")
    assert paper.db_path.name == "state.db" and live.db_path.name == "state-live.db"


def test_secrets_never_appear_in_config_or_errors(fra: Fra) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    out = fra("config", "--json", FRA_API_KEY="key-123456", FRA_API_SECRET=secret)
    assert secret not in out.stdout and "key-123456" not in out.stdout
    bad = fra("scan", code=ExitCode.BAD_INPUT, FRA_API_SECRET=secret, FRA_MODE="live")
    assert secret not in bad.stderr + bad.stdout


def test_the_request_budget_lets_a_scan_through_and_slows_a_long_pagination() -> None:
    from fra.venues.exchange import BURST_SECONDS, RequestBudget

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RequestBudget(50, clock=lambda: now[0], sleep=sleep)  # Binance: 20 units/s
    # A warm Binance scan: funding, intervals, both 24h tickers, book tickers.
    for cost in (10, 1, 16, 40, 5):
        budget(cost)
    assert slept == [], "a scan is well inside the budget"
    # A pagination of 200 weight-1 pages drains the burst, then goes at the exchange's rate.
    for _ in range(200):
        budget(1)
    assert now[0] == pytest.approx((72 + 200) / 20 - BURST_SECONDS)
    # Idle time refills the bucket, up to its size.
    now[0] += 3600
    budget(float(BURST_SECONDS * 20))
    assert now[0] == pytest.approx((72 + 200) / 20 - BURST_SECONDS + 3600)
