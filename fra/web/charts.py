"""Pictures for the dashboard as inline SVG, drawn on the server: no script, no library, and
they work offline. The time charts reuse the backtest picture's axes and curves."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from fra.commands.chart import _curves, _downsample, _nice_ticks, _Time

GAUGE_W, GAUGE_H = 160, 18
# The margin ratio runs to 1 (liquidation); the gauge shows up to this much, further ratios
# pinned at its end, so the alert and critical marks (0.3 and 0.5 by default) are not crowded.
GAUGE_MAX = Decimal(1)
OK, ALERT, CRITICAL = "#009E73", "#E69F00", "#D55E00"


def time_chart(name: str, points: list[tuple[int, Decimal]], unit: str = "") -> str | None:
    """A line over time, or None when there are fewer than two moments to draw."""
    if len(points) < 2 or points[0][0] == points[-1][0]:
        return None
    series = _downsample([(t, float(v)) for t, v in points])
    values = [v for _, v in series]
    time = _Time(series[0][0], series[-1][0])
    svg = _curves({name: series}, 150, _nice_ticks(min(values), max(values), 4), unit, time)
    # Named for people using a screen reader, and for anyone asking what the picture is.
    svg[0] = svg[0].replace('role="img">', f'role="img" aria-label="{escape(name)}">')
    return "".join(svg)


def margin_gauge(ratio: Decimal | None, alert: Decimal, critical: Decimal) -> str:
    """A bar from 0 to liquidation with the alert and critical levels marked and the ratio's
    needle: green below alert, amber to critical, red beyond."""

    def x(v: Decimal) -> float:
        return float(min(max(v, Decimal(0)), GAUGE_MAX) / GAUGE_MAX) * GAUGE_W

    if ratio is None:
        label = "margin ratio not measured yet"
    else:
        level = "critical" if ratio >= critical else "alert" if ratio >= alert else "ok"
        label = f"margin ratio {ratio * 100:.2f} % ({level}); alert at {alert * 100:.0f} %"
        label += f", critical at {critical * 100:.0f} %"
    parts = [
        f'<svg class="gauge" viewBox="0 0 {GAUGE_W} {GAUGE_H}" width="{GAUGE_W}"'
        f' height="{GAUGE_H}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<rect x="0" y="4" width="{x(alert):.1f}" height="10" fill="{OK}" opacity="0.35"/>',
        f'<rect x="{x(alert):.1f}" y="4" width="{x(critical) - x(alert):.1f}" height="10"'
        f' fill="{ALERT}" opacity="0.45"/>',
        f'<rect x="{x(critical):.1f}" y="4" width="{GAUGE_W - x(critical):.1f}" height="10"'
        f' fill="{CRITICAL}" opacity="0.45"/>',
    ]
    if ratio is not None:
        colour = CRITICAL if ratio >= critical else ALERT if ratio >= alert else OK
        needle = min(max(x(ratio), 1.5), GAUGE_W - 1.5)
        parts.append(
            f'<rect class="needle" x="{needle - 1.5:.1f}" y="0" width="3" height="{GAUGE_H}"'
            f' fill="{colour}" stroke="#222" stroke-width="0.5"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
