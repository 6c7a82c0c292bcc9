"""fra notify test | log"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, iso, print_json, settings, ts
from fra.commands.output import WideOption

app = typer.Typer(help="Notifications: send a test message, list what was sent.")


@app.command("test")
def test(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Send a test message to every FRA_NOTIFY__URLS URL now, whatever its level. Needs no
    state file. Exit 2 without URLs, 5 if a service did not take the message."""

    def body() -> None:
        from fra.engine.notify import send_test
        from fra.errors import BadInput, VenueFailure

        s = settings(ctx)
        if not s.notify.urls:
            raise BadInput(
                "no notification URLs are set",
                "set FRA_NOTIFY__URLS, e.g. '[\"ntfys://ntfy.sh/your-topic\"]'",
            )
        results = send_test(s)
        if as_json:
            print_json([{"url": t.shown, "sent": p is None, "error": p} for t, p in results])
        else:
            for target, problem in results:
                print(f"{target.shown}: {'sent' if problem is None else f'FAILED: {problem}'}")
        failed = [t.shown for t, p in results if p is not None]
        if failed:
            raise VenueFailure(
                f"not delivered to {', '.join(failed)}",
                "check the URL (apprise's format for that service) and that the service is up",
            )

    guarded(body)


@app.command("log")
def log(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="How many, newest first."),
    as_json: bool = JsonOption,
    wide: bool = WideOption,
) -> None:
    """The notifications recorded in the state file, newest first, with each destination's
    outcome (sent, failed and retried by the next run, expired, dropped)."""

    def body() -> None:
        from fra.app import open_app
        from fra.store.notifications import Notifications

        with open_app(settings(ctx), create=False) as fra_app:
            rows = Notifications(fra_app.store).recent(limit)
            beat = Notifications(fra_app.store).last_heartbeat()
        if as_json:
            print_json(
                {
                    "notifications": [
                        {
                            "id": r.id,
                            "at": iso(r.created_ms),
                            "key": r.key,
                            "kind": r.kind.value,
                            "level": r.level.value,
                            "title": r.title,
                            "body": r.body,
                            "deliveries": [d._asdict() for d in r.deliveries],
                        }
                        for r in rows
                    ],
                    "heartbeat": None
                    if beat is None
                    else {"at": iso(beat.time_ms), "ok": beat.ok, "error": beat.error},
                }
            )
            return
        from fra.commands.output import emit, line, table

        out = table(
            "Notifications",
            ["Id", "Time (UTC)", "Level", "Kind", "Title", "Delivery"],
            [
                [
                    str(r.id),
                    ts(r.created_ms),
                    r.level.value,
                    r.kind.value,
                    r.title,
                    ", ".join(
                        f"{d.target} {d.state}" + (f" ({d.error})" if d.error else "")
                        for d in r.deliveries
                    )
                    or "no URL takes this level",
                ]
                for r in rows
            ],
            left={"Level", "Kind", "Title", "Delivery"},
            drop=["Kind"],
            wrap={"Title", "Delivery"},
        )
        if beat is not None:
            outcome = "ok" if beat.ok else f"FAILED: {beat.error}"
            out.append(line(f"Last heartbeat: {ts(beat.time_ms)} UTC, {outcome}"))
        emit(out, wide)

    guarded(body)
