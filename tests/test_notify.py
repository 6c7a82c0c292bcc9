"""Notifications and the dead man's switch, through the CLI: messages reach a local HTTP receiver
through apprise's own JSON transport (json://127.0.0.1:PORT/...), one per change of condition,
reminded at the repeat interval, never holding up or changing a cycle."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import T0, Fra, iso

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
