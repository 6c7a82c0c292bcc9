"""The Click that Typer runs on: Typer 0.26 and later bundle a Click of their own, which they do
not export; earlier ones run on the click package. fra reaches Click for its context stack and
its usage errors, both of which it must take from the Click Typer is running."""

from __future__ import annotations

from typing import Any

try:
    from typer import _click as click
    from typer._click import exceptions
    from typer._click.globals import get_current_context
except ImportError:
    import click  # type: ignore[no-redef]
    from click import exceptions  # type: ignore[no-redef]
    from click.globals import get_current_context  # type: ignore[no-redef]

__all__ = ["NoArgsIsHelpError", "UsageError", "click", "current_context"]

UsageError = exceptions.UsageError
# `fra` with no command: the help, as asked (Click 8.2 and later name it; before, no such case)
NoArgsIsHelpError: Any = getattr(exceptions, "NoArgsIsHelpError", ())


def current_context() -> Any:
    """The context of the command running now, or None outside one."""
    return get_current_context(silent=True)
