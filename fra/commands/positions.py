"""fra positions"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, day_ms, guarded, print_json, settings
from fra.commands.output import WideOption


def parse_limit(text: str) -> int:
    from fra.errors import BadInput

    # Parsed here, not by typer, so a bad value gets fra's one-line error and exit 2.
    if not text.strip().isdecimal() or int(text) < 1:
        raise BadInput(f"--limit {text!r} is not a positive whole number", "e.g. --limit 20")
    return min(int(text), 2**63 - 1)  # SQLite's largest integer: more than any file holds


def positions(
    ctx: typer.Context,
    state: str = typer.Option(
        "all", "--state", help="open (opening/open/closing), closed (closed/unwound/failed), all"
    ),
    limit: str | None = typer.Option(
        None, "--limit", help="Only the newest N positions (after --state and --since)."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only positions still held or closed on or after this date (YYYY-MM-DD, UTC).",
    ),
    as_json: bool = JsonOption,
    wide: bool = WideOption,
) -> None:
    """Open and closed positions with their fills' prices, funding, fees and P&L."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.render import position_dict, position_json, positions_table
        from fra.core.positions import FINAL_STATES, HELD_STATES
        from fra.errors import BadInput

        groups = {"open": list(HELD_STATES), "closed": list(FINAL_STATES), "all": None}
        if state not in groups:
            raise BadInput(f"unknown --state {state!r}", "use open, closed or all")
        count = None if limit is None else parse_limit(limit)
        since_ms = None if since is None else day_ms(since, "--since")
        with open_app(settings(ctx), create=False) as app:
            snapshot = app.store.latest_snapshot()
            found = app.store.positions(groups[state], since_ms=since_ms, limit=count)
            now = app.now_ms()
        if as_json:
            print_json([position_json(p, snapshot, now) for p in found])
            return
        rows = [position_dict(p, snapshot, now) for p in found]
        from fra.commands.output import emit, line

        out = []
        held = [r for r in rows if r["state"] in {s.value for s in HELD_STATES}]
        done = [r for r in rows if r not in held]
        if held:
            out += positions_table("Open positions", held, closed=False)
        if done:
            out += positions_table("Closed positions", done, closed=True)
        if not rows:
            out.append(line("No positions yet." if since is None else f"None since {since}."))
        emit(out, wide)

    guarded(body)
