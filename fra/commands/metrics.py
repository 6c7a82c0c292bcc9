"""fra metrics"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fra.commands.common import guarded, settings


def metrics(
    ctx: typer.Context,
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="Write to this .prom file (whole or not at all) for node_exporter's textfile"
        " collector, instead of printing.",
    ),
) -> None:
    """The account's figures in the Prometheus text format, as `fra serve` serves them on
    /metrics. Reads the state file only: no exchange is contacted, no lock is taken."""

    def body() -> None:
        from fra.app import require_state_file
        from fra.engine.metrics import exposition, write_textfile
        from fra.errors import BadInput

        s = settings(ctx)
        if output is not None:
            if output.suffix != ".prom":
                raise BadInput(
                    f"--output {output} does not end in .prom, and node_exporter's textfile"
                    " collector reads only *.prom files",
                    "name it like fra.prom",
                )
            if not output.parent.is_dir():
                raise BadInput(
                    f"--output {output}: directory {output.parent} does not exist",
                    "give the textfile collector's directory (--collector.textfile.directory)",
                )
            if output.is_dir():
                raise BadInput(
                    f"--output {output} is a directory", "give a file name like fra.prom"
                )
        require_state_file(s)
        if output is None:
            sys.stdout.write(exposition(s).decode())
            return
        try:
            write_textfile(s, output)
        except OSError as exc:
            raise BadInput(
                f"cannot write --output {output} ({exc.strerror})",
                "check that the directory is writable by this user",
            ) from None

    guarded(body)
