"""Reconcile, driven through the engine with the real store, simulated market and paper
executor: the process died at the worst moments, and the next cycle puts things right."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import T0, iso

from fra.app import App, open_app
from fra.core.models import OrderRequest, Side
from fra.core.positions import PositionState
from fra.engine.cycle import run_cycle
from fra.engine.open import execute_open, live_row, plan_open
from fra.engine.orders import write_intent
from fra.engine.reconcile import reconcile
from fra.settings import load_settings

ETH = "ETH/USDT:USDT"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = load_settings(
        db=tmp_path / "state.db",
        venue="simulated",
        sim={"now": iso(T0), "shocks": [f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"]},
        strategy={"symbols": [ETH], "predicted_weight": "1"},
    )
    with open_app(settings) as app:
        yield app


def intent(
    app: App, leg: str, side: Side, amount: Decimal, purpose: str = "open", reduce: bool = False
) -> OrderRequest:
    """Write an order's intent exactly as the engine does, without sending it."""
    position = app.store.positions()[-1]
    return write_intent(
        app, position, leg=leg, purpose=purpose, side=side, amount=amount, reduce_only=reduce
    )


def send(app: App, request: OrderRequest) -> None:
    """The venue receives the order; the process dies before recording the result."""
    app.executor.submit(request)


def new_position(app: App) -> None:
    with app.store.tx():
        app.store.create_position(
            venue="simulated",
            mode="paper",
            perp_symbol=ETH,
            spot_symbol="ETH/USDT",
            target_amount=Decimal("0.2"),
            leverage=3,
            entry_rate=Decimal("0.0008"),
            interval_hours=8,
            now_ms=app.now_ms(),
        )


def test_both_legs_filled_but_not_recorded_becomes_open(app: App) -> None:
    new_position(app)
    send(app, intent(app, "spot", Side.BUY, Decimal("0.2003")))
    send(app, intent(app, "perp", Side.SELL, Decimal("0.2")))
    [position] = app.store.positions()
    assert position.state is PositionState.OPENING and position.perp_short == 0  # not recorded

    done = reconcile(app)
    [position] = app.store.positions()
    assert done == [f"position 1 {ETH} -> open"]
    assert position.state is PositionState.OPEN
    assert position.perp_short == Decimal("0.2")
    assert position.spot_held >= position.perp_short
    # Looked up by client id, not sent again: the paper venue saw each order once.
    assert app.store.conn.execute("SELECT COUNT(*) FROM paper_orders").fetchone() == (2,)


def test_spot_sent_perp_never_sent_is_unwound(app: App) -> None:
    new_position(app)
    send(app, intent(app, "spot", Side.BUY, Decimal("0.2003")))
    intent(app, "perp", Side.SELL, Decimal("0.2"))  # written, never sent
    reconcile(app)
    [position] = app.store.positions()
    assert position.state is PositionState.UNWOUND
    states = [f.state for f in position.fills]
    assert states[:2] == ["filled", "unsent"]
    assert position.perp_short == 0
    assert position.spot_held < Decimal("0.0001")


def test_nothing_sent_at_all_is_failed(app: App) -> None:
    new_position(app)
    intent(app, "spot", Side.BUY, Decimal("0.2003"))
    reconcile(app)
    [position] = app.store.positions()
    assert position.state is PositionState.FAILED


def test_close_interrupted_after_the_perp_is_finished(app: App) -> None:
    markets = app.market.markets()
    plan = plan_open(app, live_row(app, ETH), markets, Decimal(500), [])
    position = execute_open(app, plan)
    with app.store.tx():
        app.store.set_position_state(position.id, PositionState.CLOSING, reason="manual close")
    short = position.perp_short
    send(app, intent(app, "perp", Side.BUY, short, purpose="close", reduce=True))  # then died

    report = run_cycle(app)
    position, reopened = app.store.positions()
    assert report.reconciled == [f"position 1 {ETH} -> closed"]
    assert position.state is PositionState.CLOSED
    assert position.close_reason == "manual close"
    assert position.perp_short == 0 and position.spot_held < Decimal("0.0001")
    # The cycle then reopened ETH (still paying 0.08 %/8h) as a new position.
    assert reopened.state is PositionState.OPEN and report.opened == [f"2 {ETH} open"]
