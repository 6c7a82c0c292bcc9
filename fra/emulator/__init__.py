"""A local Binance REST emulator (spot + USDⓈ-M futures) over fra's simulated market.

Real ccxt talks to it once `point_ccxt_at` has rewritten its API URLs, so tests and people
trying fra's live mode exercise the exact requests live trading sends, with faults on demand.
"""

from __future__ import annotations

from fra.emulator.auth import EmulatedKey
from fra.emulator.clock import EmulatorClock
from fra.emulator.faults import Fault, FaultKind
from fra.emulator.server import (
    DEFAULT_API_KEY,
    DEFAULT_SECRET,
    BinanceEmulator,
    RequestRecord,
)
from fra.venues.exchange import point_ccxt_at

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_SECRET",
    "BinanceEmulator",
    "EmulatedKey",
    "EmulatorClock",
    "Fault",
    "FaultKind",
    "RequestRecord",
    "point_ccxt_at",
]
