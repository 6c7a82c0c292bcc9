"""`python -m fra.emulator`: a local Binance to point fra's live mode at, safely."""

from __future__ import annotations

import argparse
import threading
from decimal import Decimal

from fra.emulator.server import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fra.emulator",
        description="Serve an emulated Binance (spot + USDⓈ-M futures REST) on fra's simulated "
        "market, at wall-clock time.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--seed", type=int, default=7, help="simulated market seed")
    parser.add_argument(
        "--funding-noise",
        type=float,
        default=0.0,
        help="funding prints from 0 (smooth, like Binance) to 1 (noisy), as FRA_SIM__FUNDING_NOISE",
    )
    parser.add_argument("--spot-usdt", type=Decimal, default=Decimal(10_000))
    parser.add_argument("--futures-usdt", type=Decimal, default=Decimal(10_000))
    args = parser.parse_args(argv)
    if not 0 <= args.funding_noise <= 1:
        parser.error("--funding-noise must be between 0 and 1")

    emulator = BinanceEmulator(
        market_seed=args.seed,
        funding_noise=args.funding_noise,
        spot_balances={"USDT": args.spot_usdt},
        futures_usdt=args.futures_usdt,
    )
    url = emulator.start(args.host, args.port)
    print(f"Binance emulator listening on {url}", flush=True)
    print(f"API key:    {DEFAULT_API_KEY}", flush=True)
    print(f"API secret: {DEFAULT_SECRET}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
