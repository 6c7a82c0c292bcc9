"""One run of the whole strategy: what cron calls every few minutes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from fra.app import App
from fra.core.positions import HELD_STATES, Position, PositionState
from fra.core.ranking import Ranked, Signal
from fra.core.risk import MarginLevel
from fra.core.valuation import valued_pnl
from fra.engine.balances import Balances, record_balances
from fra.engine.close import flatten
from fra.engine.decisions import exits, rotation_out
from fra.engine.funding import settle_funding
from fra.engine.market import rank_snapshot, scan
from fra.engine.notify import after_cycle
from fra.engine.open import OpenRefused, execute_open, plan_open
from fra.engine.reconcile import reconcile, untracked
from fra.engine.safety import close_all_held, margin_check, measure_margins
from fra.engine.signals import signals
from fra.errors import ExitCode, FraError, from_venue
from fra.venues.base import Untracked, VenueError

log = logging.getLogger("fra.cycle")


@dataclass
class CycleReport:
    cycle_id: int = 0
    reconciled: list[str] = field(default_factory=list)
    funding_payments: int = 0
    scanned: int = 0
    closed: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    # The positions behind `closed` and `opened`, as they ended, for lines a person reads.
    closed_positions: list[Position] = field(default_factory=list)
    opened_positions: list[Position] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    margin: MarginLevel = MarginLevel.OK
    worst_margin_ratio: Decimal | None = None
    margin_actions: list[dict[str, str]] = field(default_factory=list)  # top-up steps taken
    halted: str | None = None
    incomplete: list[int] = field(default_factory=list)  # positions a close left half-done
    untracked: list[Untracked] = field(default_factory=list)  # held on the venue, not in books
    balances: Balances | None = None  # both wallets and the equity, as this cycle read them
    outcome: str = "ok"
    error: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.margin is MarginLevel.CRITICAL:
            return ExitCode.MARGIN_CRITICAL
        if self.incomplete:
            return ExitCode.VENUE
        if self.margin is MarginLevel.ALERT:
            return ExitCode.MARGIN_ALERT
        if self.untracked:
            return ExitCode.UNTRACKED
        return ExitCode.OK

    def summary(self) -> dict[str, object]:
        return {
            "reconciled": self.reconciled,
            "funding_payments": self.funding_payments,
            "scanned": self.scanned,
            "closed": self.closed,
            "opened": self.opened,
            "skipped": self.skipped[:20],
            "margin": self.margin.value,
            "worst_margin_ratio": str(self.worst_margin_ratio) if self.worst_margin_ratio else None,
            "margin_actions": self.margin_actions,
            "halted": self.halted,
            "incomplete_closes": self.incomplete,
            "untracked": [
                {"symbol": u.symbol, "kind": u.kind, "amount": str(u.amount), "pair": u.perp_symbol}
                for u in self.untracked
            ],
            "balances": None
            if self.balances is None
            else {
                "spot_usdt": str(self.balances.spot),
                "futures_usdt": str(self.balances.futures),
                "equity_usdt": str(self.balances.equity),
            },
            "error": self.error,
        }


def run_cycle(app: App) -> CycleReport:
    """reconcile -> settle funding -> margin-check -> scan -> rank -> close -> open -> record."""
    stop = app.stop
    report = CycleReport()
    try:
        app.ready(opening=True)
    except (FraError, VenueError) as exc:
        # The exchange down or the key refused before the cycle could begin: a failed cycle all
        # the same, for whoever is waiting to hear of one.
        after_cycle(
            app, report, exc if isinstance(exc, FraError) else from_venue(exc, app.settings.venue)
        )
        raise
    with app.store.tx():
        report.cycle_id = app.store.start_cycle(app.now_ms())
    mark = app.store.intents_mark()
    try:
        report.reconciled = reconcile(app)
        report.untracked = untracked(app)
        stop.check()
        report.funding_payments = settle_funding(app)
        # Margin first: a liquidated or critical leg stops everything before any other trade,
        # and a cycle never adds exposure while a leg is in trouble.
        margin = margin_check(app)
        report.margin = margin.level
        report.worst_margin_ratio = margin.worst_ratio
        report.margin_actions = margin.actions
        if margin.stopped:
            report.closed += [f"{p.id} {p.perp_symbol}: emergency stop" for p in margin.stopped]
            report.closed_positions += margin.stopped
            report.incomplete += [p.id for p in margin.stopped if not p.state.is_final]
        stop.check()
        snapshot = scan(app)
        report.scanned = len(snapshot.rows)
        stop.check()

        report.halted = app.store.halt_reason()
        if report.halted is not None:
            # Halted: finish closing whatever an emergency stop could not, open nothing.
            touched = close_all_held(app, f"halted: {report.halted}")
            report.closed += [f"{p.id} {p.perp_symbol}" for p in touched]
            report.closed_positions += touched
            report.incomplete += [p.id for p in touched if not p.state.is_final]
        # A venue failing to bring the funding history up to date must not stop the exits:
        # they are judged on what state.db holds; nothing is opened, and the cycle exits 5.
        history_errors: list[VenueError] = []
        found = signals(app, snapshot.rows, strict=False, errors=history_errors, keep=True)
        ranked = rank_snapshot(app, snapshot, found)
        held = app.store.positions([PositionState.OPEN])
        for position, reason in exits(app, held, ranked, found):
            _close(app, report, position, reason)
        if history_errors:
            raise history_errors[0]

        if report.untracked:
            # Sizing from equity and the position limits would be judged on a wrong picture.
            report.skipped.append(
                "the exchange holds positions fra's books do not explain: no new positions"
            )
        elif report.halted is None and report.margin is MarginLevel.OK:
            _open_best(app, report, ranked, found)
        elif report.margin is MarginLevel.ALERT:
            report.skipped.append("margin alert: no new positions this cycle")

        report.outcome = {ExitCode.VENUE: "incomplete", ExitCode.UNTRACKED: "untracked"}.get(
            report.exit_code, report.margin.value
        )
        # Measured again so that positions opened in this cycle have a ratio on record too.
        legs = measure_margins(app)
        ratios = {leg.position_id: leg.ratio for leg in legs}
        report.balances = record_balances(app, report.cycle_id, {leg.symbol: leg for leg in legs})
        _finish(app, report, ratios, report.exit_code)
    except (FraError, VenueError) as exc:
        error = (
            exc
            if isinstance(exc, FraError)
            else from_venue(exc, app.settings.venue, app.store.intents_mark() == mark)
        )
        report.outcome = "interrupted" if error.exit_code == ExitCode.INTERRUPTED else "error"
        report.error = str(error)
        try:
            _finish(app, report, {}, error.exit_code)
        finally:
            after_cycle(app, report, error)
        if error is exc:
            raise
        raise error from None
    except Exception as exc:
        # A bug: record it so the cycle is not left "running" forever, then let it surface.
        report.outcome = "error"
        report.error = f"{type(exc).__name__}: {exc}"
        try:
            _finish(app, report, {}, ExitCode.INTERNAL)
        finally:
            after_cycle(app, report, FraError(report.error))
        raise
    after_cycle(app, report, None)
    return report


def _close(app: App, report: CycleReport, position: Position, reason: str) -> None:
    closed = flatten(app, position, PositionState.CLOSED, reason)
    report.closed.append(f"{position.id} {position.perp_symbol}: {reason}")
    report.closed_positions.append(closed)
    if not closed.state.is_final:
        report.incomplete.append(position.id)
    app.stop.check()


def _open_best(
    app: App, report: CycleReport, ranked: list[Ranked], found: dict[str, Signal]
) -> None:
    """The eligible pairs best first, while the risk rules allow; when there is no room, a
    better pair may take the place of the held one expected to pay least (one a cycle)."""
    markets = app.market.markets()
    rotated = False
    for candidate in ranked:
        if not candidate.eligible:
            continue
        while True:
            held = app.store.positions(HELD_STATES)
            try:
                plan = plan_open(
                    app, candidate.row, markets, None, held, found.get(candidate.symbol)
                )
                break
            except OpenRefused as exc:
                out = None
                if exc.is_room and not rotated:
                    out = rotation_out(app, held, ranked, candidate)
                if out is None:
                    report.skipped.append(str(exc))
                    if exc.is_global:
                        return
                    plan = None
                    break
                rotated = True
                _close(app, report, out, f"rotated into {candidate.symbol}")
                if not app.store.position(out.id).state.is_final:
                    return  # the close is unfinished: its capital is not free yet
        if plan is None:
            continue
        position = execute_open(app, plan)
        report.opened.append(f"{position.id} {position.perp_symbol} {position.state.value}")
        report.opened_positions.append(position)
        app.stop.check()


def _finish(app: App, report: CycleReport, ratios: dict[int, Decimal], exit_code: ExitCode) -> None:
    snapshot = app.store.latest_snapshot()
    rates = {r.perp_symbol: r.funding_rate for r in snapshot.rows} if snapshot else {}
    with app.store.tx():
        for p in app.store.positions(HELD_STATES):
            app.store.record_cycle_position(
                report.cycle_id,
                p.id,
                p.state.value,
                rates.get(p.perp_symbol),
                ratios.get(p.id),
                valued_pnl(p, snapshot).net,
            )
        app.store.finish_cycle(
            report.cycle_id, app.now_ms(), report.outcome, int(exit_code), report.summary()
        )
