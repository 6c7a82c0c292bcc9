"""`fra serve`: the dashboard, /metrics and, with a token, the emergency-stop button.

Every request opens the state file read-only (never the cycle lock), so cycles and the page run
side by side. The stop is the one thing that writes, and it does so by running `fra
emergency-stop` itself, in its own process: the same code, the same lock, and signals handled
as on the command line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from fra.core.text import REASON_MAX, one_line
from fra.engine.overview import read_only_app
from fra.errors import FraError
from fra.settings import Settings
from fra.web.guard import Guard

HERE = Path(__file__).parent
STOP_TIMEOUT = 300  # the command waits up to 120 s for a running cycle, then closes everything
HEADERS = {
    # The page can stop trading: it may not be framed (clickjacking), loads nothing from
    # elsewhere, and its forms post only to itself.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(
    settings: Settings, *, refresh_seconds: int, guard: Guard, stop_command: list[str]
) -> Starlette:
    """The web app over `settings.db_path`. `stop_command` is the `fra ... emergency-stop`
    command line (without its --reason) the button runs."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def page(request: Request, name: str, code: int = 200, **context: Any) -> Response:
        context.update(guard=guard, db=str(settings.db_path), refresh=refresh_seconds)
        return templates.TemplateResponse(request, name, context, status_code=code)

    async def dashboard(request: Request) -> Response:
        if not guard.signed_in(request):
            return page(request, "login.html", code=401, error=None)
        try:
            data = await asyncio.to_thread(_read_dashboard, settings)
        except FraError as exc:
            return page(request, "problem.html", code=503, problem=str(exc))
        return page(request, "dashboard.html", **data)

    async def metrics(request: Request) -> Response:
        if not guard.signed_in(request):
            return PlainTextResponse("a token is needed: Authorization: Bearer TOKEN\n", 401)
        from fra.engine.metrics import exposition

        try:
            body = await asyncio.to_thread(exposition, settings)
        except FraError as exc:
            return PlainTextResponse(f"error: {exc}\n", 503)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html", error=None)
        refused = guard.cross_site(request)
        form = await _form(request)
        if refused is not None:
            return page(request, "login.html", code=403, error=refused)
        if not guard.token_matches(form.get("token", "")):
            return page(request, "login.html", code=403, error="that is not the token")
        response = RedirectResponse("/", status_code=303)
        guard.sign_in(response)
        return response

    async def stop(request: Request) -> Response:
        if guard.token is None:
            return page(
                request,
                "message.html",
                code=404,
                title="No emergency stop here",
                text="The button is offered only when fra serve runs with FRA_SERVE__TOKEN.",
            )
        if request.method == "GET":
            if not guard.signed_in(request):
                return page(request, "login.html", code=401, error=None)
            return page(request, "stop.html", error=None)
        refused = guard.cross_site(request)
        form = await _form(request)
        if refused is None and not guard.token_matches(
            form.get("token") or guard.bearer(request) or ""
        ):
            refused = "the token is missing or wrong"
        if refused is None and form.get("confirm") != "stop":
            refused = "the stop was not confirmed"
        if refused is not None:
            return page(request, "stop.html", code=403, error=refused)
        reason = one_line(form.get("reason") or "", REASON_MAX) or "from the dashboard"
        code, output = await asyncio.to_thread(_run_stop, [*stop_command, "--reason", reason])
        return page(
            request,
            "message.html",
            code=200 if code == 0 else 500,
            title="Emergency stop: done" if code == 0 else f"Emergency stop: exit {code}",
            text=output,
        )

    async def protect(request: Request, call_next: Any) -> Response:
        refused = guard.wrong_host(request)
        if refused is not None:
            return PlainTextResponse(refused + "\n", 421)
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response

    return Starlette(
        routes=[
            Route("/", dashboard),
            Route("/metrics", metrics),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/stop", stop, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=protect)],
    )


def _read_dashboard(settings: Settings) -> dict[str, Any]:
    from fra.web.view import dashboard

    with read_only_app(settings) as app:
        return dashboard(app)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first of each); small: the forms hold a few words."""
    body = (await request.body())[:8192].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


def _run_stop(command: list[str]) -> tuple[int, str]:
    # A session of its own: a Ctrl-C meant for the server must not cut the stop short.
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def stop_command(db: Path, venue: str | None) -> list[str]:
    """`fra emergency-stop` on the same state file, as this process was started."""
    return [
        sys.executable,
        "-m",
        "fra",
        "--db",
        str(db),
        *(["--venue", venue] if venue else []),
        "emergency-stop",
    ]
