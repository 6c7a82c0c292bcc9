"""fra config"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings
from fra.commands.output import WideOption


def config(ctx: typer.Context, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """Show the effective settings (flags > FRA_* environment > .env > defaults), secrets
    masked."""

    def body() -> None:
        from fra.env_names import describe, unknown_names
        from fra.settings import masked

        data = masked(settings(ctx, warn=False))
        unknown = unknown_names()
        if as_json:
            ignored = [{"name": u.name, "source": u.source, "closest": u.closest} for u in unknown]
            print_json({**data, "unknown_variables": ignored})
            return
        from fra.commands.output import emit, line, table

        rows = [[name, "" if value is None else str(value)] for name, value in _flatten(data)]
        left = {"Variable", "Value"}
        out = table("Effective settings", ["Variable", "Value"], rows, left, wrap={"Value"})
        out += [line(f"warning: {describe(u)}") for u in unknown]
        emit(out, wide)

    guarded(body)


def _flatten(data: dict, prefix: str = "FRA_") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key.upper()}__")
        else:
            out.append((f"{prefix}{key.upper()}", value))
    return out
