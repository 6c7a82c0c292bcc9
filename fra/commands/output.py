"""Human output: tables and lines as styled runs, printed through rich on a terminal only.

Piped output (cron, scripts) is the same text without styles, written directly: loading rich's
console and laying out its Table cost more than the rest of `fra status` put together, and the
tables here are simple (fixed columns, no wrapping), so their layout is done here.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

Line = list[tuple[str, str]]  # runs of (text, rich style)


class Cell(NamedTuple):
    text: str
    style: str = ""


def styled(text: str, style: str) -> Cell:
    return Cell(text, style)


def _cell(value: Cell | str) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


def table(
    title: str, columns: list[str], rows: list[list[Cell | str]], left: set[str]
) -> list[Line]:
    """Rows under a bold header in rich's default box; columns in `left` are left-aligned."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [
        max([len(name)] + [len(row[j].text) for row in cells]) for j, name in enumerate(columns)
    ]

    def rule(first: str, fill: str, middle: str, last: str) -> Line:
        return [(first + middle.join(fill * (w + 2) for w in widths) + last, "")]

    def row_line(values: list[Cell], bar: str, bold: bool) -> Line:
        out: Line = [(bar, "")]
        for name, width, cell in zip(columns, widths, values, strict=True):
            text = cell.text.ljust(width) if name in left else cell.text.rjust(width)
            out += [(" ", ""), (text, "bold" if bold else cell.style), (" " + bar, "")]
        return out

    lines: list[Line] = [[(title, "italic")], rule("┏", "━", "┳", "┓")]
    lines.append(row_line([Cell(c) for c in columns], "┃", bold=True))
    lines.append(rule("┡", "━", "╇", "┩"))
    lines += [row_line(row, "│", bold=False) for row in cells]
    lines.append(rule("└", "─", "┴", "┘"))
    return lines


def grid(rows: list[tuple[str, Cell | str]]) -> list[Line]:
    """Label / value pairs, labels in bold, values aligned."""
    width = max(len(label) for label, _ in rows)
    return [
        [(label.ljust(width + 2), "bold"), (_cell(v).text, _cell(v).style)] for label, v in rows
    ]


def line(*parts: Cell | str) -> Line:
    return [(c.text, c.style) for c in map(_cell, parts)]


def emit(lines: list[Line]) -> None:
    if not sys.stdout.isatty():
        sys.stdout.write("".join("".join(text for text, _ in runs) + "\n" for runs in lines))
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    for runs in lines:
        text = Text()
        for part, style in runs:
            text.append(part, style or None)
        console.print(text, soft_wrap=True)
