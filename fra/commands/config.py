"""fra config"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings


def config(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Show the effective settings (flags > FRA_* environment > .env > defaults), secrets
    masked."""

    def body() -> None:
        from fra.settings import masked

        data = masked(settings(ctx))
        if as_json:
            print_json(data)
            return
        from fra.commands.output import emit, table

        rows = [[name, "" if value is None else str(value)] for name, value in _flatten(data)]
        emit(table("Effective settings", ["Variable", "Value"], rows, left={"Variable", "Value"}))

    guarded(body)


def _flatten(data: dict, prefix: str = "FRA_") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key.upper()}__")
        else:
            out.append((f"{prefix}{key.upper()}", value))
    return out
