"""Human output: tables and lines as styled runs, printed through rich on a terminal only.

Piped output (cron, scripts) is the same text without styles, written directly: loading rich's
console and laying out its Table cost more than the rest of `fra status` put together, and the
tables here are simple (fixed columns, a few wrapping text columns), so their layout is done here.

Tables fit the width they are shown at: the terminal's, or `COLUMNS` when it is in the
environment. A table declares which columns to leave out first; they are dropped until it fits
and a note under it names them (`--wide` shows every column). Output that is neither a terminal
nor given `COLUMNS` (a pipe, a file) keeps every column, since nothing says how wide it is read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import typer

Line = list[tuple[str, str]]  # runs of (text, rich style)

WideOption = typer.Option(
    False, "--wide", help="Show every column of the tables, however wide the terminal."
)


class Cell(NamedTuple):
    text: str
    style: str = ""


class Table(NamedTuple):
    """A table not yet laid out: `emit` fits it to the width it prints at."""

    columns: list[str]
    rows: list[list[Cell]]
    left: set[str]
    drop: list[tuple[str, ...]]  # groups of columns to leave out, least useful first
    wrap: set[str]  # columns whose text wraps within the column rather than widen the table
    # A wrapping column is made no narrower than this (or its header), so that what it holds
    # stays readable: columns are left out before its text is squeezed further.
    min_wrap: int


Block = list[tuple[str, str]] | Table


def styled(text: str, style: str) -> Cell:
    return Cell(text, style)


def _cell(value: Cell | str) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


def table(
    title: str,
    columns: list[str],
    rows: Sequence[Sequence[Cell | str]],
    left: set[str],
    drop: Iterable[str | tuple[str, ...]] = (),
    wrap: Iterable[str] = (),
    min_wrap: int = 16,
) -> list[Block]:
    """Rows under a bold header in rich's default box; columns in `left` are left-aligned.

    `drop` lists the columns (or groups left out together) to leave out when the table is too
    wide, least useful first; `wrap` names text columns that wrap instead, down to `min_wrap`.
    Groups naming columns this table lacks are skipped: one list serves several variants.
    """
    groups = [(g,) if isinstance(g, str) else tuple(g) for g in drop]
    groups = [tuple(c for c in g if c in columns) for g in groups]
    return [
        [(title, "italic")],
        Table(
            list(columns),
            [[_cell(c) for c in row] for row in rows],
            set(left),
            [g for g in groups if g],
            {c for c in wrap if c in columns},
            min_wrap,
        ),
    ]


def grid(rows: list[tuple[str, Cell | str]]) -> list[Block]:
    """Label / value pairs, labels in bold, values aligned."""
    width = max(len(label) for label, _ in rows)
    return [
        [(label.ljust(width + 2), "bold"), (_cell(v).text, _cell(v).style)] for label, v in rows
    ]


def line(*parts: Cell | str) -> Line:
    return [(c.text, c.style) for c in map(_cell, parts)]


def output_width() -> int | None:
    """The width output is read at: `COLUMNS`, else the terminal's; None when neither says."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isdecimal() and int(text) > 0:
        return int(text)
    if sys.stdout.isatty():
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            return None
    return None


def layout(blocks: Sequence[Block], width: int | None, wide: bool = False) -> list[Line]:
    """Lines no wider than `width` (when given): tables fitted, long lines word-wrapped.

    With `wide`, tables keep every column at full width (they may then be wider than `width`).
    """
    out: list[Line] = []
    for block in blocks:
        if isinstance(block, Table):
            out += _fit(block, None if wide else width)
        else:
            out += _wrap_line(block, width)
    return out


def emit(blocks: Sequence[Block], wide: bool = False) -> None:
    lines = layout(blocks, output_width(), wide)
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


def _span(widths: Sequence[int]) -> int:
    """A table's width: its columns, a space either side of each, and the bars between."""
    return sum(widths) + 3 * len(widths) + 1


def _fit(t: Table, width: int | None) -> list[Line]:
    natural = {
        name: max([len(name)] + [len(part) for row in t.rows for part in row[j].text.split("\n")])
        for j, name in enumerate(t.columns)
    }
    least = {
        name: min(natural[name], max(len(name), t.min_wrap)) if name in t.wrap else natural[name]
        for name in t.columns
    }
    shown = list(t.columns)
    left_out: list[str] = []
    if width is not None:
        groups = list(t.drop)
        while _span([least[c] for c in shown]) > width and groups:
            group = groups.pop(0)
            shown = [c for c in shown if c not in group]
            left_out += group
        widths = {c: least[c] for c in shown}
        spare = width - _span(list(widths.values()))
        # The narrowest text first: a short title unwrapped reads better than a long message
        # wrapped one line less.
        for c in sorted((c for c in shown if c in t.wrap), key=natural.__getitem__):
            more = max(0, min(spare, natural[c] - widths[c]))
            widths[c] += more
            spare -= more
    else:
        widths = dict(natural)
    index = {name: j for j, name in enumerate(t.columns)}
    sizes = [widths[c] for c in shown]

    def rule(first: str, fill: str, middle: str, last: str) -> Line:
        return [(first + middle.join(fill * (w + 2) for w in sizes) + last, "")]

    def row_lines(values: list[Cell], bar: str, bold: bool) -> list[Line]:
        parts = [_wrap_text(v.text, widths[c]) for c, v in zip(shown, values, strict=True)]
        out = []
        for k in range(max(len(p) for p in parts)):
            runs: Line = [(bar, "")]
            for name, cell, lines in zip(shown, values, parts, strict=True):
                text = lines[k] if k < len(lines) else ""
                w = widths[name]
                text = text.ljust(w) if name in t.left else text.rjust(w)
                runs += [(" ", ""), (text, "bold" if bold else cell.style), (" " + bar, "")]
            out.append(runs)
        return out

    lines = [rule("┏", "━", "┳", "┓")]
    lines += row_lines([Cell(c) for c in shown], "┃", bold=True)
    lines.append(rule("┡", "━", "╇", "┩"))
    for row in t.rows:
        lines += row_lines([row[index[c]] for c in shown], "│", bold=False)
    lines.append(rule("└", "─", "┴", "┘"))
    if left_out:
        note = f"(left out to fit: {', '.join(left_out)}; --wide shows them)"
        lines += _wrap_line([(note, "dim")], width)
    return lines


def _wrap_text(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, broken at spaces; a longer word is cut."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            while len(word) > width:
                if current:
                    out.append(current)
                    current = ""
                out.append(word[:width])
                word = word[width:]
            if not current:
                current = word
            elif len(current) + 1 + len(word) <= width:
                current += " " + word
            else:
                out.append(current)
                current = word
        out.append(current)
    return out


def _wrap_line(runs: Line, width: int | None) -> list[Line]:
    """A styled line word-wrapped at `width`, each piece keeping its style."""
    if width is None or sum(len(text) for text, _ in runs) <= width:
        return [runs]
    words: list[tuple[str, str]] = []  # (text, style) pieces; " " pieces are break points
    for text, style in runs:
        for k, piece in enumerate(text.split(" ")):
            if k:
                words.append((" ", style))
            if piece:
                words.append((piece, style))
    out: list[Line] = []
    current: Line = []
    used = 0
    pending = ""  # a space seen since the last word, written only if the line goes on
    pending_style = ""
    for text, style in words:
        if text == " ":
            pending, pending_style = " ", style
            continue
        while len(text) > width:
            if current:
                out.append(current)
                current, used = [], 0
            out.append([(text[:width], style)])
            text = text[width:]
            pending = ""
        if current and used + len(pending) + len(text) > width:
            out.append(current)
            current, used, pending = [], 0, ""
        if pending and current:
            current.append((pending, pending_style))
            used += 1
        pending = ""
        if text:
            current.append((text, style))
            used += len(text)
    if current:
        out.append(current)
    return out or [[]]
