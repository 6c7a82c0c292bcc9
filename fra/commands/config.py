"""fra config"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings
from fra.commands.output import WideOption

if TYPE_CHECKING:
    from fra.settings import Settings

# The root's flags that set a setting (`fra --venue okx config`): Options attribute, FRA_*
# name, flag.
FLAGS = (("db", "FRA_DB", "--db"), ("venue", "FRA_VENUE", "--venue"))
ENV_FILE = Path(".env")  # where pydantic-settings looks: the current directory


def config(ctx: typer.Context, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
    """Show the files fra reads and writes, and the effective settings (flags > FRA_*
    environment > .env > defaults) with where each came from, secrets masked."""

    def body() -> None:
        from fra.env_names import describe, unknown_names, value_sources
        from fra.settings import masked

        loaded = settings(ctx, warn=False)
        data = masked(loaded)
        flags = {name: flag for attr, name, flag in FLAGS if getattr(ctx.obj, attr, None)}
        sources = value_sources(flags, env_file=ENV_FILE)
        files = _files(loaded)
        unknown = unknown_names(env_file=ENV_FILE)
        if as_json:
            ignored = [{"name": u.name, "source": u.source, "closest": u.closest} for u in unknown]
            # The values stay at the top level, where scripts have read them all along.
            print_json({**data, "files": files, "sources": sources, "unknown_variables": ignored})
            return
        from fra.commands.output import emit, line, table

        out = table(
            "Files",
            ["File", "Path", "Exists"],
            [[label, f["path"], "yes" if f["exists"] else "no"] for label, f in _labelled(files)],
            {"File", "Path", "Exists"},
            wrap={"Path"},
        )
        rows = [
            [name, "" if value is None else str(value), sources.get(name, "default")]
            for name, value in _flatten(data)
        ]
        out += table(
            "Effective settings",
            ["Variable", "Value", "Source"],
            rows,
            {"Variable", "Value", "Source"},
            drop=["Source"],
            wrap={"Value"},
        )
        out += [line(f"warning: {describe(u)}") for u in unknown]
        emit(out, wide)

    guarded(body)


def _files(s: Settings) -> dict[str, dict[str, Any]]:
    """Each file fra uses under these settings, as an absolute path (a relative FRA_DB is
    relative to the directory fra runs in, which a timer's unit may not share), and whether it
    exists. Only looked at: `fra config` creates none of them."""
    paths = {"state": s.db_path, "history": s.history_path, "log": s.log_path, "env_file": ENV_FILE}
    return {key: {"path": str(_absolute(p)), "exists": p.exists()} for key, p in paths.items()}


def _labelled(files: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    labels = {"state": "state", "history": "history", "log": "log", "env_file": ".env"}
    return [(labels[key], f) for key, f in files.items()]


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: say where it is, not where it leads
        return path.absolute()


def _flatten(data: dict, prefix: str = "FRA_") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key.upper()}__")
        else:
            out.append((f"{prefix}{key.upper()}", value))
    return out
