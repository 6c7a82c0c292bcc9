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

Series = list[tuple[int, float]]
Held = list[tuple[int, int, str]]

# Okabe–Ito: stays distinguishable under the common colour-vision deficiencies. Yellow goes
# last because it is faint on white; black first because the strategy is drawn first.
PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442"]
SVG_NS = "http://www.w3.org/2000/svg"
W, LEFT, RIGHT, TOP = 960, 104, 16, 10  # LEFT is wide enough for a symbol name in the held strip
PLOT_W = W - LEFT - RIGHT
MAX_POINTS = 1500  # per line: about two per pixel column, min and max
MAX_SYMBOLS = 8
DAY = 86_400_000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CSS = """
body{font:14px/1.4 system-ui,sans-serif;color:#222;margin:0}main{max-width:960px;margin:auto}
main{padding:16px}h1{font-size:20px;margin:0}h2{font-size:15px;margin:18px 0 2px}
.sub,.note{color:#555;margin:2px 0}.note{font-size:12px}svg{display:block;width:100%;height:auto}
.legend{list-style:none;display:flex;flex-wrap:wrap;padding:0;margin:2px 0}li{margin-right:16px}
.sw{display:inline-block;width:16px;height:4px;margin-right:5px;vertical-align:middle}
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


def _frame(
    h: int, below: int, ticks: list[float], unit: str, time: _Time
) -> tuple[list[str], Callable[[float], float]]:
    """An SVG with a plot area `h` px tall (`below` px more under the time labels) and its y
    scale; values outside the ticks are held at the edge."""
    lo, hi = ticks[0], ticks[-1]

    def y(v: float) -> float:
        return TOP + (hi - min(max(v, lo), hi)) * h / (hi - lo)

    dec = max(0, -math.floor(math.log10(ticks[1] - ticks[0]) + 1e-9))
    out = [f'<svg xmlns="{SVG_NS}" viewBox="0 0 {W} {TOP + h + 22 + below}" role="img">']
    out.append('<g font-size="11" fill="#555">')
    for v in ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e4e4"/>'
            f'<text class="ytick" x="{LEFT - 6}" y="{y(v):.1f}" text-anchor="end"'
            f' dy="0.35em">{v:,.{dec}f}{unit}</text>'
        )
    x = time.x
    for t, label in time.ticks:
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{TOP + h}" stroke="#e4e4e4"/>'
            f'<text class="xtick" x="{x(t):.1f}" y="{TOP + h + 15}"'
            f' text-anchor="middle">{escape(label)}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{h}" fill="none" stroke="#bbb"/></g>'
    )
    return out, y


def _curves(
    lines: dict[str, Series], h: int, ticks: list[float], unit: str, time: _Time
) -> list[str]:
    """An SVG with a line per curve, the first (the strategy) bold."""
    svg, y = _frame(h, 0, ticks, unit, time)
    for i, (name, p) in enumerate(lines.items()):
        colour = PALETTE[i % len(PALETTE)]
        svg.append(_line("curve", name, _pts(p, time, y), colour, 2.4 if i == 0 else 1.3))
    return [*svg, "</svg>"]


def _pts(points: Series, time: _Time, y: Callable[[float], float]) -> str:
    return " ".join(f"{time.x(t):.1f},{y(v):.1f}" for t, v in points)


def _line(cls: str, name: str, pts: str, colour: str, width: float, opacity: float = 1) -> str:
    return (
        f'<polyline class="{cls}" points="{pts}" fill="none" stroke="{colour}"'
        f' stroke-width="{width}" stroke-opacity="{opacity}" stroke-linejoin="round">'
        f"<title>{escape(name)}</title></polyline>"
    )


def _legend(items: list[tuple[str, str, str]]) -> str:
    lis = "".join(
        f'<li><span class="sw" style="background:{c}"></span>{escape(n)} <b>{escape(v)}</b></li>'
        for c, n, v in items
    )
    return f'<ul class="legend">{lis}</ul>' if lis else ""


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


def _funding(
    fund: dict[str, Series], held: Held, held_ms: dict[str, int], total: int, time: _Time
) -> list[str]:
    """Legend, SVG and notes of the funding panel: a thin line per symbol, thick where held,
    and under the axis a strip per symbol with a bar for each held span."""
    # Single settlements are noise at this scale and hide the level a reader compares: each
    # line is the mean over buckets ~3 px wide, on one grid for all symbols.
    t0, t1, x = time.t0, time.t1, time.x
    width = max((t1 - t0 + 1) / (PLOT_W // 3), 8 * 3_600_000)
    mean = {}
    for sym, p in fund.items():
        groups = [list(g) for _, g in groupby(p, key=lambda q: int((q[0] - t0) / width))]
        mean[sym] = [(g[len(g) // 2][0], sum(v for _, v in g) / len(g)) for g in groups]
    # Spikes of thousands of percent a year would flatten everything else: the axis covers the
    # 1st to 99th percentile (and zero), the rest is drawn at the edge.
    vals = sorted(v for p in mean.values() for _, v in p)
    lo = vals[int(0.01 * (len(vals) - 1))] if vals else -10.0
    hi = vals[int(0.99 * (len(vals) - 1))] if vals else 10.0
    ticks = _nice_ticks(min(lo, 0.0), max(hi, 0.0))
    svg, y = _frame(200, 11 * len(fund) + 8, ticks, "%", time)
    svg.append(
        f'<line class="zero" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"'
        ' stroke="#777"/>'
    )
    legend = []
    for i, (sym, p) in enumerate(mean.items()):
        c, ry = PALETTE[i % len(PALETTE)], TOP + 228 + i * 11
        spans = sorted((max(a, t0), min(b, t1)) for a, b, s in held if s == sym)
        spans = [(a, b) for a, b in spans if a <= b]
        svg.append(_line("funding", sym, _pts(p, time, y), c, 1.1, 0.5))
        times = [t for t, _ in p]
        # One path for all held stretches; a lone point repeats so its round cap shows a dot.
        segs = [p[bisect_left(times, a) : bisect_right(times, b)] for a, b in spans]
        d = " ".join(f"M{_pts(s if len(s) > 1 else s * 2, time, y)}" for s in segs if s)
        if d:
            svg.append(
                f'<path class="held" d="{d}" fill="none" stroke="{c}" stroke-width="2.4"'
                ' stroke-linecap="round" stroke-linejoin="round"/>'
            )
        label = sym.split(":")[0]  # the settle currency is noise in a 100 px margin
        label = label if len(label) <= 13 else label[:12] + "…"
        svg.append(
            f'<text x="{LEFT - 6}" y="{ry + 4}" font-size="10" fill="#333" text-anchor="end"'
            f' dy="0.35em">{escape(label)}<title>{escape(sym)}</title></text>'
            f'<rect x="{LEFT}" y="{ry}" width="{PLOT_W}" height="8" fill="#f1f1f1"/>'
        )
        svg += [
            f'<rect class="span" x="{x(a):.1f}" y="{ry}" width="{max(x(b) - x(a), 1):.1f}"'
            f' height="8" fill="{c}"/>'
            for a, b in spans
        ]
        legend.append((c, sym, f"held {held_ms[sym] / DAY:,.0f} d"))
    if not fund:
        svg.append(
            f'<text x="{LEFT + PLOT_W / 2}" y="{TOP + 100}" text-anchor="middle"'
            ' fill="#777">No funding data</text>'
        )
    notes = [
        "Rate per 8 h × 3 × 365; thick line and bars under the axis: while the strategy held it."
    ]
    if any(len(mean[s]) < len(fund[s]) for s in fund):
        notes.append(f"Each point is the mean over {width / DAY:.1f} days.")
    if total > len(fund):
        notes.append(f"Showing the {len(fund)} of {total} symbols held longest.")
    if vals and (vals[0] < ticks[0] or vals[-1] > ticks[-1]):
        notes.append(
            f"Axis clipped to {ticks[0]:g}%…{ticks[-1]:g}% (1st–99th percentile of the means,"
            f" which range over {vals[0]:,.0f}%…{vals[-1]:,.0f}%)."
        )
    notes_html = [f'<p class="note">{escape(n)}</p>' for n in notes]
    return [_legend(legend), *svg, "</svg>", *notes_html]


def backtest_html(
    title: str,
    subtitle: str,
    curves: dict[str, list[tuple[int, float]]],
    funding: dict[str, list[tuple[int, float]]],
    held: list[tuple[int, int, str]],
    table: list[tuple[str, list[str]]] | None = None,
    table_headers: list[str] | None = None,
) -> str:
    """A complete HTML page: equity (growth of 100), drawdown and annualised funding of the
    held symbols on one UTC time axis, then `table` if given. `curves` maps a name to
    (time ms, equity), the strategy first; `funding` a symbol to (time ms, rate per 8h);
    `held` lists (from ms, to ms, symbol) spans the strategy held."""
    norm = {name: _normalise(sorted(p)) for name, p in curves.items() if p}
    dd = {name: _drawdown(p) for name, p in norm.items()}
    held_ms = dict.fromkeys(funding, 0)
    for a, b, sym in held:
        if sym in held_ms:
            held_ms[sym] += max(0, b - a)
    with_data = [s for s in funding if funding[s]]
    shown = sorted(with_data, key=lambda s: (-held_ms[s], s))[:MAX_SYMBOLS]
    fund = {s: sorted((t, r * 3 * 365 * 100) for t, r in funding[s]) for s in shown}

    ends = [t for p in [*norm.values(), *fund.values()] for t in (p[0][0], p[-1][0])]
    t0, t1 = min(ends, default=0), max(ends, default=0)
    if t0 == t1:  # one instant: give it a two-day axis to sit in the middle of
        t0, t1 = t0 - DAY, t1 + DAY

    time = _Time(t0, t1)
    body = [f"<h1>{escape(title)}</h1>", f'<p class="sub">{escape(subtitle)}</p>']

    eq = {name: _downsample(p) for name, p in norm.items()}
    vals = [v for p in eq.values() for _, v in p]
    legend = [(PALETTE[i % 8], n, f"{p[-1][1]:,.1f}") for i, (n, p) in enumerate(norm.items())]
    body += ["<h2>Equity, growth of 100</h2>", _legend(legend)]
    ticks = _nice_ticks(min(vals, default=100), max(vals, default=100))
    body += _curves(eq, 280, ticks, "", time)

    dds = {name: _downsample(p) for name, p in dd.items()}
    low = min((v for p in dds.values() for _, v in p), default=0.0)
    legend = [
        (PALETTE[i % 8], n, f"{min(v for _, v in p):.1f}%") for i, (n, p) in enumerate(dd.items())
    ]
    body += ["<h2>Drawdown from peak</h2>", _legend(legend)]
    # at least 1% deep, so a drawdown of a few basis points looks as small as it is
    body += _curves(dds, 140, _nice_ticks(min(low, -1.0), 0.0, 4), "%", time)

    body += ["<h2>Funding, annualised</h2>"]
    body += _funding(fund, held, held_ms, len(with_data), time)
    if table:
        body.append(_table(table, table_headers))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        "<body><main>" + "\n".join(body) + "</main></body></html>\n"
    )
