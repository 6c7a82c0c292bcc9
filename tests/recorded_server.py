"""A recorded exchange on 127.0.0.1: answers ccxt's GET requests from tests/recorded/<exchange>/.

Each request path maps to a file stem; the query parameters named in `select` pick the file
(`instruments-linear.json` for `?category=linear`), dropping the last of them until a file
exists (`instruments-option.json` answers every option `baseCoin` but the recorded ones).
`keep` names the parameter that narrows a list to one instrument (`symbol=BTCUSDT`), as the
exchange does. Anything else is a 404 naming the request, so a missing piece is obvious.
Every request is recorded, so tests can count them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

RECORDED = Path(__file__).parent / "recorded"


class Route(NamedTuple):
    stem: str
    select: tuple[str, ...] = ()
    keep: str | None = None


ROUTES: dict[str, dict[str, Route]] = {
    "bybit": {
        "/v5/market/time": Route("time"),
        "/v5/market/instruments-info": Route("instruments", ("category", "status", "baseCoin")),
        "/v5/market/tickers": Route("tickers", ("category",), keep="symbol"),
        "/v5/market/orderbook": Route("orderbook", ("symbol", "category")),
        "/v5/market/funding/history": Route("funding-history", ("symbol",)),
    },
    "okx": {
        "/api/v5/public/time": Route("time"),
        "/api/v5/public/instruments": Route("instruments", ("instType", "uly")),
        "/api/v5/public/funding-rate": Route("funding-rate", keep="instId"),
        "/api/v5/market/tickers": Route("tickers", ("instType",)),
        "/api/v5/market/books": Route("books", ("instId",)),
        "/api/v5/public/funding-rate-history": Route("funding-rate-history", ("instId",)),
        "/api/v5/public/mark-price": Route("mark-price", keep="instId"),  # swaps only
    },
}


class Request(NamedTuple):
    path: str
    query: dict[str, str]


class Recorded:
    """The server's state: which exchange it plays, what it was asked, what to fail."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.folder = RECORDED / exchange
        self.routes = ROUTES[exchange]
        self.requests: list[Request] = []
        self.failures: dict[str, list[tuple[int, Any]]] = {}
        self.url = ""
        self._lock = threading.Lock()

    # -- for tests ---------------------------------------------------------------------------

    def count(self, path: str, **query: str) -> int:
        """Requests to `path` whose query has at least these parameters."""
        return sum(
            1
            for r in self.requests
            if r.path == path and all(r.query.get(k) == v for k, v in query.items())
        )

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def reset(self) -> None:
        """Forget the requests and pending failures (one server serves many tests)."""
        with self._lock:
            self.requests.clear()
            self.failures.clear()

    def fail(self, path: str, status: int, body: Any, times: int = 1) -> None:
        """Answer the next `times` requests to `path` with this status and JSON body."""
        with self._lock:
            self.failures.setdefault(path, []).extend([(status, body)] * times)

    # -- answering ---------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(Request(path, query))
            pending = self.failures.get(path)
            if pending:
                status, body = pending.pop(0)
                return status, json.dumps(body).encode()
        route = self.routes.get(path)
        if route is None:
            return 404, f"not recorded: GET {path} {query}".encode()
        names = [query[k] for k in route.select if k in query]
        while True:
            file = self.folder / "-".join([route.stem, *names])
            file = file.with_name(file.name + ".json")
            if file.exists():
                break
            if not names:
                return 404, f"not recorded: GET {path} {query} (no {file.name})".encode()
            names.pop()
        body = json.loads(file.read_text())
        if route.keep and query.get(route.keep, "ANY") != "ANY":
            body = narrow(body, route.keep, query[route.keep])
        return 200, json.dumps(body).encode()


def narrow(body: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """The answer with its list cut to the entries of one instrument (Bybit's `result.list`,
    OKX's `data`)."""
    if "result" in body:
        items = body["result"]["list"]
        return {**body, "result": {**body["result"], "list": [i for i in items if i[key] == value]}}
    return {**body, "data": [i for i in body["data"] if i[key] == value]}


def handler(state: Recorded) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = state.answer(parts.path, dict(parse_qsl(parts.query)))
            self.send_response(status)
            kind = "application/json" if body[:1] in (b"{", b"[") else "text/plain"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(exchange: str) -> Iterator[Recorded]:
    """Run the recorded `exchange` on 127.0.0.1 (a free port) while the block runs."""
    state = Recorded(exchange)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
