"""The emulator's HTTP side: Binance's REST conventions over a local ThreadingHTTPServer.

Requests are routed by (method, path), signed ones checked like Binance checks them, and
answered under the account's lock, one at a time, so handlers see a consistent account. Faults
injected by a test are applied here, around that: an answering fault replaces the exchange's
answer, the others delay it, hold it or swallow it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import NamedTuple
from urllib.parse import parse_qsl

from fra.emulator.account import Account
from fra.emulator.api_common import ApiRequest, Exchange, Json, Route
from fra.emulator.auth import EmulatedKey, authenticate
from fra.emulator.catalog import Catalog
from fra.emulator.clock import EmulatorClock
from fra.emulator.errors import BinanceError, bad_api_key, not_authorized
from fra.emulator.faults import Fault, FaultQueue
from fra.emulator.futures_api import FuturesApi
from fra.emulator.listings import listed_market
from fra.emulator.past_market import PastMarket
from fra.emulator.spot_api import SpotApi
from fra.venues.simulated import Shock, SimulatedMarket

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "test-key"
DEFAULT_SECRET = "test-secret"
DEFAULT_BALANCE = Decimal(10_000)


class RequestRecord(NamedTuple):
    method: str
    path: str
    query: str  # query string and form body as sent, signature included
    status: int  # 0: the connection was dropped without an answer
    response_bytes: int
    time_ms: int  # the emulator's clock when the request came in


class Reply(NamedTuple):
    """What the HTTP handler sends back (or, for some faults, how it fails to)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False  # close the connection instead of answering
    hold_s: float = 0.0  # sit on the answer this long first


class BinanceEmulator:
    """A local Binance (spot + USDⓈ-M futures REST) over fra's simulated market."""

    def __init__(
        self,
        market_seed: int = 7,
        clock: EmulatorClock | None = None,
        *,
        keys: dict[str, EmulatedKey] | None = None,
        spot_balances: dict[str, Decimal] | None = None,
        futures_usdt: Decimal = DEFAULT_BALANCE,
        shocks: Sequence[Shock] = (),
        funding_noise: float = 0.0,
    ) -> None:
        self.clock = clock or EmulatorClock()
        simulated = SimulatedMarket(
            seed=market_seed,
            clock=self.clock.now_ms,
            shocks=shocks,
            funding_noise=funding_noise,
        )
        self.market = listed_market(simulated)
        self.keys = (
            dict(keys) if keys is not None else {DEFAULT_API_KEY: EmulatedKey(DEFAULT_SECRET)}
        )
        past = PastMarket(market_seed, shocks, funding_noise)
        self.catalog = Catalog(self.market)
        self.account = Account(
            self.market,
            past,
            self.catalog,
            spot_balances=spot_balances if spot_balances is not None else {"USDT": DEFAULT_BALANCE},
            futures_balances={"USDT": futures_usdt},
            clock=self.clock.now_ms,
        )
        exchange = Exchange(self.market, past, self.catalog, self.account, self.clock)
        self._routes: dict[tuple[str, str], Route] = {
            **SpotApi(exchange).routes(),
            **FuturesApi(exchange).routes(),
        }
        self.requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._faults = FaultQueue()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL, e.g. http://127.0.0.1:8765."""
        if self._server is not None:
            raise RuntimeError(f"emulator already serving at {self.url}")
        handler = type("BinanceHandler", (_Handler,), {"emulator": self})
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        server.block_on_close = False  # a held (timeout-fault) answer must not delay stop()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://{host}:{server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> BinanceEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        self._faults.add(fault)

    @property
    def faults_pending(self) -> int:
        """Injected faults no request has met yet: a test waits on this for a request to arrive."""
        return len(self._faults)

    def delist(self, symbol: str, status: str = "SETTLING", *, remove: bool = False) -> None:
        """Take a unified symbol out of trading: exchangeInfo shows `status` (SETTLING, CLOSE,
        BREAK...) and only reduce-only orders are accepted; `remove` drops it altogether
        (-1121 Invalid symbol), open positions included, as after a settlement."""
        self.catalog.delist(symbol, status, remove=remove)

    # -- serving ----------------------------------------------------------------------------------

    def answer(self, method: str, target: str, body: str, api_key: str | None) -> Reply:
        """One request (`target` is the path with its query string), faults applied."""
        path, _, query = target.partition("?")
        arrived = self.clock.now_ms()
        fault = self._faults.take(method, path)
        if fault is not None and fault.answers:
            status, payload = fault.answer()
            headers = (
                (("Retry-After", str(math.ceil(fault.seconds))),)
                if fault.kind == "http_429"
                else ()
            )
            reply = Reply(status, _encode(payload), headers)
        else:
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.seconds)
            status, payload = self._dispatch(method, path, query, body, api_key, fault)
            reply = Reply(
                status,
                _encode(payload),
                drop=fault is not None and fault.kind == "drop_after",
                hold_s=fault.seconds if fault is not None and fault.kind == "timeout" else 0.0,
            )
        sent = "&".join(part for part in (query, body) if part)
        record = RequestRecord(
            method,
            path,
            sent,
            0 if reply.drop else reply.status,
            0 if reply.drop else len(reply.body),
            arrived,
        )
        with self._requests_lock:
            self.requests.append(record)
        return reply

    def _dispatch(
        self,
        method: str,
        path: str,
        query: str,
        body: str,
        api_key: str | None,
        fault: Fault | None,
    ) -> tuple[int, Json]:
        route = self._routes.get((method, path))
        if route is None:
            return 404, {"code": -1, "msg": f"emulator: {method} {path} is not implemented"}
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        try:
            with self.account.lock:
                key = None
                if route.signed:
                    key = authenticate(self.keys, api_key, query, body, params, self.clock.now_ms())
                    if (route.permission == "spot" and not key.enable_spot) or (
                        route.permission == "futures" and not key.enable_futures
                    ):
                        raise bad_api_key()
                    if route.permission == "transfer" and not key.permits_universal_transfer:
                        raise not_authorized()
                self.account.catch_up(self.clock.now_ms())
                return 200, route.handler(ApiRequest(params, key, fault))
        except BinanceError as error:
            return error.status, error.body()
        except Exception:
            log.exception("emulator failed on %s %s", method, path)
            return 500, {"code": -1000, "msg": f"emulator: internal error on {method} {path}"}


def _encode(payload: Json) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's requests session expects
    # Headers and body go out in two writes: with Nagle on, each answer waits ~40 ms for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    emulator: BinanceEmulator

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        reply = self.emulator.answer(method, self.path, body, self.headers.get("X-MBX-APIKEY"))
        if reply.drop:
            self.close_connection = True  # the request was carried out; no answer ever comes
            return
        if reply.hold_s:
            time.sleep(reply.hold_s)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped waiting (a timeout fault)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: `BinanceEmulator.requests` records every request."""
