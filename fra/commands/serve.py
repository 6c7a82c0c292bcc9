"""fra serve"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import typer

from fra.commands.common import Options, guarded, settings

if TYPE_CHECKING:
    from fra.settings import Settings

TOKEN_MIN = 16  # characters: guessing one over the network must be hopeless


def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on; anything but loopback needs FRA_SERVE__TOKEN.",
    ),
    port: int = typer.Option(8787, "--port", min=0, max=65535, help="Port (0: any free one)."),
    refresh: int = typer.Option(
        15, "--refresh", min=1, max=3600, help="Seconds between the page's own reloads."
    ),
) -> None:
    """A local web page over the state file: status, positions with margin gauges, equity and
    funding over time, cycles, the ranking and recent events; /metrics for Prometheus. Reads
    the state file only, beside running cycles; with FRA_SERVE__TOKEN, an emergency-stop
    button."""

    def body() -> None:
        from fra.app import require_state_file
        from fra.engine.overview import read_only_app
        from fra.errors import BadInput

        s = settings(ctx)
        token = s.serve.token.get_secret_value() if s.serve.token else None
        from fra.web.guard import is_loopback

        if token is None and not is_loopback(host):
            raise BadInput(
                f"--host {host} is not a loopback address, and there is no FRA_SERVE__TOKEN",
                "set FRA_SERVE__TOKEN (python -c 'import secrets; print(secrets.token_urlsafe())')"
                " or serve on 127.0.0.1",
            )
        if token is not None and len(token) < TOKEN_MIN:
            raise BadInput(
                f"FRA_SERVE__TOKEN is shorter than {TOKEN_MIN} characters",
                "make one with python -c 'import secrets; print(secrets.token_urlsafe())'",
            )
        require_state_file(s)
        with read_only_app(s):
            pass  # a state file that cannot be read is said now, not on the first page
        sock = _bind(host, port)
        _run(ctx, s, sock, host, token, refresh)

    guarded(body)


def _bind(host: str, port: int) -> socket.socket:
    from fra.errors import BadInput

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BadInput(
            f"--host {host} is not an address ({exc.strerror})", "give e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BadInput(
            f"cannot listen on {host}:{port} ({exc.strerror})",
            "choose another --port, or stop what is using it",
        ) from None
    sock.listen(64)
    return sock


def _run(
    ctx: typer.Context, s: Settings, sock: socket.socket, host: str, token: str | None, refresh: int
) -> None:
    import uvicorn

    from fra.web.app import create_app, stop_command
    from fra.web.guard import Guard

    opts: Options = ctx.obj if isinstance(ctx.obj, Options) else Options()
    app = create_app(
        s,
        refresh_seconds=refresh,
        guard=Guard(token, host),
        stop_command=stop_command(s.db_path.resolve(), opts.venue),
    )
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    stop = "with the emergency-stop button" if token else "read-only"
    print(f"fra dashboard on http://{shown}:{bound[1]}/ ({stop}); Ctrl-C stops it", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
