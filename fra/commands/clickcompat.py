"""The Click that Typer runs on: Typer 0.26 and later bundle a Click of their own, which they do
not export; earlier ones run on the click package. fra reaches Click for its context stack and
its usage errors, both of which it must take from the Click Typer is running."""

from __future__ import annotations

from typing import Any

try:
    from typer import _click as click
except ImportError:
    import click  # type: ignore[no-redef]

UsageError = click.exceptions.UsageError
# `fra` with no command: the help, as asked (Click 8.2 and later name it; before, no such case)
NoArgsIsHelpError: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def current_context() -> Any:
    """The context of the command running now, or None outside one."""
    return click.get_current_context(silent=True)
