"""fra serve and fra metrics: a real server process over a real state file, spoken to over
HTTP on 127.0.0.1; the figures are checked against `fra status --json`."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import T0, Fra, assert_refused, iso

from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
TOKEN = "a-long-enough-test-token-1234"


@pytest.fixture
def held(fra: Fra) -> Fra:
    return with_positions(fra)


def with_positions(fra: Fra) -> Fra:
    """A state file with open positions that have collected funding over a few cycles."""
    fra.shocks(f"{ETH}@{iso(T0)}:funding=0.0008:hours=48")
    fra("run-cycle")
    for _ in range(3):
        fra.advance(hours=8, minutes=5)("run-cycle")
    return fra


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: str


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 0

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            body = urlencode(form) if form is not None else None
            sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
            if body is not None:
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=sent)
            got = conn.getresponse()
            return Reply(
                got.status, {k.lower(): v for k, v in got.getheaders()}, got.read().decode()
            )
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> Reply:
        return self.request("GET", path, headers)


@contextmanager
def serving(fra: Fra, *args: str, **env: str) -> Iterator[Server]:
    proc = fra.spawn("serve", "--port", "0", *args, **env)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"http://[^/ ]+/", first)
        assert found, f"no address announced: {first!r} {proc.stderr.read() if proc.stderr else ''}"
        yield Server(proc, found.group(0))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err


def money(text: Any) -> str:
    return f"{Decimal(text):,.2f}"


def metric(body: str, name: str, labels: str = "") -> float:
    """A sample's value; Prometheus's are float64, so figures are compared as such."""
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", body, re.MULTILINE)
    assert found, f"{name}{labels} missing from:\n{body}"
    return float(found.group(1))


def f(text: Any) -> float:
    return float(Decimal(text))


# -- refusals: exit code, one line, the state file as it was ------------------------------------


def test_serve_beyond_loopback_needs_a_token(held: Fra) -> None:
    assert_refused(held, ["serve", "--host", "0.0.0.0"], ExitCode.BAD_INPUT, "FRA_SERVE__TOKEN")


def test_serve_refuses_a_short_token(held: Fra) -> None:
    assert_refused(held, ["serve"], ExitCode.BAD_INPUT, "shorter than 16", FRA_SERVE__TOKEN="short")


def test_serve_and_metrics_without_a_state_file_create_none(fra: Fra) -> None:
    for args in (["serve"], ["metrics"]):
        result = fra(*args, code=ExitCode.BAD_INPUT)
        assert "no state file" in result.stderr
    assert not fra.db.exists()


def test_serve_refuses_an_empty_state_file(fra: Fra) -> None:
    fra.db.write_bytes(b"")
    assert_refused(fra, ["serve"], ExitCode.STATE, "empty")


def test_serve_refuses_a_port_in_use(held: Fra) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert_refused(held, ["serve", "--port", port], ExitCode.BAD_INPUT, "--port")


def test_metrics_output_must_be_a_prom_file_in_a_directory(held: Fra) -> None:
    assert_refused(held, ["metrics", "--output", "fra.txt"], ExitCode.BAD_INPUT, ".prom")
    assert_refused(
        held, ["metrics", "--output", "missing/fra.prom"], ExitCode.BAD_INPUT, "does not exist"
    )
    assert not (held.workdir / "fra.txt").exists()


def test_metrics_output_that_cannot_be_written_is_said_in_one_line(held: Fra) -> None:
    # /proc takes no new files, whoever asks (root included).
    assert_refused(
        held, ["metrics", "--output", "/proc/fra.prom"], ExitCode.BAD_INPUT, "cannot write"
    )


# -- fra metrics ------------------------------------------------------------------------------


def test_metrics_are_the_figures_of_status(held: Fra) -> None:
    status = held.json("status")
    totals = status["totals"]
    body = held("metrics").stdout
    assert metric(body, "fra_positions_open") == totals["open_positions"] > 0
    # JSON gives derived money to 8 places and ratios to 10 significant digits.
    assert metric(body, "fra_exposure_usdt") == pytest.approx(f(totals["exposure"]), abs=1e-8)
    unrealized = f(totals["unrealized_net_pnl"])
    near = 1e-8 * totals["open_positions"]  # each position's net within a unit of the 8th place
    assert metric(body, "fra_unrealized_pnl_usdt") == pytest.approx(unrealized, abs=near)
    assert metric(body, "fra_paper_cash_usdt") == pytest.approx(f(totals["paper_cash"]), abs=1e-8)
    assert metric(body, "fra_funding_usdt") == f(totals["funding"]) > 0
    assert metric(body, "fra_halted") == 0
    cycle = status["last_cycle"]
    assert metric(body, "fra_last_cycle_id") == cycle["id"]
    assert metric(body, "fra_last_cycle_outcome", '{outcome="ok"}') == 1
    assert metric(body, "fra_last_cycle_outcome", '{outcome="error"}') == 0
    worst = f(status["worst_margin_ratio"])
    assert metric(body, "fra_margin_ratio_worst") == pytest.approx(worst, rel=1e-9)
    for p in status["positions"]:
        labels = f'{{id="{p["id"]}",symbol="{p["symbol"]}"}}'
        net = metric(body, "fra_position_net_pnl_usdt", labels)
        assert net == pytest.approx(f(p["net_pnl"]), abs=1e-8)


def test_metrics_follow_closes_and_the_halt(held: Fra) -> None:
    held("emergency-stop", "--reason", "test")
    status = held.json("status")
    body = held("metrics").stdout
    assert metric(body, "fra_halted") == 1
    assert metric(body, "fra_positions_open") == 0
    realized = f(status["totals"]["realized_net_pnl"])
    assert metric(body, "fra_realized_pnl_usdt") == pytest.approx(realized, abs=1e-8)
    assert metric(body, "fra_positions_closed") == status["totals"]["closed_positions"] > 0
    # Funding stays counted once its positions are closed.
    assert metric(body, "fra_funding_usdt") > 0


def test_metrics_output_writes_the_textfile_whole_and_leaves_the_state_file(held: Fra) -> None:
    before = held.fingerprint()
    out = held.workdir / "fra.prom"
    out.write_text("old\n")
    held("metrics", "--output", str(out))
    assert out.read_text() == held("metrics").stdout
    assert [p.name for p in held.workdir.glob("fra.prom*")] == ["fra.prom"]  # no temp file left
    assert held.fingerprint() == before


# -- the server --------------------------------------------------------------------------------


def test_dashboard_shows_the_account_and_changes_nothing(held: Fra) -> None:
    status = held.json("status")
    before = held.fingerprint()
    with serving(held) as server:
        page = server.get("/")
        metrics = server.get("/metrics")
        css = server.get("/static/dashboard.css")
    assert page.status == 200, page.body
    for p in status["positions"]:
        assert f'id="position-{p["id"]}"' in page.body
        assert p["symbol"] in page.body
        assert money(p["net_pnl"]) in page.body
    assert money(status["totals"]["exposure"]) in page.body
    assert page.body.count('class="gauge"') == len(status["positions"]) + 1  # and the worst
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.body  # the charts
    assert "offered when fra serve runs with FRA_SERVE__TOKEN" in page.body
    assert 'href="/stop"' not in page.body
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert metrics.status == 200
    assert metric(metrics.body, "fra_positions_open") == len(status["positions"])
    assert css.status == 200
    assert held.fingerprint() == before


def test_a_request_for_another_host_is_refused_on_loopback(held: Fra) -> None:
    """DNS rebinding: a web page's own name resolved to 127.0.0.1 must not read the account."""
    with serving(held) as server:
        reply = server.get("/", Host=f"attacker.example:{server.port}")
        ok = server.get("/", Host=f"localhost:{server.port}")
    assert reply.status == 421 and "attacker.example" in reply.body
    assert ok.status == 200


def test_without_a_token_there_is_no_stop(held: Fra) -> None:
    before = held.fingerprint()
    with serving(held) as server:
        reply = server.request("POST", "/stop", form={"confirm": "stop", "token": TOKEN})
    assert reply.status == 404
    assert held.fingerprint() == before


def test_with_a_token_every_page_needs_it(held: Fra) -> None:
    with serving(held, FRA_SERVE__TOKEN=TOKEN) as server:
        anonymous = server.get("/")
        scraped = server.get("/metrics")
        wrong = server.get("/metrics", Authorization="Bearer not-the-token-at-all")
        bearer = server.get("/metrics", Authorization=f"Bearer {TOKEN}")
        bad_login = server.request("POST", "/login", form={"token": "wrong"})
        login = server.request("POST", "/login", form={"token": TOKEN})
        cookie = login.headers["set-cookie"].split(";")[0]
        page = server.get("/", Cookie=cookie)
    assert anonymous.status == 401 and 'name="token"' in anonymous.body
    assert "open positions" not in anonymous.body.lower()
    assert scraped.status == 401 and wrong.status == 401
    assert bearer.status == 200 and "fra_positions_open" in bearer.body
    assert bad_login.status == 403
    assert login.status == 303 and TOKEN not in cookie
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert page.status == 200 and 'href="/stop"' in page.body


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
        {"Referer": "http://attacker.example/page"},
    ],
    ids=["origin", "sec-fetch-site", "same-site-other-port", "referer"],
)
def test_a_cross_site_stop_is_refused_and_changes_nothing(
    held: Fra, headers: dict[str, str]
) -> None:
    before = held.fingerprint()
    with serving(held, FRA_SERVE__TOKEN=TOKEN) as server:
        form = {"confirm": "stop", "token": TOKEN, "reason": "csrf"}
        reply = server.request("POST", "/stop", headers, form)
    assert reply.status == 403 and "refused" in reply.body
    assert held.fingerprint() == before


def test_a_stop_needs_the_token_and_the_confirmation(held: Fra) -> None:
    before = held.fingerprint()
    own = {}
    with serving(held, FRA_SERVE__TOKEN=TOKEN) as server:
        own = {"Origin": server.url.rstrip("/"), "Sec-Fetch-Site": "same-origin"}
        no_token = server.request("POST", "/stop", own, {"confirm": "stop"})
        unconfirmed = server.request("POST", "/stop", own, {"token": TOKEN})
    assert no_token.status == 403 and "token" in no_token.body
    assert unconfirmed.status == 403 and "confirmed" in unconfirmed.body
    assert held.fingerprint() == before


def test_the_stop_button_runs_the_emergency_stop(held: Fra) -> None:
    held_before = held.json("status")["totals"]["open_positions"]
    with serving(held, FRA_SERVE__TOKEN=TOKEN) as server:
        own = {"Origin": server.url.rstrip("/"), "Sec-Fetch-Site": "same-origin"}
        form = {"confirm": "stop", "token": TOKEN, "reason": "seen on the dashboard"}
        reply = server.request("POST", "/stop", own, form)
        page = server.get("/", Authorization=f"Bearer {TOKEN}")
    assert reply.status == 200, reply.body
    assert f"closed {held_before} positions" in reply.body
    status = held.json("status")
    assert status["halt_reason"] == "seen on the dashboard"
    assert status["totals"]["open_positions"] == 0
    assert 'id="halted"' in page.body and "seen on the dashboard" in page.body


def test_cycles_and_the_page_run_side_by_side(held: Fra) -> None:
    """Cycles write while the page and /metrics are polled: no "database is locked", no
    error page, and every cycle finishes."""
    failures: list[str] = []
    done = threading.Event()
    polled = [0]

    def poll(server: Server) -> None:
        while not done.is_set():
            for path in ("/", "/metrics"):
                reply = server.get(path)
                polled[0] += 1
                if reply.status != 200 or "locked" in reply.body:
                    failures.append(f"{path}: {reply.status} {reply.body[:300]}")

    with serving(held) as server:
        thread = threading.Thread(target=poll, args=(server,))
        thread.start()
        try:
            for _ in range(6):
                proc = held.advance(hours=1).spawn("run-cycle")
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err
                assert "locked" not in err
        finally:
            done.set()
            thread.join(timeout=60)
        last = server.get("/")
    assert not failures, failures[:3]
    assert polled[0] > 0
    cycles = held.query("SELECT MAX(id) FROM cycles")[0][0]
    assert f'id="cycle-{cycles}"' in last.body


def test_the_state_file_is_never_opened_for_writing(held: Fra) -> None:
    """SQLite refuses a write on a mode=ro connection: the reader cannot change the file even
    by mistake."""
    from fra.store.readonly import open_read_only

    store = open_read_only(held.db)
    try:
        with pytest.raises(Exception, match="readonly"):
            store.conn.execute("DELETE FROM cycles")
    finally:
        store.close()


def test_config_masks_the_token(fra: Fra) -> None:
    shown = fra.json("config", FRA_SERVE__TOKEN=TOKEN)
    assert shown["serve"]["token"] == "********"
    assert TOKEN not in fra("config", FRA_SERVE__TOKEN=TOKEN).stdout


def test_the_dashboard_reads_history_db_where_present(held: Fra) -> None:
    path = Path(held.workdir / "funding.csv")
    start = 1_704_067_200_000  # 2024-01-01
    path.write_text(
        "exchange,symbol,funding_time_ms,funding_rate\n"
        + "".join(f"binance,ETHUSDT,{start + i * 28_800_000},0.0001\n" for i in range(3))
    )
    held("history", "import", str(path))
    with serving(held) as server:
        page = server.get("/")
    assert 'id="history"' in page.body and "funding of 1 perpetuals" in page.body


def test_the_dashboard_shows_notifications_and_their_outcome(held: Fra) -> None:
    # A service apprise does not know: the message is recorded, its delivery failed.
    held("emergency-stop", FRA_NOTIFY__URLS='["nosuchservice://abcdef"]')
    [(title, state), *_] = held.query(
        "SELECT n.title, d.state FROM notifications n"
        " JOIN notification_deliveries d ON d.notification_id = n.id"
    )
    with serving(held) as server:
        page = server.get("/")
    sent = page.body[page.body.index('id="sent"') :]
    assert title in sent and f"{state} to" in sent
    assert "abcdef" not in page.body  # destinations are shown masked
