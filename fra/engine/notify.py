"""Notifications after a cycle or a command, and the heartbeat: facts gathered here, the
decision in fra.core.alerts, the record in fra.store.notifications, the sending by apprise.

Nothing here may fail or hold up a cycle: every entry point catches its own errors, and sends
run in threads that are waited for at most FRA_NOTIFY__TIMEOUT_SECONDS (plus a second). apprise
is imported only when there is something to send.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from fra.core.alerts import (
    Condition,
    DailyFigures,
    Kind,
    Level,
    Message,
    batch,
    daily_message,
    decide,
    mask_url,
    price,
    scrub,
    split_target,
    usd,
    wanted,
)
from fra.core.positions import HELD_STATES, Position, PositionState
from fra.core.risk import MarginLevel
from fra.errors import BadInput, ExitCode, FraError, StateError
from fra.store.notifications import Heartbeat, Notifications

if TYPE_CHECKING:
    from fra.app import App
    from fra.engine.cycle import CycleReport
    from fra.settings import Settings

log = logging.getLogger("fra.notify")

# Kinds of condition (fra.core.alerts keys) each caller looks at: the others are left as they are.
CYCLE_KINDS = frozenset({"margin", "halted", "failed", "closing", "untracked"})
FAILED_KINDS = frozenset({"failed", "halted"})
HALT_KINDS = frozenset({"halted"})
CLOSE_KINDS = frozenset({"closing"})
STOP_KINDS = HALT_KINDS | CLOSE_KINDS

EXPIRE_MS = 24 * 3_600_000  # a message undelivered for a day is news no longer
GRACE_SECONDS = 1.0  # beyond the timeout, for threads to hand back their outcome


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    minimum: Level
    id: str  # a hash of the URL: which deliveries are this URL's, without storing it
    shown: str  # the URL masked, for tables, logs and errors


def targets(settings: Settings) -> list[Target]:
    n = settings.notify
    out = []
    for text in n.urls:
        level, url = split_target(text)
        out.append(
            Target(
                url,
                level or Level(n.level),
                hashlib.sha256(url.encode()).hexdigest()[:16],
                mask_url(text),
            )
        )
    return out


# -- entry points ------------------------------------------------------------------------------


def after_cycle(app: App, report: CycleReport, error: FraError | None) -> None:
    """What a cycle that finished (or failed with `error`) changed; the heartbeat if it ran
    to its end. Never raises."""
    if isinstance(error, BadInput):
        # A setting to fix, or a key the exchange refused: said on the terminal, and the state
        # file stays as it was.
        return
    try:
        if isinstance(error, StateError):
            # The state file cannot record anything now: the failure is sent without a record,
            # so it is sent again by every cycle while the file stays broken.
            send_unrecorded(app.settings, failure_message(error))
            return
        if error is None:
            observed, checked = _cycle_conditions(app, report), CYCLE_KINDS
        elif error.exit_code == ExitCode.INTERRUPTED:
            observed, checked = _halt_condition(app), HALT_KINDS
        else:
            observed = [_failed_condition(error), *_halt_condition(app)]
            checked = FAILED_KINDS
        _notify(app, observed, checked, daily=error is None, heartbeat=error is None)
    except (sqlite3.Error, StateError) as exc:
        log.warning("notifications not recorded: the state file failed (%s)", exc)
        if error is not None:
            send_unrecorded(app.settings, failure_message(error))
    except Exception as exc:  # a bug here must not turn a cycle's result into another
        log.warning("notifications failed: %s: %s", type(exc).__name__, _scrubbed(app, exc))


def after_command(app: App, checked: Iterable[str]) -> None:
    """After a command that opened, closed, halted or resumed: its news now, not at the next
    cycle. Never raises."""
    try:
        observed = []
        if "halted" in checked:
            observed += _halt_condition(app)
        if "closing" in checked:
            observed += _closing_conditions(app)
        _notify(app, observed, frozenset(checked), daily=False, heartbeat=False)
    except Exception as exc:
        log.warning("notifications failed: %s: %s", type(exc).__name__, _scrubbed(app, exc))


def send_unrecorded(settings: Settings, message: Message) -> None:
    """Send without the state file (it is what failed). Never raises."""
    try:
        chosen = [t for t in targets(settings) if wanted(message.level, t.minimum)]
        jobs = {t.id: (t, *batch([message], _prefix(settings))) for t in chosen}
        for target_id, problem in _deliver(jobs, settings.notify.timeout_seconds).items():
            if problem:
                shown = next(t.shown for t in chosen if t.id == target_id)
                log.warning("notification to %s failed: %s", shown, problem)
    except Exception as exc:
        log.warning("notifications failed: %s", type(exc).__name__)


def send_test(settings: Settings) -> list[tuple[Target, str | None]]:
    """`fra notify test`: one message to every URL, whatever its level; (target, problem)."""
    message = Message(
        "test",
        Kind.EVENT,
        Level.INFO,
        "test notification",
        f"fra can reach you here. State file {settings.db_path}, venue {settings.venue}"
        f" ({settings.mode}).",
    )
    found = targets(settings)
    jobs = {t.id: (t, *batch([message], _prefix(settings))) for t in found}
    outcome = _deliver(jobs, settings.notify.timeout_seconds)
    return [(t, outcome[t.id]) for t in found]


def failure_message(error: FraError) -> Message:
    c = _failed_condition(error)
    return Message(c.key, Kind.START, c.level, c.title, c.text)


# -- facts -------------------------------------------------------------------------------------


def _cycle_conditions(app: App, report: CycleReport) -> list[Condition]:
    risk = app.settings.risk
    out = _halt_condition(app) + _closing_conditions(app)
    if report.margin is not MarginLevel.OK:
        critical = report.margin is MarginLevel.CRITICAL
        text = (
            f"worst margin ratio {_pct(report.worst_margin_ratio)}: alert at"
            f" {_pct(risk.margin_alert)}, critical at {_pct(risk.margin_critical)}"
            + (" (the emergency stop was triggered)" if critical else "; no new positions")
        )
        out.append(
            Condition(
                "margin",
                Level.CRITICAL if critical else Level.WARNING,
                f"margin {report.margin.value}",
                text,
            )
        )
    if report.untracked:
        held = ", ".join(f"{u.amount} {u.symbol} ({u.kind})" for u in report.untracked)
        out.append(
            Condition(
                "untracked",
                Level.CRITICAL,
                "the exchange holds positions fra's books do not explain",
                f"{held}: nothing new is opened until a person looks (`fra adopt` takes a"
                " hedged pair in)",
            )
        )
    return out


def _halt_condition(app: App) -> list[Condition]:
    reason = app.store.halt_reason()
    if reason is None:
        return []
    return [
        Condition(
            "halted",
            Level.CRITICAL,
            "emergency stop: trading halted",
            f"{reason}; positions are closed and nothing opens until `fra resume`",
        )
    ]


def _closing_conditions(app: App) -> list[Condition]:
    return [
        Condition(
            f"closing:{p.id}",
            Level.WARNING,
            f"position {p.id} {p.perp_symbol} stuck closing",
            (p.note or "the venue did not complete the close")
            + "; every cycle retries it (see `fra positions`)",
        )
        for p in app.store.positions([PositionState.CLOSING])
    ]


def _failed_condition(error: FraError) -> Condition:
    code = int(error.exit_code)
    # An exchange that fails (5) usually comes back by itself; a bug, a state file fra cannot
    # use or a refused key do not.
    level = Level.WARNING if code == ExitCode.VENUE else Level.CRITICAL
    return Condition("failed", level, f"cycle failed (exit {code})", str(error))


def _position_events(app: App, notes: Notifications) -> list[Message]:
    baseline = notes.baseline_id()
    found = [app.store.position(pid) for pid in notes.position_candidates()]
    positions = [p for p in found if p is not None]
    keys = [f"opened:{p.id}" for p in positions] + [f"final:{p.id}" for p in positions]
    known = notes.known_keys(keys)
    out = []
    for p in positions:
        if p.opened_ms is not None and p.id > baseline and f"opened:{p.id}" not in known:
            out.append(_opened(p))
        if p.state.is_final and f"final:{p.id}" not in known:
            out.append(_final(p))
    return out


def _opened(p: Position) -> Message:
    body = (
        f"position {p.id}: short {p.perp_short} {p.perp_symbol} @ {price(p.perp_entry_price)},"
        f" long {p.spot_held} {p.spot_symbol} @ {price(p.spot_entry_price)}; notional"
        f" {usd(p.notional)}, entry fees {usd(p.pnl().fees)}"
    )
    return Message(f"opened:{p.id}", Kind.EVENT, Level.INFO, f"opened {p.perp_symbol}", body)


def _final(p: Position) -> Message:
    pnl = p.pnl(*_exit_prices(p))
    figures = f"funding {usd(pnl.funding)}, fees {usd(pnl.fees)}, net {usd(pnl.net)}"
    reason = p.close_reason or p.state.value
    if "liquidated" in reason:
        level, title = Level.CRITICAL, f"LIQUIDATED: {p.perp_symbol}"
    elif p.state is PositionState.CLOSED:
        level, title = Level.INFO, f"closed {p.perp_symbol}"
    else:
        level, title = Level.WARNING, f"open of {p.perp_symbol} failed ({p.state.value})"
    body = f"position {p.id} {p.state.value} ({reason}): {figures}"
    return Message(f"final:{p.id}", Kind.EVENT, level, title, body)


def _exit_prices(p: Position) -> tuple[Decimal | None, Decimal | None]:
    s, q = p.spot, p.perp
    return (
        s.sell_proceeds / s.sold if s.sold else None,
        q.buy_cost / q.bought if q.bought else None,
    )


def _daily(app: App, notes: Notifications, now_ms: int) -> list[Message]:
    hour = app.settings.notify.daily_hour
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    day = now.strftime("%Y-%m-%d")
    if hour is None or now.hour < hour or notes.known_keys([f"daily:{day}"]):
        return []
    from fra.core.valuation import valued_pnl

    since = now_ms - 24 * 3_600_000
    snapshot = app.store.latest_snapshot()
    held = app.store.positions(HELD_STATES)
    closed, realized = notes.closed_since(since, now_ms)
    figures = DailyFigures(
        day=day,
        funding_24h=notes.funding_since(since, now_ms),
        closed_24h=closed,
        realized_24h=realized,
        held=len(held),
        exposure=sum((p.notional for p in held), Decimal(0)),
        unrealized=sum((valued_pnl(p, snapshot).net for p in held), Decimal(0)),
        fees_held=sum((p.pnl().fees for p in held), Decimal(0)),
        worst_margin=max(app.store.last_margin_ratios().values(), default=None),
        halted=app.store.halt_reason(),
    )
    return [daily_message(figures)]


# -- recording and sending ---------------------------------------------------------------------


def _notify(
    app: App,
    observed: list[Condition],
    checked: frozenset[str],
    *,
    daily: bool,
    heartbeat: bool,
) -> None:
    settings = app.settings
    store = app.store
    notes = Notifications(store)
    found = targets(settings)
    if not found and not heartbeat:
        return
    now = _now(app)
    if not found:
        if heartbeat:
            # Off, after a cycle that ran to its end: announcing is kept caught up, so that
            # turning it on does not send the backlog.
            with store.tx():
                notes.advance(baseline=True)
            _heartbeat_only(app, notes)
        return
    events = _position_events(app, notes) + (_daily(app, notes, now) if daily else [])
    current = {t.id: t for t in found}
    with store.tx():
        decision = decide(
            observed,
            notes.conditions(),
            checked,
            now,
            int(settings.notify.repeat_hours * 3_600_000),
        )
        for message in decision.messages + events:
            notes.add(
                message,
                now,
                [(t.id, t.shown) for t in found if wanted(message.level, t.minimum)],
            )
        notes.save_conditions(decision.upsert, decision.cleared)
        notes.advance(baseline=False)
        jobs: dict[str, tuple[Target, Level, str, str]] = {}
        sending: dict[str, list[int]] = {}
        for target_id, items in notes.due().items():
            target = current.get(target_id)
            stale = [d.notification_id for d in items if now - d.created_ms > EXPIRE_MS]
            if target is None:
                notes.settle(
                    [d.notification_id for d in items],
                    target_id,
                    "dropped",
                    "the URL is no longer in FRA_NOTIFY__URLS",
                    now,
                )
                continue
            notes.settle(stale, target_id, "expired", "undelivered for a day", now)
            fresh = [d for d in items if d.notification_id not in stale]
            if fresh:
                jobs[target_id] = (target, *batch([d.message for d in fresh], _prefix(settings)))
                sending[target_id] = [d.notification_id for d in fresh]
    beat_url = settings.notify.heartbeat_url if heartbeat else None
    outcome = _deliver(jobs, settings.notify.timeout_seconds, beat_url)
    done = _now(app)
    with store.tx():
        for target_id, ids in sending.items():
            problem = outcome[target_id]
            if problem:
                log.warning("notification to %s failed: %s", current[target_id].shown, problem)
            notes.mark(ids, target_id, "failed" if problem else "sent", problem or "", done)
        if beat_url:
            _record_beat(app, notes, outcome[_BEAT], done)


_BEAT = "heartbeat"


def _heartbeat_only(app: App, notes: Notifications) -> None:
    url = app.settings.notify.heartbeat_url
    if url is None:
        return
    outcome = _deliver({}, app.settings.notify.timeout_seconds, url)
    with app.store.tx():
        _record_beat(app, notes, outcome[_BEAT], _now(app))


def _record_beat(app: App, notes: Notifications, problem: str | None, now_ms: int) -> None:
    if problem:
        log.warning(
            "heartbeat to %s failed: %s", mask_url(app.settings.notify.heartbeat_url or ""), problem
        )
    notes.save_heartbeat(Heartbeat(now_ms, problem is None, problem or ""))


def _deliver(
    jobs: dict[str, tuple[Target, Level, str, str]],
    timeout: float,
    heartbeat_url: str | None = None,
) -> dict[str, str | None]:
    """Send each job (and ping the heartbeat) in its own thread; wait at most `timeout` plus a
    grace second for them all. Returns, per job id, None if delivered or what went wrong."""
    outcome: dict[str, str | None] = {}
    work: dict[str, Callable[[], str | None]] = {}
    if jobs:
        _load_apprise()
    for job_id, (target, level, title, body) in jobs.items():
        work[job_id] = _sender(target, level, title, body, timeout)
    if heartbeat_url:
        work[_BEAT] = lambda: _ping(heartbeat_url, timeout)
    threads = []
    for job_id, fn in work.items():
        thread = threading.Thread(target=_run_into, args=(fn, job_id, outcome), daemon=True)
        thread.start()
        threads.append((job_id, thread))
    deadline = time.monotonic() + timeout + GRACE_SECONDS
    for _, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    urls = [t.url for t, *_ in jobs.values()] + ([heartbeat_url] if heartbeat_url else [])
    result: dict[str, str | None] = {}
    for job_id, _ in threads:
        if job_id in outcome:
            problem = outcome[job_id]
            result[job_id] = None if problem is None else scrub(problem, urls)
        else:
            # Left running (a daemon thread, gone when the process ends): retried next time.
            result[job_id] = f"no answer within {timeout:g} s"
    return result


def _run_into(fn: Callable[[], str | None], job_id: str, outcome: dict[str, str | None]) -> None:
    try:
        outcome[job_id] = fn()
    except Exception as exc:
        outcome[job_id] = f"{type(exc).__name__}: {exc}"


def _sender(
    target: Target, level: Level, title: str, body: str, timeout: float
) -> Callable[[], str | None]:
    def send() -> str | None:
        import apprise

        plugin = apprise.Apprise.instantiate(target.url)
        if plugin is None:
            return "apprise does not know this URL (see apprise's list of services)"
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        sender = apprise.Apprise()
        sender.add(plugin)
        with _capturing() as said:
            ok = sender.notify(body=body, title=title, notify_type=_TYPES[level])
        if ok:
            return None
        return "; ".join(said) or "the service did not accept it"

    return send


def _ping(url: str, timeout: float) -> str | None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "fra"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


_TYPES: dict[Level, str] = {
    Level.INFO: "info",
    Level.WARNING: "warning",
    Level.CRITICAL: "failure",
}


def _now(app: App) -> int:
    """The venue's time, or this machine's when the venue is what failed (its clock is read
    from it)."""
    try:
        return app.now_ms()
    except Exception:
        return app.clock()


def _prefix(settings: Settings) -> str:
    venue = "SIMULATED" if settings.simulated else f"{settings.venue} {settings.mode}"
    return f"fra ({venue}, {settings.db_path.name})"


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _scrubbed(app: App, exc: Exception) -> str:
    n = app.settings.notify
    return scrub(str(exc), [*n.urls, *([n.heartbeat_url] if n.heartbeat_url else [])])


# apprise's warnings during one send: a context variable, which apprise carries into the
# threads it sends from.
_said: ContextVar[list[str] | None] = ContextVar("fra_notify_said", default=None)


class _AppriseLog(logging.Handler):
    """apprise's warnings, kept to say why a send failed (scrubbed of the URL's secrets by the
    caller) instead of reaching the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        said = _said.get()
        if said is not None and record.levelno >= logging.WARNING:
            said.append(record.getMessage())


@contextmanager
def _capturing() -> Iterator[list[str]]:
    said: list[str] = []
    token = _said.set(said)
    try:
        yield said
    finally:
        _said.reset(token)


_apprise_ready = False


def _load_apprise() -> None:
    """Import apprise in this (the main) thread and route its log to `_AppriseLog` only: its
    messages may hold the URL's tokens."""
    global _apprise_ready
    if _apprise_ready:
        return
    import apprise  # noqa: F401 - imported here, once, rather than in the threads

    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    logger.addHandler(_AppriseLog())
    _apprise_ready = True
