"""What the dashboard shows, read from the state file and put in words and numbers: the
template only lays it out."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from fra.app import App
from fra.commands.common import age, money, pct, price, ts
from fra.commands.render import cycle_outcome, position_dict
from fra.core.text import plural
from fra.engine.overview import Overview, overview
from fra.store.timeline import (
    cumulative_funding,
    net_pnl_by_cycle,
    recent_closes,
    recent_cycles,
    recent_margin_actions,
)
from fra.web.charts import margin_gauge, time_chart

CYCLES_SHOWN = 15
CHART_CYCLES = 2000  # a week of 5-minute cycles
RANKED_SHOWN = 20
EVENTS_SHOWN = 20


def dashboard(app: App) -> dict[str, Any]:
    o = overview(app)
    return {
        "o": o,
        "status": _status(o),
        "positions": _positions(app, o),
        "charts": _charts(app, o),
        "cycles": _cycles(app, o),
        "ranking": _ranking(app),
        "events": _events(app, o),
        "notifications": _notifications(app),
        "history": history_summary(app.settings.history_path),
    }


def _status(o: Overview) -> dict[str, Any]:
    cycle = o.last_cycle
    if cycle is None:
        last = {"text": "never", "detail": "run `fra run-cycle`", "tone": "warn"}
    else:
        when = cycle.finished_ms or cycle.started_ms
        last = {
            "text": f"{_ago(when, o.now_ms)}{'' if _ago(when, o.now_ms) == 'just now' else ' ago'}:"
            f" {cycle_outcome(cycle.outcome, cycle.summary.get('halted'))}",
            "detail": f"#{cycle.id} at {ts(when)} UTC, exit {_dash(cycle.exit_code)}",
            "tone": _tone(cycle.outcome, cycle.summary.get("halted")),
        }
    worst = o.worst_margin_ratio
    return {
        "halted": o.halt_reason,
        "halted_at": ts(o.halted_ms) if o.halted_ms else None,
        "last_cycle": last,
        "cards": [
            ("Open positions", str(len(o.held)), f"{o.closed} closed"),
            ("Exposure", money(o.exposure), "USDT, entry notional of the shorts"),
            ("Net P&L", money(o.net), f"realized {money(o.realized)}, open {money(o.unrealized)}"),
            ("Funding earned", money(o.funding, 4), "USDT, every position"),
            ("Fees paid", money(o.fees, 4), "USDT, every position"),
            *(
                [("Paper cash", money(o.paper_cash), "USDT free")]
                if o.paper_cash is not None
                else []
            ),
        ],
        "worst": pct(worst, 2)
        if worst is not None
        else ("not measured yet" if o.held else "no open shorts"),
        "worst_gauge": Markup(margin_gauge(worst, o.margin_alert, o.margin_critical)),
        "prices_at": f"prices as of {ts(o.snapshot.taken_ms)} UTC"
        if o.snapshot
        else "no prices yet (`fra run-cycle` takes them)",
    }


def _positions(app: App, o: Overview) -> list[dict[str, Any]]:
    out = []
    for h in o.held:
        row = position_dict(h.position, o.snapshot, o.now_ms)
        out.append(
            {
                "id": row["id"],
                "symbol": row["symbol"],
                "state": row["state"],
                "size": f"{row['perp_amount']:f}",
                "spot_entry": price(row["spot_entry_price"]),
                "perp_entry": price(row["perp_entry_price"]),
                "notional": money(h.position.notional),
                "funding": money(row["funding"], 4),
                "payments": row["funding_payments"],
                "fees": money(row["fees"], 4),
                "net": money(row["net_pnl"]),
                "net_tone": "ok" if row["net_pnl"] >= 0 else "bad",
                "age": row["age"],
                "ratio": "-" if h.margin_ratio is None else pct(h.margin_ratio, 2),
                "level": h.level.value if h.level else "unmeasured",
                "gauge": Markup(margin_gauge(h.margin_ratio, o.margin_alert, o.margin_critical)),
            }
        )
    return out


def _charts(app: App, o: Overview) -> list[dict[str, Any]]:
    store = app.store
    net = net_pnl_by_cycle(store, CHART_CYCLES)
    if o.paper_cash is not None:
        start = app.settings.paper.starting_balance
        title, series = "Equity (paper account, USDT)", [(t, start + v) for t, v in net]
    else:
        title, series = "Net P&L since the first position (USDT)", net
    funding = cumulative_funding(store)
    return [
        {
            "id": "equity",
            "title": title,
            "svg": _svg(time_chart(title, series)),
            "note": f"after each of the last {plural(len(series), 'cycle')}" if series else "",
            "empty": "drawn once two cycles have finished",
        },
        {
            "id": "funding",
            "title": "Funding received, cumulative (USDT)",
            "svg": _svg(time_chart("Funding received, cumulative (USDT)", funding)),
            "note": f"{plural(len(funding), 'settlement')}, latest total {money(funding[-1][1], 4)}"
            if funding
            else "",
            "empty": "drawn once positions have collected funding twice",
        },
    ]


def _svg(svg: str | None) -> Markup | None:
    return None if svg is None else Markup(svg)


def _cycles(app: App, o: Overview) -> list[dict[str, Any]]:
    out = []
    for c in recent_cycles(app.store, CYCLES_SHOWN):
        s = c.summary
        took = None if c.finished_ms is None else (c.finished_ms - c.started_ms) / 1000
        out.append(
            {
                "id": c.id,
                "started": ts(c.started_ms),
                "ago": _ago(c.started_ms, o.now_ms),
                "duration": "-" if took is None else f"{took:.1f} s",
                "outcome": cycle_outcome(c.outcome, s.get("halted")),
                "tone": _tone(c.outcome, s.get("halted")),
                "exit_code": _dash(c.exit_code),
                "opened": len(s.get("opened") or []),
                "closed": len(s.get("closed") or []),
                "funding": s.get("funding_payments") or 0,
                "error": s.get("error") or "",
            }
        )
    return out


def _ranking(app: App) -> dict[str, Any]:
    from fra.engine.decisions import ranking_with_advice

    snapshot = app.store.latest_snapshot()
    if snapshot is None:
        return {"rows": [], "taken": None, "total": 0}
    ranked, advice, _ = ranking_with_advice(app, snapshot, update=False)
    rows = [
        {
            "rank": i,
            "symbol": r.symbol,
            "rate": pct(r.row.funding_rate),
            "every": f"{r.row.interval_hours}h",
            "forecast": pct(r.forecast),
            "apr": pct(r.apr, 1),
            "net": pct(r.net_yield, 3),
            "action": advice[r.symbol].action,
            "why": advice[r.symbol].why,
            "tone": {"open": "ok", "hold": "ok", "rotate in": "ok", "close": "bad"}.get(
                advice[r.symbol].action, "mute"
            ),
        }
        for i, r in enumerate(ranked[:RANKED_SHOWN], 1)
    ]
    return {"rows": rows, "taken": ts(snapshot.taken_ms), "total": len(ranked)}


def _events(app: App, o: Overview) -> list[dict[str, str]]:
    """Recent things worth knowing, newest first: closes, margin top-up steps, failed cycles
    and the halt. (Notifications are shown beside them.)"""
    found: list[tuple[int, str, str, str]] = []  # (time, kind, text, tone)
    for p in recent_closes(app.store, EVENTS_SHOWN):
        net = "" if p.net is None else f", net {money(p.net)} USDT"
        tone = "ok" if p.net is not None and p.net >= 0 else "bad"
        found.append(
            (p.closed_ms or 0, "position", f"#{p.id} {p.symbol} {p.state}: {p.reason}{net}", tone)
        )
    for a in recent_margin_actions(app.store, EVENTS_SHOWN):
        what = f"{a.kind} {money(a.amount, 4)} on {a.symbol} ({a.state})"
        found.append((a.updated_ms, "margin", what + (f": {a.reason}" if a.reason else ""), "warn"))
    for c in recent_cycles(app.store, EVENTS_SHOWN):
        if c.outcome not in ("ok", "running"):
            text = f"cycle #{c.id} {cycle_outcome(c.outcome, c.summary.get('halted'))}" + (
                f": {c.summary['error']}" if c.summary.get("error") else ""
            )
            found.append((c.finished_ms or c.started_ms, "cycle", text, "bad"))
    if o.halt_reason is not None:
        found.append((o.halted_ms or 0, "halt", f"trading halted: {o.halt_reason}", "bad"))
    found.sort(key=lambda e: e[0], reverse=True)
    return [
        {"when": ts(t) if t else "-", "kind": kind, "text": text, "tone": tone}
        for t, kind, text, tone in found[:EVENTS_SHOWN]
    ]


def _notifications(app: App) -> dict[str, Any]:
    """What notifications say: the conditions that hold now, the messages sent and to where,
    and the last heartbeat (fra.store.notifications)."""
    from fra.store.notifications import Notifications

    book = Notifications(app.store)
    tone = {"info": "ok", "warning": "warn", "critical": "bad"}
    conditions = sorted(book.conditions().values(), key=lambda t: t.since_ms, reverse=True)
    beat = book.last_heartbeat()
    return {
        "conditions": [
            {
                "since": ts(t.since_ms),
                "level": t.level.value,
                "tone": tone.get(t.level.value, "warn"),
                "text": f"{t.title}: {t.text}" if t.text else t.title,
            }
            for t in conditions
        ],
        "recent": [
            {
                "when": ts(n.created_ms),
                "level": n.level.value,
                "tone": tone.get(n.level.value, "warn"),
                "title": n.title,
                "body": n.body,
                "sent": ", ".join(f"{d.state} to {d.target}" for d in n.deliveries)
                or "no destination",
            }
            for n in book.recent(EVENTS_SHOWN)
        ],
        "heartbeat": None
        if beat is None
        else {
            "when": ts(beat.time_ms),
            "ok": beat.ok,
            "error": beat.error,
        },
    }


_history_cache: dict[tuple[str, int, int], dict[str, Any] | None] = {}


def history_summary(path: Path) -> dict[str, Any] | None:
    """What history.db holds, when there is one: series, symbols and the time they span.
    Read-only, and read again only when the file changed (it can be large)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _history_cache:
        _history_cache.clear()
        _history_cache[key] = _read_history(path)
    return _history_cache[key]


def _read_history(path: Path) -> dict[str, Any] | None:
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        try:
            found = {}
            for kind, table, column in (
                ("funding", "funding", "time_ms"),
                ("bars", "bars", "open_time_ms"),
            ):
                row = conn.execute(
                    f"SELECT COUNT(DISTINCT exchange || ' ' || symbol), MIN({column}),"
                    f" MAX({column}), COUNT(*) FROM {table}"
                ).fetchone()
                found[kind] = {
                    "series": row[0],
                    "first": ts(row[1]),
                    "last": ts(row[2]),
                    "rows": f"{row[3]:,}",
                }
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"path": str(path), "error": str(exc)}
    return {"path": str(path), **found}


def _ago(ms: int, now_ms: int) -> str:
    # The simulated clock may be pinned before what the file holds: say "just now", not "-3m".
    return "just now" if now_ms - ms < 60_000 else age(ms, now_ms)


def _tone(outcome: str, halted: str | None) -> str:
    # A cycle that ran fine while halted is a warning, not "ok": it opened nothing.
    tone = {"ok": "ok", "running": "ok", "alert": "warn"}.get(outcome, "bad")
    return "warn" if outcome == "ok" and halted is not None else tone


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)
