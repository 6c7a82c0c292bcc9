"""A close on the paper venue goes through whatever the cash balance: negative funding paid by a
fully deployed account can leave the wallet below zero, and a buy-back needs no cash."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import T0, Fra


def test_close_after_negative_funding_left_cash_below_zero(fra: Fra) -> None:
    # The defaults use all the equity; SOL then pays funding at -0.3 %/8h for two days.
    fra.env = {k: v for k, v in fra.env.items() if not k.startswith(("FRA_STRATEGY", "FRA_RISK"))}
    fra.shocks("SOL/USDT:USDT@2026-03-01T01:00:00Z:funding=-0.003:hours=48")
    fra.at(T0)("run-cycle")
    held = {p["symbol"]: p["id"] for p in fra.json("positions")}
    assert "SOL/USDT:USDT" in held
    fra.at(T0.replace(day=3))("run-cycle", code=None)
    cash = Decimal(fra.query("SELECT amount FROM paper_balances WHERE asset = 'USDT'")[0][0])
    assert cash < 0, "the scenario must leave the wallet below zero"

    fra("close", str(held["SOL/USDT:USDT"]))

    states = dict(fra.query("SELECT id, state FROM positions"))
    assert states[held["SOL/USDT:USDT"]] == "closed"
    assert fra.query("SELECT amount FROM paper_shorts WHERE symbol = 'SOL/USDT:USDT'") in (
        [],
        [("0",)],
    )
