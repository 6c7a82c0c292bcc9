"""Faults a test injects into the emulator: the failures a live trader must survive.

Each fault matches requests by exact path (or "*") and optionally by HTTP method, applies to the
next `times` of them, then disappears. Injection order decides which of several matching faults
a request gets; a request gets at most one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

FaultKind = Literal[
    "timeout",  # carry the request out, then sit on the answer for `seconds`
    "drop_after",  # carry the request out, then close the connection without answering
    "http_429",  # answer 429 -1003 "Too many requests" with Retry-After: `seconds`
    "http_5xx",  # answer `status` (503 by default) with Binance's -1001 internal-error body
    "maintenance",  # answer 503 {"code": 1, "msg": "System is under maintenance."}
    "reject",  # answer 400 with `code` / `msg` (an order rejection: -2010 by default, or -2019)
    "partial",  # an order fills only `fraction` of its quantity, the rest expires
    "delay",  # wait `seconds` before carrying the request out (time to kill a client)
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# (HTTP status, code, msg) each answering kind sends unless the fault says otherwise.
_ANSWERS: dict[str, tuple[int, int, str]] = {
    "http_429": (
        429,
        -1003,
        "Too many requests; current limit of IP(127.0.0.1) request weight is 6000 per minute. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    ),
    "http_5xx": (503, -1001, "Internal error; unable to process your request. Please try again."),
    "maintenance": (503, 1, "System is under maintenance."),
    "reject": (400, -2010, "Account has insufficient balance for requested action."),
}


@dataclass
class Fault:
    path: str  # exact request path, e.g. "/fapi/v1/order", or "*" for any
    method: str | None  # "GET", "POST", "DELETE", ... or None for any
    kind: FaultKind
    times: int = 1
    seconds: float = 5.0  # timeout, delay; Retry-After of http_429
    status: int | None = None  # http_5xx: 503 unless given
    code: int | None = None  # the answer's code, for the answering kinds (see _ANSWERS)
    msg: str | None = None  # ...and its message
    fraction: Decimal = Decimal("0.5")  # partial

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self.times < 1:
            raise ValueError(f"a fault applies to at least one request, got times={self.times}")
        if self.kind == "partial" and not Decimal(0) <= self.fraction < 1:
            raise ValueError(f"partial fill fraction must be in [0, 1), got {self.fraction}")
        if self.kind == "http_5xx" and self.status is not None and not 500 <= self.status <= 599:
            raise ValueError(f"http_5xx needs a 5xx status, got {self.status}")
        if self.method is not None:
            self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        return (self.path in ("*", path)) and self.method in (None, method)

    @property
    def answers(self) -> bool:
        """Whether the fault answers in the exchange's place (the request is not carried out)."""
        return self.kind in _ANSWERS

    def answer(self) -> tuple[int, dict[str, object]]:
        """(HTTP status, body) of an answering fault."""
        status, code, msg = _ANSWERS[self.kind]
        if self.kind == "http_5xx" and self.status is not None:
            status = self.status
        return status, {
            "code": self.code if self.code is not None else code,
            "msg": self.msg or msg,
        }


@dataclass
class _Pending:
    fault: Fault
    left: int


class FaultQueue:
    """Pending faults, consumed by the requests they match. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append(_Pending(fault, fault.times))

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for pending in self._pending:
                if pending.fault.matches(method, path):
                    pending.left -= 1
                    if not pending.left:
                        self._pending.remove(pending)
                    return pending.fault
            return None
