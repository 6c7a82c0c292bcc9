"""Notifications and the dead man's switch, through the CLI: messages reach a local HTTP receiver
through apprise's own JSON transport (json://127.0.0.1:PORT/...), one per change of condition,
reminded at the repeat interval, never holding up or changing a cycle."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from conftest import T0, Fra, assert_refused, iso

from fra.core.alerts import Condition, Kind, Level, decide, health, mask_url, scrub
from fra.emulator import (
    DEFAULT_API_KEY,
    DEFAULT_SECRET,
    BinanceEmulator,
    EmulatorClock,
    Fault,
)
from fra.venues.simulated import parse_shock

ETH = "ETH/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"
HOUR_MS = 3_600_000


class Receiver:
    """A notification service and a heartbeat monitor on 127.0.0.1. With `hold` set, every
    request waits (for `release()`) before it is answered: a service that does not answer."""

    def __init__(self, port: int = 0) -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.pings: list[str] = []
        self.waiting = 0
        self.hold = False
        self._released = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hold:
                    receiver.waiting += 1
                    receiver._released.wait(60)
                receiver.messages.append(json.loads(body))
                receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.pings.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def heartbeat(self) -> str:
        return f"http://127.0.0.1:{self.port}/ping"

    def titles(self) -> list[str]:
        return [m["title"].split(": ", 1)[1] for m in self.messages]

    def take(self) -> list[str]:
        """Titles received since the last take."""
        titles = self.titles()
        self.messages.clear()
        self.paths.clear()
        return titles

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notifying(fra: Fra, *urls: str, **env: str) -> Fra:
    return fra.set(FRA_NOTIFY__URLS=list(urls), FRA_STRATEGY__SYMBOLS=[ETH], **env)


@contextmanager
def on_emulator(fra: Fra, receiver: Receiver, **env: str) -> Iterator[BinanceEmulator]:
    """The Binance emulator from T0 with ETH's funding hot, fra pointed at it and notifying."""
    clock = EmulatorClock.running_from(int(T0.timestamp() * 1000))
    with BinanceEmulator(clock=clock, shocks=[parse_shock(HOT)]) as emu:
        notifying(
            fra,
            receiver.url(),
            FRA_VENUE="binance",
            FRA_VENUE_URL=emu.url,
            FRA_VENUE_RETRIES="0",
            FRA_VENUE_TIMEOUT_SECONDS="2",
            **env,
        )
        yield emu


def deliveries(fra: Fra) -> list[tuple[str, str, int]]:
    return fra.query(
        "SELECT n.title, d.state, d.attempts FROM notification_deliveries d"
        " JOIN notifications n ON n.id = d.notification_id ORDER BY n.id"
    )


# -- conditions: start, reminder, clear ------------------------------------------------------


def test_margin_alert_is_sent_when_it_starts_reminded_and_cleared(
    fra: Fra, receiver: Receiver
) -> None:
    notifying(
        fra,
        receiver.url(),
        FRA_RISK__LEVERAGE="3",
        FRA_RISK__MARGIN_ALERT="0.02",
        FRA_RISK__MARGIN_CRITICAL="0.1",
        FRA_RISK__TOPUP_CUSHION="0",
        FRA_NOTIFY__REPEAT_HOURS="4",
    ).shocks(HOT, f"{ETH}@{iso(T0 + timedelta(hours=1))}:price=+18%:hours=12")
    fra("run-cycle")
    assert receiver.take() == [f"opened {ETH}"]
    assert receiver.messages == [] and receiver.pings == []

    fra.advance(hours=3)
    fra("run-cycle", code=7)
    [alert] = receiver.messages
    assert alert["type"] == "warning"
    assert receiver.take() == ["margin alert"]
    assert "worst margin ratio" in alert["message"]

    # Every cycle sees the alert; only the start and the reminders are sent.
    fra.advance(hours=1)
    fra("run-cycle", code=7)
    fra.advance(hours=2)
    fra("run-cycle", code=7)
    assert receiver.take() == []
    fra.advance(hours=1, minutes=1)  # 4 h after the alert was sent
    fra("run-cycle", code=7)
    assert receiver.take() == ["still: margin alert"]
    fra.advance(hours=1)
    fra("run-cycle", code=7)
    assert receiver.take() == []

    fra.at(T0 + timedelta(hours=14))  # the rally is over
    fra("run-cycle")
    [cleared] = receiver.messages
    assert receiver.take() == ["cleared: margin alert"]
    assert cleared["type"] == "warning" and "over after" in cleared["message"]
    fra.advance(hours=5)
    fra("run-cycle")
    assert receiver.take() == []
    assert fra.query("SELECT COUNT(*) FROM notify_conditions") == [(0,)]
    assert {state for _, state, _ in deliveries(fra)} == {"sent"}


def test_levels_route_messages_and_a_liquidation_is_critical(fra: Fra, receiver: Receiver) -> None:
    # +40 % on ETH with a third of the notional as margin: the (paper) venue liquidates the short.
    notifying(fra, receiver.url("all"), f"critical={receiver.url('pager')}").shocks(
        HOT, f"{ETH}@{iso(T0 + timedelta(hours=1))}:price=+40%:hours=12"
    )
    fra("run-cycle")
    assert receiver.paths == ["/all"]  # an open is news, not an emergency
    receiver.take()

    fra.advance(hours=3)
    fra("run-cycle", code=8)
    assert sorted(receiver.paths) == ["/all", "/pager"]  # one notification each for the run
    pager = receiver.messages[receiver.paths.index("/pager")]
    assert pager["type"] == "failure"
    assert "(critical)" in pager["title"]
    for said in ("LIQUIDATED: ETH/USDT:USDT", "emergency stop: trading halted", "margin critical"):
        assert said in pager["message"]
    receiver.take()

    fra.advance(hours=1)
    fra("run-cycle")  # halted; no short is in trouble any more
    assert sorted(receiver.paths) == ["/all", "/pager"]
    assert set(receiver.take()) == {"cleared: margin critical"}
    fra.advance(hours=1)
    fra("run-cycle")
    assert receiver.take() == []
    fra("resume")
    assert sorted(receiver.paths) == ["/all", "/pager"]
    assert set(receiver.take()) == {"cleared: emergency stop: trading halted"}


def test_open_close_and_emergency_stop_are_said_at_once_with_the_pnl(
    fra: Fra, receiver: Receiver
) -> None:
    notifying(fra, receiver.url()).shocks(HOT)
    fra("open", ETH, "--size", "500")
    assert receiver.take() == [f"opened {ETH}"]
    fra.advance(hours=9)
    fra("close", "1")
    [closed] = receiver.messages
    assert receiver.take() == [f"closed {ETH}"]
    [net] = fra.query("SELECT realized_net FROM positions WHERE id = 1")
    assert f"net {float(net[0]):,.2f} USDT" in closed["message"]
    assert "(manual close)" in closed["message"] and "funding" in closed["message"]

    fra("open", ETH, "--size", "500")
    receiver.take()
    fra("emergency-stop", "--reason", "exchange incident")
    [stop] = receiver.messages
    assert set(receiver.take()) == {"2 notifications (critical)"}
    assert "exchange incident" in stop["message"] and f"closed {ETH}" in stop["message"]
    # The next cycle knows all of it already.
    fra.advance(hours=1)
    fra("run-cycle")
    assert receiver.take() == []


# -- a receiver that is down or slow ---------------------------------------------------------


def test_a_receiver_that_is_down_never_changes_the_cycle_and_is_retried(fra: Fra) -> None:
    port = dead_port()
    notifying(fra, f"json://127.0.0.1:{port}/hook").shocks(HOT)
    out = fra("run-cycle").stdout
    assert "opened 1" in out
    assert fra.query("SELECT exit_code FROM cycles") == [(0,)]
    [(title, state, attempts)] = deliveries(fra)
    assert (title, state, attempts) == (f"opened {ETH}", "failed", 1)
    [(error,)] = fra.query("SELECT error FROM notification_deliveries")
    assert error

    receiver = Receiver(port)  # the service is back
    try:
        fra.advance(hours=1)
        fra("run-cycle")
        assert receiver.take() == [f"opened {ETH}"]
        assert deliveries(fra) == [(f"opened {ETH}", "sent", 2)]
        fra.advance(hours=1)
        fra("run-cycle")
        assert receiver.take() == []
    finally:
        receiver.close()


def test_a_receiver_that_does_not_answer_never_holds_up_the_cycle(
    fra: Fra, receiver: Receiver
) -> None:
    receiver.hold = True
    notifying(fra, receiver.url(), FRA_NOTIFY__TIMEOUT_SECONDS="0.5").shocks(HOT)
    fra("run-cycle")
    # The cycle is over while the service still holds the request.
    assert receiver.waiting == 1 and receiver.messages == []
    assert fra.query("SELECT outcome, exit_code FROM cycles") == [("ok", 0)]
    assert [state for _, state, _ in deliveries(fra)] == ["failed"]
    receiver.release()


def test_a_service_apprise_does_not_know_fails_the_delivery_not_the_cycle(fra: Fra) -> None:
    notifying(fra, "nosuchservice://abcdef").shocks(HOT)
    fra("run-cycle")
    [(state, error)] = fra.query("SELECT state, error FROM notification_deliveries")
    assert state == "failed" and "apprise does not know" in error
    result = fra("notify", "test", code=5)
    assert "nosuchservice://***: FAILED" in result.stdout


# -- failed cycles -----------------------------------------------------------------------------


def test_a_failing_cycle_is_said_once_and_its_end_too(fra: Fra, receiver: Receiver) -> None:
    with on_emulator(fra, receiver, FRA_NOTIFY__HEARTBEAT_URL=receiver.heartbeat) as emu:
        fra("run-cycle")
        assert receiver.pings == ["/ping"]
        receiver.take()
        for _ in range(2):
            emu.inject(Fault("/fapi/v1/premiumIndex", "GET", "maintenance", times=5))
            fra("run-cycle", code=5)
            while emu.faults_pending:
                emu.answer("GET", "/fapi/v1/premiumIndex", "", None)
        [failed] = receiver.messages
        assert receiver.take() == ["cycle failed (exit 5)"]
        assert failed["type"] == "warning" and "did not answer" in failed["message"]
        assert receiver.pings == ["/ping"]  # a failed cycle sends no heartbeat
        # (The emulator's clock is months behind this machine's, which status reads.)
        year = ["status", "--check", "--max-age", "525600"]
        assert_refused(fra, year, 10, "the last cycle exited 5")

        fra("run-cycle")
        assert receiver.take() == ["cleared: cycle failed (exit 5)"]
        assert receiver.pings == ["/ping", "/ping"]
        fra(*year)


def test_a_state_file_fra_cannot_use_is_said_without_a_record(fra: Fra, receiver: Receiver) -> None:
    notifying(fra, receiver.url())
    fra.db.write_bytes(b"this is not a database, but it is not empty either" * 100)
    before = fra.fingerprint()
    fra("run-cycle", code=3)
    [message] = receiver.messages
    assert receiver.take() == ["cycle failed (exit 3)"]
    assert message["type"] == "failure" and "corrupt" in message["message"]
    assert fra.fingerprint() == before
    fra("run-cycle", code=3)  # nowhere to remember it was said: said again
    assert receiver.take() == ["cycle failed (exit 3)"]


# -- daily summary, heartbeat, status --check --------------------------------------------------


def test_daily_summary_once_a_day_from_its_hour(fra: Fra, receiver: Receiver) -> None:
    notifying(fra, receiver.url(), FRA_NOTIFY__DAILY_HOUR="8").shocks(HOT)
    fra("run-cycle")
    assert receiver.take() == [f"opened {ETH}"]
    fra.at(T0 + timedelta(hours=7, minutes=59))
    fra("run-cycle")
    assert receiver.take() == []
    fra.at(T0 + timedelta(hours=8, minutes=1))
    fra("run-cycle")
    [summary] = receiver.messages
    assert receiver.take() == ["daily summary 2026-03-01"]
    [(funding,)] = fra.query("SELECT amount FROM funding_payments")
    assert f"funding earned in 24 h: {float(funding):,.2f} USDT" in summary["message"]
    assert "open positions: 1" in summary["message"]
    fra.advance(hours=5)
    fra("run-cycle")
    assert receiver.take() == []
    fra.at(T0 + timedelta(days=1, hours=8, minutes=1))
    fra("run-cycle")
    assert receiver.take() == ["daily summary 2026-03-02"]


def test_status_check_is_a_dead_mans_switch(fra: Fra, receiver: Receiver) -> None:
    fra.set(FRA_NOTIFY__HEARTBEAT_URL=receiver.heartbeat)
    fra("scan")
    err = assert_refused(fra, ["status", "--check"], 10, "no cycle has completed")
    fra("run-cycle")
    assert receiver.pings == ["/ping"]  # pinged without any notification URL
    assert (
        "ok: the last cycle finished at 2026-03-01 00:00:00 UTC" in fra("status", "--check").stdout
    )
    fra.advance(minutes=20)
    err = assert_refused(fra, ["status", "--check"], 10, "finished 20m ago (more than 15m)")
    assert "fra run-cycle" in err
    fra("status", "--check", "--max-age", "30")
    data = fra.json("status", "--check", "--max-age", "30")
    assert data["check"] == {"ok": True, "problems": []}
    fra("emergency-stop", "--reason", "gone fishing")
    data = fra.json("status", "--check", "--max-age", "30", code=10)
    assert data["check"]["problems"] == ["trading is halted (gone fishing)"]
    [(beat,)] = fra.query("SELECT value FROM meta WHERE key = 'notify_heartbeat'")
    assert json.loads(beat)["ok"] is True


# -- secrets and bad input ---------------------------------------------------------------------


def test_secrets_in_urls_are_masked_in_config_errors_logs_and_the_state_file(fra: Fra) -> None:
    port = dead_port()
    url = f"json://fra:pa55word-xyz@127.0.0.1:{port}/token-abcdef123"
    beat = f"http://127.0.0.1:{port}/uuid-5f3c-9a1b"
    secrets = ("pa55word-xyz", "token-abcdef123", "uuid-5f3c-9a1b")
    notifying(fra, url, FRA_NOTIFY__HEARTBEAT_URL=beat).shocks(HOT)
    config = fra.json("config")["notify"]
    assert config["urls"] == [f"json://***@127.0.0.1:{port}/***"]
    assert config["heartbeat_url"] == f"http://127.0.0.1:{port}/***"
    shown = [fra("config").stdout, json.dumps(config)]
    shown.append(fra("notify", "test", code=5).stdout + fra("notify", "test", code=5).stderr)
    fra("run-cycle")
    shown.append(fra("notify", "log").stdout + json.dumps(fra.json("notify", "log")))
    shown.append(fra.db.with_name("state.db.log.jsonl").read_text())
    shown += [str(row) for row in fra.query("SELECT * FROM notification_deliveries")]
    shown += [str(row) for row in fra.query("SELECT * FROM meta")]
    for text in shown:
        for secret in secrets:
            assert secret not in text, (secret, text)
    assert "heartbeat to http://127.0.0.1" in shown[4]  # the failures are logged, masked


def test_mask_url_hides_every_token_and_scrub_removes_them_from_text() -> None:
    cases = {
        "tgram://123456789:AAHsecret/987654": "tgram://***/***",
        "ntfys://ntfy.sh/my-secret-topic": "ntfys://ntfy.sh/***",
        "mailto://me:app-password@gmail.com": "mailto://***@gmail.com",
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js": "discord://***/***",
        "critical=pover://user@token": "critical=pover://***@***",
        "json://localhost:8080?+X-Token=abcd": "json://localhost:8080/***",
    }
    for url, masked in cases.items():
        assert mask_url(url) == masked
    said = "HTTPSConnectionPool(host='api.telegram.org'): url: /bot123456789:AAHsecret/send"
    assert "AAHsecret" not in scrub(said, ["tgram://123456789:AAHsecret/987654"])


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"FRA_NOTIFY__URLS": '["ntfys://ntfy.sh/ok", "not a url"]'},
            ["FRA_NOTIFY__URLS", "item 2"],
        ),
        ({"FRA_NOTIFY__URLS": "ntfys://ntfy.sh/x"}, ["FRA_NOTIFY__URLS", "JSON list"]),
        ({"FRA_NOTIFY__LEVEL": "loud"}, ["FRA_NOTIFY__LEVEL"]),
        ({"FRA_NOTIFY__DAILY_HOUR": "24"}, ["FRA_NOTIFY__DAILY_HOUR"]),
        ({"FRA_NOTIFY__REPEAT_HOURS": "-1"}, ["FRA_NOTIFY__REPEAT_HOURS"]),
        ({"FRA_NOTIFY__TIMEOUT_SECONDS": "0"}, ["FRA_NOTIFY__TIMEOUT_SECONDS"]),
        ({"FRA_NOTIFY__HEARTBEAT_URL": "ftp://host/uuid-secret"}, ["FRA_NOTIFY__HEARTBEAT_URL"]),
    ],
)
def test_bad_notification_settings_are_refused_without_showing_them(
    fra: Fra, env: dict[str, str], words: list[str]
) -> None:
    fra.shocks(HOT)
    fra("run-cycle")
    err = assert_refused(fra, ["run-cycle"], 2, *words, **env)
    assert "uuid-secret" not in err and "not a url" not in err


def test_bad_check_and_test_options_are_refused(fra: Fra) -> None:
    fra("run-cycle")
    assert_refused(fra, ["status", "--check", "--max-age", "0"], 2, "--max-age")
    assert_refused(fra, ["notify", "test"], 2, "FRA_NOTIFY__URLS")


# -- the decision itself, and what a cycle pays for --------------------------------------------


def test_decide_starts_changes_reminds_and_clears_only_what_was_looked_at() -> None:
    alert = Condition("margin", Level.WARNING, "margin alert", "ratio 35 %")
    first = decide([alert], {}, {"margin"}, 0, 4 * HOUR_MS)
    assert [(m.kind, m.level) for m in first.messages] == [(Kind.START, Level.WARNING)]
    tracked = {t.key: t for t in first.upsert}
    assert decide([alert], tracked, {"margin"}, 3 * HOUR_MS, 4 * HOUR_MS).messages == []
    reminder = decide([alert], tracked, {"margin"}, 4 * HOUR_MS, 4 * HOUR_MS)
    assert [m.kind for m in reminder.messages] == [Kind.REPEAT]
    assert decide([alert], tracked, {"margin"}, 9 * HOUR_MS, 0).messages == []  # 0: never
    critical = Condition("margin", Level.CRITICAL, "margin critical", "ratio 55 %")
    change = decide([critical], tracked, {"margin"}, HOUR_MS, 4 * HOUR_MS)
    assert [(m.kind, m.level) for m in change.messages] == [(Kind.CHANGE, Level.CRITICAL)]
    assert change.upsert[0].since_ms == 0
    # Not looked at (a command that measured no margin): left as it is.
    assert decide([], tracked, {"halted"}, HOUR_MS, 4 * HOUR_MS) == type(first)()
    cleared = decide([], tracked, {"margin"}, 2 * HOUR_MS, 4 * HOUR_MS)
    [message] = cleared.messages
    assert (message.kind, message.level, cleared.cleared) == (Kind.CLEAR, Level.WARNING, ["margin"])
    assert "over after 2h 00m" in message.body


def test_health_names_each_problem() -> None:
    assert health(10 * 60_000, 9 * 60_000, 0, None, 15 * 60_000) == []
    assert health(10 * 60_000, 9 * 60_000, 130, None, 15 * 60_000) == []
    assert health(0, None, None, None, 1) == ["no cycle has completed"]
    assert health(HOUR_MS, 0, 5, "manual", 15 * 60_000) == [
        "the last cycle finished 1h 00m ago (more than 15m)",
        "the last cycle exited 5",
        "trading is halted (manual)",
    ]


def test_a_cycle_without_notifications_does_not_load_apprise(fra: Fra) -> None:
    code = (
        "import sys\n"
        "from fra.cli import app\n"
        "try:\n"
        "    app(['run-cycle'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None)\n"
        "print('apprise' in sys.modules)\n"
    )
    # Nothing to say (nothing opens without a shock); ETH opens without URLs; with URLs, nothing
    # new to say; ETH closes when its funding turns (something to say).
    cold = f"{ETH}@{iso(T0 + timedelta(hours=48))}:funding=-0.0003:hours=24"
    urls = json.dumps([f"json://127.0.0.1:{dead_port()}/x"])
    runs = [
        (T0, {"FRA_NOTIFY__URLS": urls}, "False"),
        (T0 + timedelta(hours=1), {"FRA_NOTIFY__URLS": "[]"}, "False"),
        (T0 + timedelta(hours=2), {"FRA_NOTIFY__URLS": urls}, "False"),
        (T0 + timedelta(hours=48, minutes=1), {"FRA_NOTIFY__URLS": urls}, "True"),
    ]
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(
        f"{ETH}@{iso(T0 + timedelta(hours=1))}:funding=0.0008:hours=24", cold
    )
    for when, env, loaded in runs:
        fra.at(when)
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={"PATH": "/usr/bin:/bin", **fra.full_env(), **env},
            cwd=fra.workdir,
            capture_output=True,
            text=True,
        )
        assert result.stdout.strip().splitlines()[-1] == loaded, result.stderr
    assert fra.query("SELECT state FROM positions") == [("closed",)]


def test_a_close_the_venue_cannot_finish_and_untracked_positions_are_said_once(
    fra: Fra, receiver: Receiver
) -> None:
    with on_emulator(
        fra,
        receiver,
        FRA_MARKETS_TTL_MINUTES="0",
        FRA_MODE="live",
        FRA_LIVE__CONFIRM="true",
        FRA_API_KEY=DEFAULT_API_KEY,
        FRA_API_SECRET=DEFAULT_SECRET,
        FRA_RISK__MAX_POSITION_USD="1000",
    ) as emu:
        fra("run-cycle")
        assert receiver.take() == [f"opened {ETH}"]
        emu.delist(ETH, remove=True)
        fra("run-cycle", code=5)
        # The delisted short is no longer fra's either: a person must look (exit 9 from now).
        [both] = receiver.messages
        assert receiver.take() == ["2 notifications (critical)"]
        assert f"[warning] position 1 {ETH} stuck closing" in both["message"]
        assert "no longer listed" in both["message"]
        assert (
            "[critical] the exchange holds positions fra's books do not explain" in both["message"]
        )
        assert "0.552 ETHUSDT (short)" in both["message"]
        for _ in range(2):
            fra("run-cycle", code=9)
        assert receiver.take() == []


def test_an_exchange_that_cannot_be_reached_is_a_failed_cycle_too(
    fra: Fra, receiver: Receiver
) -> None:
    notifying(
        fra,
        receiver.url(),
        FRA_VENUE="binance",
        FRA_VENUE_URL=f"http://127.0.0.1:{dead_port()}",
        FRA_VENUE_RETRIES="0",
    )
    err = fra("run-cycle", code=5).stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    [failed] = receiver.messages
    assert receiver.take() == ["cycle failed (exit 5)"]
    assert "could not be reached" in failed["message"]
