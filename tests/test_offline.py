"""Without a network: the error says why the exchange could not be reached, whether anything
was done, and how to try fra offline."""

from __future__ import annotations

import socket

import pytest
from conftest import Fra
from test_binance import ETH, make_emulator, paper_on

from fra.emulator import Fault
from fra.errors import ExitCode, from_venue
from fra.venues.base import VenueError

UNRESOLVABLE = "http://nonexistent.invalid"


def closed_port() -> str:
    """The address of a port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def resolver_says(host: str) -> str:
    """This machine's words for a failed lookup of `host` (glibc: "Name or service not known")."""
    try:
        socket.getaddrinfo(host, 80)
    except socket.gaierror as exc:
        return str(exc.strerror).lower()
    pytest.skip(f"{host} resolves on this machine")


def offline(fra: Fra, url: str) -> Fra:
    return fra.set(
        FRA_VENUE="binance", FRA_VENUE_URL=url, FRA_VENUE_RETRIES="0", FRA_STRATEGY__SYMBOLS=[ETH]
    )


def one_line(stderr: str) -> str:
    err = stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("command", [["scan"], ["rank", "--refresh"], ["run-cycle"]])
def test_an_unresolvable_host_is_named_and_nothing_was_done(fra: Fra, command: list[str]) -> None:
    cause = resolver_says("nonexistent.invalid")
    err = one_line(offline(fra, UNRESOLVABLE)(*command, code=ExitCode.VENUE).stderr)
    assert f"binance could not be reached: {cause} (binance GET {UNRESOLVABLE}/" in err, err
    assert "; nothing was done; check the network and FRA_VENUE_URL" in err
    assert err.endswith("or try fra offline with --venue simulated")
    assert "reconciles anything half-done" not in err


def test_a_refused_connection_is_named_after_the_retries(fra: Fra) -> None:
    url = closed_port()
    err = one_line(offline(fra, url)("scan", code=ExitCode.VENUE, FRA_VENUE_RETRIES="1").stderr)
    assert f"binance could not be reached: connection refused (binance GET {url}/" in err, err
    assert "nothing was done" in err and "--venue simulated" in err


def test_a_cycle_with_positions_that_loses_the_network(fra: Fra) -> None:
    with make_emulator() as emu:
        paper = paper_on(fra, emu)
        paper("run-cycle")
        assert [p["symbol"] for p in paper.json("status")["positions"]] == [ETH]
        url = emu.url
    # The emulator is gone: its port refuses, as an exchange does when the network is down.
    orders = fra.query("SELECT COUNT(*) FROM orders")
    result = fra("run-cycle", code=ExitCode.VENUE, FRA_VENUE_URL=url, FRA_VENUE_RETRIES="0")
    err = one_line(result.stderr)
    assert "binance could not be reached: connection refused" in err, err
    assert "nothing was done" in err
    assert fra.query("SELECT COUNT(*) FROM orders") == orders
    # The exchange's clock is read before a cycle starts: no cycle row was begun.
    assert fra.query("SELECT outcome FROM cycles") == [("ok",)]


def test_the_state_file_is_left_as_it_was(fra: Fra) -> None:
    with make_emulator() as emu:
        paper_on(fra, emu)("scan")
        url = emu.url
    before = fra.fingerprint()
    err = one_line(fra("scan", code=ExitCode.VENUE, FRA_VENUE_URL=url).stderr)
    assert "nothing was done" in err
    assert fra.fingerprint() == before


def test_only_a_command_that_sent_nothing_says_nothing_was_done() -> None:
    down = VenueError("connection refused (binance GET /x)", temporary=True, kind="unreachable")
    sent = str(from_venue(down, "binance", nothing_done=False))
    assert "nothing was done" not in sent
    assert "the next `fra run-cycle` reconciles anything half-done" in sent
    assert "--venue simulated" in sent
    unknown = str(from_venue(down, "binance"))
    assert "nothing was done" not in unknown


def test_a_cycle_that_fails_before_trading_says_nothing_was_done(fra: Fra) -> None:
    with make_emulator() as emu:
        paper = paper_on(fra, emu)
        paper("scan")  # the markets are cached: the cycle starts before its first request
        emu.inject(Fault("/fapi/v1/premiumIndex", "GET", "maintenance", times=5))
        err = one_line(paper("run-cycle", code=ExitCode.VENUE).stderr)
    assert "binance did not answer after retries" in err, err
    assert err.endswith("; nothing was done; temporary: the next `fra run-cycle` retries")
    assert fra.query("SELECT outcome, exit_code FROM cycles") == [("error", ExitCode.VENUE)]
    assert fra.query("SELECT COUNT(*) FROM orders") == [(0,)]
