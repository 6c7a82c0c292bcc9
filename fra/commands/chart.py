"""The backtest picture: one self-contained HTML page (inline CSS and SVG, no script, no fonts
or URLs) so a report can be mailed, archived or opened offline as a single file.

The page is also well-formed XML (upper-case DOCTYPE, self-closed void elements, everything
escaped), which lets tests and other tools read it back with a plain XML parser."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from itertools import groupby
from typing import NamedTuple

from fra.core.text import plural

Series = list[tuple[int, float]]
Held = list[tuple[int, int, str]]

# Okabe–Ito: stays distinguishable under the common colour-vision deficiencies. Yellow goes
# last because it is faint on white; black first because the strategy is drawn first.
PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442"]
# The funding panel leaves out black (the strategy's colour above) and the faint yellow; the
# symbols beyond these share one grey line, Okabe–Ito's ninth colour.
FUNDING_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"]
OTHERS = "#999999"
# Events are told apart by shape as well as colour: a triangle for a liquidation, a square for
# an emergency stop, each on its own row from the top of the plot so that both show when one
# caused the other in the same cycle. Kind: colour, outline around (0, 0), row.
MARKERS = {
    "liquidation": ("#D55E00", "M-5,-4 L5,-4 L0,5 Z", 0),
    "emergency stop": ("#CC79A7", "M-4,-4 L4,-4 L4,4 L-4,4 Z", 1),
}
SVG_NS = "http://www.w3.org/2000/svg"
W, LEFT, RIGHT, TOP = 960, 104, 16, 10  # LEFT is wide enough for a symbol name in the held strip
PLOT_W = W - LEFT - RIGHT
MAX_POINTS = 1500  # per line: about two per pixel column, min and max
MAX_SYMBOLS = len(FUNDING_COLOURS)  # drawn one by one; the rest as "others"
LEGEND_ROW = 18
MARGIN = 0.05  # of the data's range, above and below the equity curves
DAY = 86_400_000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CSS = """
body{font:14px/1.4 system-ui,sans-serif;color:#222;margin:0}main{max-width:960px;margin:auto}
main{padding:16px}h1{font-size:20px;margin:0}h2{font-size:15px;margin:18px 0 2px}
.sub,.note{color:#555;margin:2px 0}.note{font-size:12px}svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;margin-top:18px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}tbody th{text-align:left}
"""


def _nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round values 1, 2 or 5 × 10^k apart, from at or below `lo` to at or above `hi`."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # flat: an axis needs a non-empty range
        pad = abs(lo) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / target
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _time_ticks(t0: int, t1: int) -> list[tuple[int, str]]:
    """At most ~10 UTC calendar ticks in [t0, t1]: new years, month starts or days by span."""
    a, b = (datetime.fromtimestamp(t / 1000, UTC) for t in (t0, t1))
    days = (t1 - t0) / DAY
    if days > 3 * 365:
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100) if days / 365 / s <= 10)
        cands = [datetime(y, 1, 1, tzinfo=UTC) for y in range(a.year, b.year + 1) if y % step == 0]
    elif days > 60:
        step = next(s for s in (1, 2, 3, 6) if days / 30.4 / s <= 10)
        months = range(a.year * 12 + a.month - 1, b.year * 12 + b.month)
        cands = [datetime(m // 12, m % 12 + 1, 1, tzinfo=UTC) for m in months if m % step == 0]
    else:
        step = next(s for s in (1, 2, 5, 7, 14, 30) if days / s <= 10)
        whole_days = range(math.ceil(t0 / DAY), t1 // DAY + 1)
        cands = [datetime.fromtimestamp(d * 86_400, UTC) for d in whole_days if d % step == 0]
    ticks = [d for d in cands if t0 <= d.timestamp() * 1000 <= t1]

    def label(i: int, d: datetime) -> str:
        if days > 3 * 365:
            return str(d.year)
        text = MONTHS[d.month - 1] if days > 60 else f"{d.day} {MONTHS[d.month - 1]}"
        # a month alone is ambiguous: the year goes on the first tick and each new year's
        return f"{text} {d.year}" if i == 0 or (d.month, d.day) == (1, 1) else text

    return [(int(d.timestamp() * 1000), label(i, d)) for i, d in enumerate(ticks)]


def _downsample(points: Series, limit: int = MAX_POINTS) -> Series:
    """At most `limit` points: the first, the last, and the lowest and highest of each time
    bucket, so a spike one bucket wide still reaches its true depth or height."""
    if len(points) <= limit:
        return points
    t0, width = points[0][0], (points[-1][0] - points[0][0] + 1) / ((limit - 2) // 2)
    keep = {0, len(points) - 1}
    for _, group in groupby(range(len(points)), key=lambda i: int((points[i][0] - t0) / width)):
        g = list(group)
        keep |= {min(g, key=lambda i: points[i][1]), max(g, key=lambda i: points[i][1])}
    return [points[i] for i in sorted(keep)]


def _normalise(points: Series) -> Series:
    """Growth of 100. Measured against |first| so a negative start still begins at 100 and
    rises with equity; a zero start has no scale, so it shows the change in equity units."""
    v0 = points[0][1]
    scale = 100 / abs(v0) if v0 else 1.0
    return [(t, 100 + (v - v0) * scale) for t, v in points]


def _drawdown(points: Series) -> Series:
    """Percent below the running peak; the peak is at least the first value, 100."""
    peak, out = -math.inf, []
    for t, v in points:
        peak = max(peak, v)
        out.append((t, 100 * (v / peak - 1)))
    return out


class _Time:
    """The time axis the three panels share."""

    def __init__(self, t0: int, t1: int) -> None:
        self.t0, self.t1, self.ticks = t0, t1, _time_ticks(t0, t1)

    def x(self, t: int) -> float:
        return LEFT + (t - self.t0) * PLOT_W / (self.t1 - self.t0)


Item = tuple[str, str, str, str]  # colour, name, value, swatch: "line" or a MARKERS kind


class _Axes(NamedTuple):
    y: Callable[[float], float]
    top: float  # the plot area's top edge: under the legend
    h: int


def _legend_rows(items: list[Item]) -> list[list[tuple[float, Item]]]:
    """Items placed left to right from the plot's left edge, wrapped at its right edge. Widths
    are estimated (no font metrics without a browser), generously so that text never meets."""
    rows: list[list[tuple[float, Item]]] = []
    x = W
    for item in items:
        width = 24 + 7.2 * (len(item[1]) + len(item[2]) + 1) + 16
        if x + width > W - RIGHT:
            rows.append([])
            x = LEFT
        rows[-1].append((x, item))
        x += width
    return rows


def _svg_legend(items: list[Item]) -> tuple[list[str], float]:
    """The legend as SVG above the plot, so a panel copied out on its own still says what
    its lines are, and the height it takes."""
    rows = _legend_rows(items)
    out = ['<g class="legend" font-size="12" fill="#222">'] if rows else []
    for r, row in enumerate(rows):
        y = TOP + r * LEGEND_ROW + 9
        for x, (colour, name, value, swatch) in row:
            if swatch == "line":
                mark = (
                    f'<line x1="{x:.1f}" x2="{x + 18:.1f}" y1="{y}" y2="{y}" stroke="{colour}"'
                    ' stroke-width="4"/>'
                )
            else:
                mark = _marker(swatch, x + 9, y, "")
            out.append(
                f'<g class="item">{mark}<text x="{x + 24:.1f}" y="{y}" dy="0.35em">'
                f'{escape(name)} <tspan font-weight="bold">{escape(value)}</tspan></text></g>'
            )
    if rows:
        out.append("</g>")
    return out, len(rows) * LEGEND_ROW + (6 if rows else 0)


def _marker(kind: str, x: float, y: float, text: str) -> str:
    colour, d, _ = MARKERS[kind]
    title = f"<title>{escape(text)}</title>" if text else ""
    return (
        f'<path class="marker" data-kind="{escape(kind)}" transform="translate({x:.1f},{y:.1f})"'
        f' d="{d}" fill="{colour}" stroke="#222" stroke-width="0.8">{title}</path>'
    )


def _frame(
    h: int,
    below: int,
    ticks: list[float],
    unit: str,
    time: _Time,
    legend: list[Item] | None = None,
    span: tuple[float, float] | None = None,
    y_title: str = "",
) -> tuple[list[str], _Axes]:
    """An SVG with its legend, a plot area `h` px tall (`below` px more under the time
    labels) and its y scale over `span` (the ticks' ends unless given); values outside it are
    held at the edge."""
    lo, hi = span or (ticks[0], ticks[-1])
    head, extra = _svg_legend(legend or [])
    top = TOP + extra

    def y(v: float) -> float:
        return top + (hi - min(max(v, lo), hi)) * h / (hi - lo)

    dec = max(0, -math.floor(math.log10(ticks[1] - ticks[0]) + 1e-9)) if len(ticks) > 1 else 0
    out = [f'<svg xmlns="{SVG_NS}" viewBox="0 0 {W} {top + h + 22 + below:g}" role="img">', *head]
    out.append('<g font-size="11" fill="#555">')
    for v in ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e4e4"/>'
            f'<text class="ytick" x="{LEFT - 6}" y="{y(v):.1f}" text-anchor="end"'
            f' dy="0.35em">{v:,.{dec}f}{unit}</text>'
        )
    x = time.x
    for t, label in time.ticks:
        # a label at an end of the axis stays over the plot, clear of "UTC" and the page edge
        half = 3.4 * len(label)  # px at 11 px, generous
        anchor = "start" if x(t) - half < LEFT else "end" if x(t) + half > W else "middle"
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + h}" stroke="#e4e4e4"/>'
            f'<text class="xtick" x="{x(t):.1f}" y="{top + h + 15}"'
            f' text-anchor="{anchor}">{escape(label)}</text>'
        )
    if y_title:
        # Dates are UTC days, said once per panel where the time labels start.
        out.append(
            f'<text class="axis-title" x="{LEFT - 6}" y="{top + h + 15}" text-anchor="end"'
            ' fill="#222">UTC</text>'
            f'<text class="axis-title" transform="rotate(-90)" x="{-(top + h / 2):.1f}" y="14"'
            f' text-anchor="middle" fill="#222" font-size="12">{escape(y_title)}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{h}" fill="none" stroke="#bbb"/></g>'
    )
    return out, _Axes(y, top, h)


def _curves(
    lines: dict[str, Series],
    h: int,
    ticks: list[float],
    unit: str,
    time: _Time,
    legend: list[Item] | None = None,
    span: tuple[float, float] | None = None,
    y_title: str = "",
    events: list[tuple[int, str, str]] | None = None,
) -> list[str]:
    """An SVG with a line per curve, the first (the strategy) bold, and the events."""
    svg, axes = _frame(h, 0, ticks, unit, time, legend, span, y_title)
    for i, (name, p) in enumerate(lines.items()):
        colour = PALETTE[i % len(PALETTE)]
        svg.append(_line("curve", name, _pts(p, time, axes.y), colour, 2.4 if i == 0 else 1.3))
    return [*svg, *_events(events or [], time, axes), "</svg>"]


def _events(events: list[tuple[int, str, str]], time: _Time, axes: _Axes) -> list[str]:
    """A dashed line down the panel at each event, its marker hanging from the top."""
    out = []
    for t, kind, text in sorted(events):
        x, (colour, _, row) = time.x(t), MARKERS[kind]
        out.append(
            f'<line class="event-line" x1="{x:.1f}" x2="{x:.1f}" y1="{axes.top}"'
            f' y2="{axes.top + axes.h}" stroke="{colour}" stroke-dasharray="3 3"/>'
        )
        out.append(_marker(kind, x, axes.top + 7 + 11 * row, text))
    return out


def _event_items(events: list[tuple[int, str, str]]) -> list[Item]:
    counts = {kind: sum(1 for _, k, _ in events if k == kind) for kind in MARKERS}
    return [(MARKERS[k][0], k, f"{n}", k) for k, n in counts.items() if n]


def _fit(lo: float, hi: float, target: int) -> tuple[list[float], tuple[float, float]]:
    """Round ticks inside the data's range widened by MARGIN, and that range: the data fills
    the panel instead of whatever a whole tick step beyond it would leave empty."""
    pad = (hi - lo) * MARGIN or abs(lo) * 0.01 or 1.0
    span = (lo - pad, hi + pad)
    ticks = [v for v in _nice_ticks(*span, target) if span[0] - 1e-9 <= v <= span[1] + 1e-9]
    return ticks, span


def _pts(points: Series, time: _Time, y: Callable[[float], float]) -> str:
    return " ".join(f"{time.x(t):.1f},{y(v):.1f}" for t, v in points)


def _line(cls: str, name: str, pts: str, colour: str, width: float, opacity: float = 1) -> str:
    return (
        f'<polyline class="{cls}" points="{pts}" fill="none" stroke="{colour}"'
        f' stroke-width="{width}" stroke-opacity="{opacity}" stroke-linejoin="round">'
        f"<title>{escape(name)}</title></polyline>"
    )


def _table(rows: list[tuple[str, list[str]]], headers: list[str] | None) -> str:
    head = list(headers or [])
    if rows and len(head) == len(rows[0][1]):  # headers for the cells only: name column blank
        head = ["", *head]
    out = ["<table>"]
    if head:
        out.append("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for name, cells in rows:
        tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
        out.append(f'<tr><th scope="row">{escape(name)}</th>{tds}</tr>')
    return "".join([*out, "</tbody></table>"])


def _means(points: Series, t0: int, width: float) -> Series:
    """The mean of each time bucket, at its middle print's time."""
    groups = [list(g) for _, g in groupby(points, key=lambda q: int((q[0] - t0) / width))]
    return [(g[len(g) // 2][0], sum(v for _, v in g) / len(g)) for g in groups]


def _funding(
    fund: dict[str, Series],
    others: dict[str, Series],
    held: Held,
    held_ms: dict[str, int],
    time: _Time,
) -> list[str]:
    """SVG and notes of the funding panel: a thin line per symbol (the rest as one grey line,
    their mean), thick where held, and under the axis a strip per line with a bar for each
    held span."""
    # Single settlements are noise at this scale and hide the level a reader compares: each
    # line is the mean over buckets ~3 px wide, on one grid for all symbols.
    t0, t1, x = time.t0, time.t1, time.x
    width = max((t1 - t0 + 1) / (PLOT_W // 3), 8 * 3_600_000)
    rows = [(s, s.split(":")[0], c, [s]) for s, c in zip(fund, FUNDING_COLOURS, strict=False)]
    series = {s: _means(p, t0, width) for s, p in fund.items()}
    if others:
        name = f"others ({len(others)})"
        rows.append((name, name, OTHERS, list(others)))
        series[name] = _means(sorted(q for p in others.values() for q in p), t0, width)
    # Spikes of thousands of percent a year would flatten everything else: the axis covers the
    # 1st to 99th percentile (and zero), the rest is drawn at the edge.
    vals = sorted(v for p in series.values() for _, v in p)
    lo = vals[int(0.01 * (len(vals) - 1))] if vals else -10.0
    hi = vals[int(0.99 * (len(vals) - 1))] if vals else 10.0
    ticks = _nice_ticks(min(lo, 0.0), max(hi, 0.0))
    legend = [
        (c, name, f"held {sum(held_ms[s] for s in members) / DAY:,.0f} d", "line")
        for _, name, c, members in rows
    ]
    svg, axes = _frame(200, 11 * len(rows) + 8, ticks, "%", time, legend, None, "% a year")
    y = axes.y
    svg.append(
        f'<line class="zero" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"'
        ' stroke="#777"/>'
    )
    for i, (key, label, c, members) in enumerate(rows):
        p, ry = series[key], axes.top + 218 + i * 11
        spans = sorted((max(a, t0), min(b, t1)) for a, b, s in held if s in members)
        spans = [(a, b) for a, b in spans if a <= b]
        title = key if len(members) == 1 else f"{key}: {', '.join(members)}"
        svg.append(_line("funding", title, _pts(p, time, y), c, 1.1, 0.55))
        times = [t for t, _ in p]
        # One path for all held stretches; a lone point repeats so its round cap shows a dot.
        segs = [p[bisect_left(times, a) : bisect_right(times, b)] for a, b in spans]
        d = " ".join(f"M{_pts(s if len(s) > 1 else s * 2, time, y)}" for s in segs if s)
        if d:
            svg.append(
                f'<path class="held" d="{d}" fill="none" stroke="{c}" stroke-width="2.4"'
                ' stroke-linecap="round" stroke-linejoin="round"/>'
            )
        label = label if len(label) <= 13 else label[:12] + "…"  # a 100 px margin
        svg.append(
            f'<text x="{LEFT - 6}" y="{ry + 4}" font-size="10" fill="#333" text-anchor="end"'
            f' dy="0.35em">{escape(label)}<title>{escape(title)}</title></text>'
            f'<rect x="{LEFT}" y="{ry}" width="{PLOT_W}" height="8" fill="#f1f1f1"/>'
        )
        svg += [
            f'<rect class="span" x="{x(a):.1f}" y="{ry}" width="{max(x(b) - x(a), 1):.1f}"'
            f' height="8" fill="{c}"/>'
            for a, b in spans
        ]
    if not rows:
        svg.append(
            f'<text x="{LEFT + PLOT_W / 2}" y="{axes.top + 100}" text-anchor="middle"'
            ' fill="#777">No funding data</text>'
        )
    notes = [
        "Rate per 8 h × 3 × 365; thick line and bars under the axis: while the strategy held it."
    ]
    if any(len(series[k]) < len(fund.get(k) or others.get(k, [])) for k in fund):
        notes.append(f"Each point is the mean over {width / DAY:.1f} days.")
    if others:
        notes.append(
            f"The {plural(len(fund), 'symbol')} held longest, and the other"
            f" {len(others)} as one grey line, the mean of their rates:"
            f" {', '.join(s.split(':')[0] for s in others)}."
        )
    if vals and (vals[0] < ticks[0] or vals[-1] > ticks[-1]):
        notes.append(
            f"Axis clipped to {ticks[0]:g}%…{ticks[-1]:g}% (1st–99th percentile of the means,"
            f" which range over {vals[0]:,.0f}%…{vals[-1]:,.0f}%)."
        )
    notes_html = [f'<p class="note">{escape(n)}</p>' for n in notes]
    return [*svg, "</svg>", *notes_html]


def backtest_html(
    title: str,
    subtitle: str,
    curves: dict[str, list[tuple[int, float]]],
    funding: dict[str, list[tuple[int, float]]],
    held: list[tuple[int, int, str]],
    table: list[tuple[str, list[str]]] | None = None,
    table_headers: list[str] | None = None,
    events: list[tuple[int, str, str]] | None = None,
) -> str:
    """A complete HTML page: equity (growth of 100), drawdown and annualised funding of the
    held symbols on one UTC time axis, then `table` if given. `curves` maps a name to
    (time ms, equity), the strategy first; `funding` a symbol to (time ms, rate per 8h);
    `held` lists (from ms, to ms, symbol) spans the strategy held; `events` (time ms, kind,
    text) the strategy's liquidations and emergency stops, kind a key of MARKERS."""
    # An emergency stop closes every position at once: one marker, each closed trade named.
    merged: dict[tuple[int, str], list[str]] = {}
    for t, kind, text in events or []:
        if kind in MARKERS:
            merged.setdefault((t, kind), []).append(text)
    events = [(t, kind, "; ".join(texts)) for (t, kind), texts in merged.items()]
    norm = {name: _normalise(sorted(p)) for name, p in curves.items() if p}
    dd = {name: _drawdown(p) for name, p in norm.items()}
    held_ms = dict.fromkeys(funding, 0)
    for a, b, sym in held:
        if sym in held_ms:
            held_ms[sym] += max(0, b - a)
    with_data = sorted((s for s in funding if funding[s]), key=lambda s: (-held_ms[s], s))
    annual = {s: sorted((t, r * 3 * 365 * 100) for t, r in funding[s]) for s in with_data}
    fund = {s: annual[s] for s in with_data[:MAX_SYMBOLS]}
    others = {s: annual[s] for s in with_data[MAX_SYMBOLS:]}

    ends = [t for p in [*norm.values(), *annual.values()] for t in (p[0][0], p[-1][0])]
    t0, t1 = min(ends, default=0), max(ends, default=0)
    if t0 == t1:  # one instant: give it a two-day axis to sit in the middle of
        t0, t1 = t0 - DAY, t1 + DAY

    time = _Time(t0, t1)
    body = [f"<h1>{escape(title)}</h1>", f'<p class="sub">{escape(subtitle)}</p>']
    events = [e for e in events if t0 <= e[0] <= t1]  # drawn and counted alike
    marks = _event_items(events)

    eq = {name: _downsample(p) for name, p in norm.items()}
    vals = [v for p in eq.values() for _, v in p]
    ticks, span = _fit(min(vals, default=100), max(vals, default=100), 8)
    legend = [
        (PALETTE[i % 8], n, f"{p[-1][1]:,.1f}", "line") for i, (n, p) in enumerate(norm.items())
    ]
    body += ["<h2>Equity, growth of 100</h2>"]
    body += _curves(eq, 280, ticks, "", time, [*legend, *marks], span, "growth of 100", events)

    dds = {name: _downsample(p) for name, p in dd.items()}
    low = min((v for p in dds.values() for _, v in p), default=0.0)
    legend = [
        (PALETTE[i % 8], n, f"{min(v for _, v in p):.1f}%", "line")
        for i, (n, p) in enumerate(dd.items())
    ]
    # at least 1% deep, so a drawdown of a few basis points looks as small as it is
    ticks, span = _fit(min(low, -1.0), 0.0, 5)
    ticks, span = [v for v in ticks if v <= 0], (span[0], 0.0)  # nothing is above its peak
    body += ["<h2>Drawdown from peak</h2>"]
    body += _curves(dds, 140, ticks, "%", time, [*legend, *marks], span, "% below peak", events)

    body += ["<h2>Funding, annualised</h2>"]
    body += _funding(fund, others, held, held_ms, time)
    if table:
        body.append(_table(table, table_headers))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        "<body><main>" + "\n".join(body) + "</main></body></html>\n"
    )
