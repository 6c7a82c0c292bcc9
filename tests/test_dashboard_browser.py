"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against
`fra serve` over a real state file. What a person sees, the page refreshing after a cycle, the
sign-in and stop, and a stop another site's page tries to make the browser send.

Playwright cannot download its own browsers here; it drives the system's chromium
(`apt-get install chromium`, which .ci/run does). Without one these tests are skipped."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import Fra
from test_serve import TOKEN, serving, with_positions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: apt-get install chromium (see README)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")

WAIT_MS = 30_000  # how long a page may take to show what is expected (a loaded machine)


@pytest.fixture
def held(fra: Fra) -> Fra:
    return with_positions(fra)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def test_a_person_sees_positions_gauges_and_charts(held: Fra, page: Any) -> None:
    status = held.json("status")
    with serving(held) as server:
        page.goto(server.url)
        assert page.locator("#venue").inner_text() == "SIMULATED"
        assert page.locator("#halt-card .big").inner_text() == "no"
        exposure = page.locator("#card-exposure .big").inner_text()
        assert exposure == money(status["totals"]["exposure"])
        for p in status["positions"]:
            row = page.locator(f"#position-{p['id']}")
            assert row.is_visible()
            text = row.inner_text()
            assert p["symbol"] in text and money(p["net_pnl"]) in text
            gauge = row.locator("svg.gauge")
            assert gauge.is_visible() and gauge.bounding_box()["width"] > 100
            assert "margin ratio" in gauge.get_attribute("aria-label")
            assert gauge.locator(".needle").count() == 1
        worst = Decimal(status["worst_margin_ratio"]) * 100
        assert page.locator("#worst-margin .big").inner_text() == f"{worst:.2f}%"
        for chart in ("#chart-equity", "#chart-funding"):
            picture = page.locator(f"{chart} svg")
            assert picture.is_visible() and picture.bounding_box()["width"] > 400
            assert picture.locator("polyline").count() == 1
        cycles = held.query("SELECT COUNT(*) FROM cycles")[0][0]
        assert page.locator("#cycles tbody tr").count() == cycles
        assert page.locator("#ranking tbody tr").count() > 0
        assert page.locator("#ranking").get_by_text("hold", exact=True).count() == len(
            status["positions"]
        )


def test_the_page_refreshes_itself_after_a_cycle(held: Fra, page: Any) -> None:
    last = held.query("SELECT MAX(id) FROM cycles")[0][0]
    with serving(held, "--refresh", "1") as server:
        page.goto(server.url)
        assert f"#{last} at" in page.locator("#last-cycle").inner_text()
        held.advance(hours=8)("run-cycle")
        # No reload from here: the page does it by itself.
        page.locator("#last-cycle", has_text=f"#{last + 1} at").wait_for(timeout=WAIT_MS)
        page.locator(f"#cycle-{last + 1}").wait_for(timeout=WAIT_MS)


def test_sign_in_then_stop_from_the_page(held: Fra, page: Any) -> None:
    count = held.json("status")["totals"]["open_positions"]
    with serving(held, FRA_SERVE__TOKEN=TOKEN) as server:
        page.goto(server.url)
        assert page.locator("#positions").count() == 0  # nothing shown before signing in
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.locator("#positions").wait_for(timeout=WAIT_MS)
        page.click("#stop-button")
        page.locator("#confirm-stop").wait_for(timeout=WAIT_MS)
        assert held.json("status")["halted"] is False  # the button alone stops nothing
        page.fill("input[name=reason]", "seen in the browser")
        page.fill("input[name=token]", TOKEN)
        page.click("#confirm-stop")
        message = page.locator("#message")
        message.wait_for(timeout=120_000)
        assert f"closed {count} positions" in message.inner_text()
        page.goto(server.url)
        assert "seen in the browser" in page.locator("#halted").inner_text()
    status = held.json("status")
    assert status["halt_reason"] == "seen in the browser"
    assert status["totals"]["open_positions"] == 0


def test_another_sites_page_cannot_make_the_browser_stop(held: Fra, page: Any) -> None:
    """Even knowing the token, a form on another origin posting to /stop is refused."""
    before = held.fingerprint()
    with (
        serving(held, FRA_SERVE__TOKEN=TOKEN) as server,
        AttackerPage(
            f"""<form method="post" action="{server.url}stop">
        <input name="confirm" value="stop"><input name="token" value="{TOKEN}">
        <input name="reason" value="csrf"></form>
        <script>document.forms[0].submit()</script>"""
        ) as evil,
    ):
        page.goto(evil)
        page.wait_for_url(f"{server.url}stop", timeout=WAIT_MS)
        refused = page.locator("#error")
        refused.wait_for(timeout=WAIT_MS)
        assert "refused" in refused.inner_text()
    assert held.fingerprint() == before
    assert held.json("status")["halted"] is False


class _Evil(BaseHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args: Any) -> None:
        pass


class AttackerPage:
    """A page of another origin (localhost on another port) serving `html`."""

    def __init__(self, html: str) -> None:
        handler = type("Handler", (_Evil,), {"html": html.encode()})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://localhost:{self.server.server_address[1]}/"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
