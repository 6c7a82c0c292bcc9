"""The backtest chart read back as XML: every figure checked here is recomputed from the inputs
and compared with what the drawing shows, pixels mapped back through the axis labels."""

from __future__ import annotations

import itertools
import math
import random
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from conftest import Fra

from fra.commands.chart import backtest_html

H8 = 8 * 3_600_000
DAY = 86_400_000
# Coordinates are written to 0.1 px and ticks now sit inside the axis, not at its ends, so a
# value read back through them is good to a few hundredths of a pixel.
PX = 0.15
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def walk(start: int, n: int, seed: int, v0: float = 10_000.0, step: int = H8) -> list:
    rnd, v, out = random.Random(seed), v0, []
    for i in range(n):
        out.append((start + i * step, v))
        v *= 1 + rnd.gauss(0.0002, 0.004)
    return out


def parse(html: str) -> ET.Element:
    """The whole page parsed as XML (which fails on anything left unescaped), namespaces off."""
    root = ET.fromstring(html)
    for el in root.iter():
        el.tag = el.tag.split("}")[-1]
    return root


def page(*args, **kw) -> ET.Element:
    return parse(backtest_html(*args, **kw))


def panels(root: ET.Element) -> list[ET.Element]:
    svgs = root.findall(".//svg")
    assert len(svgs) == 3
    return svgs


def lines(svg: ET.Element, cls: str = "curve") -> dict[str, list[tuple[float, float]]]:
    out = {}
    for p in svg.findall(f".//polyline[@class='{cls}']"):
        out[p.findtext("title")] = [
            tuple(map(float, xy.split(","))) for xy in p.get("points").split()
        ]
    return out


def number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def y_to_value(svg: ET.Element):
    """The inverse of the y axis, from its tick labels (which must lie on one straight line)."""
    ticks = sorted(
        (float(t.get("y")), number(t.text)) for t in svg.findall(".//text[@class='ytick']")
    )
    assert len(ticks) >= 3
    (ya, va), (yb, vb) = ticks[0], ticks[-1]
    slope = (vb - va) / (yb - ya)
    for y, v in ticks:
        assert v == pytest.approx(va + (y - ya) * slope, abs=abs(slope) * 0.06)
    return lambda y: va + (y - ya) * slope, abs(slope)


def legend(root: ET.Element, heading: str) -> dict[str, str]:
    """The legend drawn inside the panel under `heading`: name -> value."""
    kids = list(root.find(".//main"))
    i = next(i for i, el in enumerate(kids) if el.tag == "h2" and el.text.startswith(heading))
    svg = kids[i + 1]
    assert svg.tag == "svg"
    items = svg.findall("./g[@class='legend']/g[@class='item']")
    return {it.find("text").text.strip(): it.find("text/tspan").text for it in items}


def max_drawdown(points: list) -> float:
    peak, worst = -math.inf, 0.0
    for _, v in points:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1)
    return 100 * worst


def test_one_line_per_curve_legend_finals_and_line_ends_agree_with_the_inputs():
    curves = {
        "strategy": walk(ms("2021-01-01"), 1000, 1),
        "BTC carry": walk(ms("2021-03-01"), 700, 2, v0=3_000.0),
        "basket": walk(ms("2020-11-01"), 900, 3, v0=250.0),
    }
    root = page("t", "s", curves, {}, [])
    equity, drawdown, _ = panels(root)
    eq, dd = lines(equity), lines(drawdown)
    assert list(eq) == list(dd) == list(curves)
    value, per_px = y_to_value(equity)
    finals = legend(root, "Equity")
    for name, pts in curves.items():
        expected = 100 * pts[-1][1] / pts[0][1]
        assert number(finals[name]) == pytest.approx(expected, abs=0.051)
        assert value(eq[name][0][1]) == pytest.approx(100, abs=per_px * PX)
        assert value(eq[name][-1][1]) == pytest.approx(expected, abs=per_px * PX)
    widths = [float(p.get("stroke-width")) for p in equity.findall(".//polyline")]
    assert widths[0] > max(widths[1:])  # the strategy stands out
    colours = {p.get("stroke") for p in equity.findall(".//polyline")}
    assert len(colours) == 3


def test_drawdown_lowest_point_is_the_max_drawdown():
    # 120 -> 90 is the deepest fall: 25 %; the later 130 -> 104 is only 20 %
    days = [ms("2023-01-01") + i * DAY for i in range(5)]
    hand = list(zip(days, [100.0, 120.0, 90.0, 130.0, 104.0], strict=True))
    long = walk(ms("2019-06-01"), 3000, 7)
    root = page("t", "s", {"strategy": hand, "long": long}, {}, [])
    _, drawdown, _ = panels(root)
    value, per_px = y_to_value(drawdown)
    dd = lines(drawdown)
    for name, expected in (("strategy", -25.0), ("long", max_drawdown(long))):
        lowest = max(y for _, y in dd[name])  # y grows downwards
        assert value(lowest) == pytest.approx(expected, abs=per_px * PX)
        assert value(min(y for _, y in dd[name])) == pytest.approx(0, abs=per_px * PX)
        assert number(legend(root, "Drawdown")[name]) == pytest.approx(expected, abs=0.051)
    top = min(drawdown.findall(".//text[@class='ytick']"), key=lambda t: float(t.get("y")))
    assert number(top.text) == 0


def test_downsampling_caps_points_and_keeps_the_extremes():
    pts = walk(ms("2020-01-01"), 6500, 11)
    rnd = random.Random(5)
    up, down = rnd.randrange(100, 3000), rnd.randrange(3500, 6400)
    pts[up] = (pts[up][0], pts[up][1] * 1.8)  # one settlement wide: thinner than a pixel
    pts[down] = (pts[down][0], pts[down][1] * 0.3)
    root = page("t", "s", {"strategy": pts}, {}, [])
    equity, drawdown, _ = panels(root)
    (eq,) = lines(equity).values()
    (dd,) = lines(drawdown).values()
    assert len(eq) <= 1500 and len(dd) <= 1500
    value, per_px = y_to_value(equity)
    norm = [100 * v / pts[0][1] for _, v in pts]
    assert value(min(y for _, y in eq)) == pytest.approx(max(norm), abs=per_px * PX)
    assert value(max(y for _, y in eq)) == pytest.approx(min(norm), abs=per_px * PX)
    value, per_px = y_to_value(drawdown)
    assert value(max(y for _, y in dd)) == pytest.approx(max_drawdown(pts), abs=per_px * PX)
    xs = [x for x, _ in eq]
    assert xs == sorted(xs)


def test_six_years_of_seventeen_series_stay_small():
    start = ms("2020-01-01")
    curves = {"strategy": walk(start, 6500, 1), "BTC carry": walk(start, 6500, 2)}
    rnd = random.Random(3)
    funding = {
        f"S{i}/USDT:USDT": [(start + j * H8, rnd.gauss(0.0001, 0.0003)) for j in range(6500)]
        for i in range(15)
    }
    held = [
        (start + k * 40 * DAY, start + (k * 40 + 20) * DAY, f"S{k % 15}/USDT:USDT")
        for k in range(50)
    ]
    html = backtest_html("t", "s", curves, funding, held)
    assert len(html) < 400_000
    for poly in parse(html).iter("polyline"):
        assert len(poly.get("points").split()) <= 1500


def test_many_symbols_show_the_five_held_longest_and_the_rest_as_their_mean():
    start = ms("2022-01-01")
    rates = {f"X{i:02}": 0.0001 * (i - 5) for i in range(12)}
    funding = {s: [(start + j * H8, r) for j in range(300)] for s, r in rates.items()}
    # symbol i held for (i * 7 % 12 + 1) days: an order unrelated to names or insertion
    days = {f"X{i:02}": i * 7 % 12 + 1 for i in range(12)}
    held = [(start + DAY, start + (1 + d) * DAY, s) for s, d in days.items()]
    root = page("t", "s", {"strategy": walk(start, 300, 1)}, funding, held)
    _, _, fund = panels(root)
    ranked = sorted(days, key=days.get, reverse=True)
    longest, rest = ranked[:5], ranked[5:]
    drawn = lines(fund, "funding")
    others = f"others ({len(rest)}): {', '.join(rest)}"
    assert list(drawn) == [*longest, others]
    # the grey line is the mean of the other symbols' annualised rates
    value, per_px = y_to_value(fund)
    mean = sum(rates[s] for s in rest) / len(rest) * 3 * 365 * 100
    assert all(value(y) == pytest.approx(mean, abs=per_px * PX) for _, y in drawn[others])
    assert len(fund.findall(".//rect[@class='span']")) == len(days)
    notes = " ".join(p.text for p in root.iter("p"))
    assert "other 7" in notes and all(s in notes for s in rest)
    got = {n: number(v.split()[1]) for n, v in legend(root, "Funding").items()}
    assert got == {**{s: days[s] for s in longest}, "others (7)": sum(days[s] for s in rest)}


def test_funding_is_annualised_and_held_stretches_sit_over_the_held_span():
    start = ms("2023-01-01")
    n = 40 * 3
    funding = {
        "PAY/USDT:USDT": [(start + j * H8, 0.0001) for j in range(n)],
        "NEG/USDT:USDT": [(start + j * H8, -0.0002) for j in range(n)],
    }
    a, b = start + 10 * DAY, start + 20 * DAY
    strategy = walk(start, n, 4)
    root = page("t", "s", {"strategy": strategy}, funding, [(a, b, "PAY/USDT:USDT")])
    equity, _, fund = panels(root)
    value, per_px = y_to_value(fund)
    got = lines(fund, "funding")
    # 0.0001 per 8 h is 0.0001 * 3 * 365 = 10.95 % a year
    assert all(value(y) == pytest.approx(10.95, abs=per_px * PX) for _, y in got["PAY/USDT:USDT"])
    assert all(value(y) == pytest.approx(-21.9, abs=per_px * PX) for _, y in got["NEG/USDT:USDT"])
    zero = fund.find(".//line[@class='zero']")
    assert value(float(zero.get("y1"))) == pytest.approx(0, abs=per_px * PX)
    # time -> x from the strategy line, whose first and last points are the axis ends
    eq = lines(equity)["strategy"]
    (x0, _), (x1, _) = eq[0], eq[-1]

    def x(t: int) -> float:
        return x0 + (t - strategy[0][0]) * (x1 - x0) / (strategy[-1][0] - strategy[0][0])

    held = fund.findall(".//path[@class='held']")
    assert len(held) == 1
    xs = [float(v) for v in re.findall(r"([\d.]+),[\d.]+", held[0].get("d"))]
    assert x(a) - 0.1 <= min(xs) and max(xs) <= x(b) + 0.1
    assert max(xs) - min(xs) > 0.8 * (x(b) - x(a))
    (bar,) = fund.findall(".//rect[@class='span']")
    assert float(bar.get("x")) == pytest.approx(x(a), abs=0.1)
    assert float(bar.get("width")) == pytest.approx(x(b) - x(a), abs=0.1)


def test_user_text_is_escaped():
    nasty, title = "<&>\"'x", "<script>alert(1)</script>"
    t = ms("2024-01-01")
    html = backtest_html(
        title,
        "a & b",
        {nasty: [(t, 1.0), (t + DAY, 2.0)]},
        {nasty: [(t, 0.0001), (t + DAY, 0.0002)]},
        [(t, t + DAY, nasty)],
        [(nasty, [nasty])],
        [nasty],
    )
    assert "<script>" not in html and "<&>" not in html
    root = parse(html)  # would fail on any of them left raw
    assert root.findtext(".//title") == root.findtext(".//h1") == title
    assert root.findtext(".//p[@class='sub']") == "a & b"
    for svg, cls in zip(panels(root), ["curve", "curve", "funding"], strict=True):
        assert list(lines(svg, cls)) == [nasty]
    for heading in ("Equity", "Drawdown", "Funding"):
        assert list(legend(root, heading)) == [nasty]
    assert [el.text for el in root.find(".//table").iter() if el.text] == [nasty] * 3


def test_odd_inputs_still_make_a_page():
    t = ms("2024-01-01")
    pages = [
        backtest_html("t", "s", {}, {}, []),  # nothing at all
        backtest_html("t", "s", {"strategy": [], "b": [(t, 0.0), (t + DAY, 5.0)]}, {}, []),
        backtest_html(
            "t",
            "s",
            {"strategy": walk(t, 30, 1)},
            {"A": [], "B": [(t + 5 * DAY, 0.001)], "C": [(t - 90 * DAY, -0.003)]},
            [(t + 9 * DAY, t + 3 * DAY, "B"), (t - 400 * DAY, t - 300 * DAY, "C"), (t, t, "Z")],
        ),
    ]
    for html in pages:
        root = parse(html)
        assert len(panels(root)) == 3
        assert not re.search(r"nan|inf", " ".join(el.get("points", "") for el in root.iter()))


def test_empty_funding_still_draws_the_other_panels():
    root = page("t", "s", {"strategy": walk(ms("2022-01-01"), 50, 1)}, {}, [])
    equity, drawdown, fund = panels(root)
    assert len(lines(equity)) == len(lines(drawdown)) == 1
    assert lines(fund, "funding") == {}
    assert "No funding data" in [t.text for t in fund.iter("text")]
    assert legend(root, "Funding") == {}


@pytest.mark.parametrize(
    "values, final, deepest",
    [
        ([5_000.0], 100.0, 0.0),  # one point
        ([1_000.0] * 50, 100.0, 0.0),  # flat
        ([1_000.0, 500.0, -500.0], -50.0, -150.0),  # equity below zero
        # a negative start still starts at 100, measured in units of |start|: -100 is 150, -300
        # is 50, a third of the peak
        ([-200.0, -100.0, -300.0], 50.0, -66.7),
    ],
)
def test_degenerate_curves(values, final, deepest):
    t = ms("2022-05-01")
    curve = [(t + i * H8, v) for i, v in enumerate(values)]
    html = backtest_html("t", "s", {"strategy": curve}, {"A": [(t, 0.0001)]}, [(t, t, "A")])
    assert "nan" not in html and "inf" not in html
    root = parse(html)
    equity, _, _ = panels(root)
    assert number(legend(root, "Equity")["strategy"]) == pytest.approx(final, abs=0.051)
    assert number(legend(root, "Drawdown")["strategy"]) == pytest.approx(deepest, abs=0.051)
    (eq,) = lines(equity).values()
    assert len(eq) == len(values)
    value, per_px = y_to_value(equity)
    assert value(eq[-1][1]) == pytest.approx(final, abs=per_px * PX)
    view = [float(v) for v in equity.get("viewBox").split()]
    assert all(0 <= x <= view[2] and 0 <= y <= view[3] for x, y in eq)


@pytest.mark.parametrize("growth", [1.00004, 1.07, 3.0, 10_000.0, 0.2])
def test_y_ticks_are_round_and_cover_the_data(growth):
    t = ms("2021-01-01")
    curve = [(t + i * DAY, 50.0 * growth ** (i / 99)) for i in range(100)]
    root = page("t", "s", {"strategy": curve}, {}, [])
    equity = panels(root)[0]
    ticks = sorted(number(t.text) for t in equity.findall(".//text[@class='ytick']"))
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert round(mantissa, 6) in {1, 2, 5}
    assert 3 <= len(ticks) <= 10
    # the axis is the data's range and a margin of 5 % of it at each end, ticks inside it
    value, _ = y_to_value(equity)
    frame = equity.find(".//rect[@stroke='#bbb']")
    top, bottom = float(frame.get("y")), float(frame.get("y")) + float(frame.get("height"))
    lo, hi = sorted((100, 100 * growth))
    pad = 0.05 * (hi - lo)
    assert value(bottom) == pytest.approx(lo - pad, rel=1e-3, abs=1e-6)
    assert value(top) == pytest.approx(hi + pad, rel=1e-3, abs=1e-6)
    assert value(bottom) <= ticks[0] and ticks[-1] <= value(top)


@pytest.mark.parametrize(
    "first, last, looks_like",
    [
        ("2019-01-01", "2024-12-31", r"^\d{4}$"),
        ("2023-01-15", "2023-06-15", r"^[A-Z][a-z]{2}( \d{4})?$"),
        ("2023-03-02", "2023-03-22", r"^\d{1,2} [A-Z][a-z]{2}( \d{4})?$"),
    ],
)
def test_time_labels_follow_the_span(first, last, looks_like):
    curve = walk(ms(first), (ms(last) - ms(first)) // H8 + 1, 1)
    equity = panels(page("t", "s", {"strategy": curve}, {}, []))[0]
    labels = [(float(t.get("x")), t.text) for t in equity.findall(".//text[@class='xtick']")]
    assert 3 <= len(labels) <= 12
    assert all(re.match(looks_like, text) for _, text in labels)
    assert re.search(r"\d{4}", labels[0][1])  # the year is given at least once
    # each label sits where its date falls on the line, whose ends are the axis ends
    (x0, _), (x1, _) = lines(equity)["strategy"][0], lines(equity)["strategy"][-1]
    year = None
    for x, text in labels:
        parts = text.split()
        year = int(parts.pop()) if parts[-1].isdigit() and len(parts[-1]) == 4 else year
        month = MONTHS.index(parts.pop()) + 1 if parts and not parts[-1].isdigit() else 1
        day = int(parts.pop()) if parts else 1
        t = ms(f"{year}-{month:02}-{day:02}")
        assert curve[0][0] <= t <= curve[-1][0]
        expected = x0 + (t - curve[0][0]) * (x1 - x0) / (curve[-1][0] - curve[0][0])
        assert x == pytest.approx(expected, abs=0.1)


def test_curves_with_different_spans_share_the_time_axis():
    baseline = walk(ms("2021-01-01"), 700, 2)  # starts on a year tick, ends in 2021
    curves = {"strategy": walk(ms("2019-01-01"), 6570, 1), "late": baseline}
    equity = panels(page("t", "s", curves, {}, []))[0]
    ticks = {t.text: float(t.get("x")) for t in equity.findall(".//text[@class='xtick']")}
    assert list(ticks) == [str(y) for y in range(2019, 2025)]
    eq = lines(equity)
    assert eq["late"][0][0] == pytest.approx(ticks["2021"], abs=0.1)
    assert eq["strategy"][0][0] == pytest.approx(ticks["2019"], abs=0.1)
    # the axis ends where the longest curve ends, the later one ends before it
    assert eq["late"][-1][0] < eq["strategy"][-1][0]


def test_table_under_the_chart():
    rows = [("strategy", ["12.3%", "1.20"]), ("BTC carry", ["8.1%", "0.90"])]
    root = page("t", "s", {"strategy": walk(ms("2022-01-01"), 10, 1)}, {}, [], rows,
                ["Net/yr", "Sharpe"])  # fmt: skip
    table = root.find(".//table")
    assert [th.text or "" for th in table.find("thead").iter("th")] == ["", "Net/yr", "Sharpe"]
    got = [(tr.findtext("th"), [td.text for td in tr.findall("td")]) for tr in table.find("tbody")]
    assert got == rows
    assert page("t", "s", {}, {}, []).find(".//table") is None


OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
             "#CC79A7", "#999999"}  # fmt: skip


def test_each_panel_has_a_legend_and_axis_titles_with_units():
    start = ms("2022-01-01")
    curves = {"strategy": walk(start, 90, 1), "hold BTC": walk(start, 90, 2)}
    root = page("t", "s", curves, {"A/USDT:USDT": [(start, 0.0001)]}, [(start, start, "A")])
    titles = []
    for svg, heading in zip(panels(root), ["Equity", "Drawdown", "Funding"], strict=True):
        assert legend(root, heading), heading
        texts = [t.text for t in svg.findall(".//text[@class='axis-title']")]
        assert texts[0] == "UTC"
        titles.append(texts[1])
    assert titles == ["growth of 100", "% below peak", "% a year"]
    _, drawdown, fund = panels(root)
    for svg in (drawdown, fund):
        assert all(t.text.endswith("%") for t in svg.findall(".//text[@class='ytick']"))


def test_liquidations_and_emergency_stops_are_marked_where_they_happened():
    start = ms("2023-01-01")
    strategy = walk(start, 90, 4)
    liquidated, stopped = start + 10 * DAY, start + 20 * DAY
    events = [
        (liquidated, "liquidation", "ETH short liquidated"),
        (stopped, "emergency stop", "BTC closed"),
        (stopped, "emergency stop", "SOL closed"),  # one stop closing two positions
        (start - 50 * DAY, "liquidation", "before the period"),
        (start + 5 * DAY, "data gap", "not a kind the picture draws"),
    ]
    root = page("t", "s", {"strategy": strategy}, {}, [], None, None, events)
    equity, drawdown, fund = panels(root)
    eq = lines(equity)["strategy"]
    (x0, _), (x1, _) = eq[0], eq[-1]

    def x(t: int) -> float:
        return x0 + (t - strategy[0][0]) * (x1 - x0) / (strategy[-1][0] - strategy[0][0])

    for svg, heading in ((equity, "Equity"), (drawdown, "Drawdown")):
        marks = svg.findall(".//path[@class='marker']")
        drawn = {m.get("data-kind"): m for m in marks if m.findtext("title")}
        assert len(drawn) == 2 and len(marks) == 4  # two in the plot, two in the legend
        for kind, t in (("liquidation", liquidated), ("emergency stop", stopped)):
            mx = float(re.match(r"translate\(([\d.]+),", drawn[kind].get("transform"))[1])
            assert mx == pytest.approx(x(t), abs=0.1)
        assert drawn["emergency stop"].findtext("title") == "BTC closed; SOL closed"
        guides = sorted(float(g.get("x1")) for g in svg.findall(".//line[@class='event-line']"))
        assert guides == pytest.approx([x(liquidated), x(stopped)], abs=0.1)
        got = legend(root, heading)
        assert (got["liquidation"], got["emergency stop"]) == ("1", "1")
    assert fund.find(".//path[@class='marker']") is None


def test_the_data_is_drawn_in_okabe_ito_colours():
    start = ms("2022-01-01")
    curves = {f"c{i}": walk(start, 60, i) for i in range(3)}
    funding = {f"S{i}": [(start + j * H8, 0.0001 * i) for j in range(60)] for i in range(9)}
    held = [(start, start + 3 * DAY, s) for s in funding]
    events = [(start + DAY, "liquidation", "x"), (start + DAY, "emergency stop", "y")]
    root = page("t", "s", curves, funding, held, None, None, events)
    colours = [p.get("stroke") for p in root.iter("polyline")]
    colours += [p.get("stroke") for p in root.findall(".//path[@class='held']")]
    colours += [r.get("fill") for r in root.findall(".//rect[@class='span']")]
    colours += [m.get("fill") for m in root.findall(".//path[@class='marker']")]
    colours += [s.get("stroke") for s in root.findall(".//g[@class='item']/line")]
    assert len(colours) > 20 and set(colours) <= OKABE_ITO
    # the funding lines avoid the strategy's black and the yellow that is faint on white
    fund = {p.get("stroke") for p in panels(root)[2].iter("polyline")}
    assert "#000000" not in fund and "#F0E442" not in fund and len(fund) == 6


def test_a_squeeze_replayed_by_the_cli_is_marked_on_the_picture(fra: Fra) -> None:
    from test_backtest import history

    fra.set(FRA_BACKTEST__SPREAD_BPS="0", FRA_BACKTEST__SLIPPAGE_BPS="0",
            FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS="1")  # fmt: skip
    # ETH jumps 40 % in one bar on day 5: past a 3x short's bankruptcy price.
    history(fra, lambda i: "0.001", lambda i: 1000 if i < 15 else 1400)
    report = fra.json(
        "backtest", "--from", "2023-01-01", "--to", "2023-01-21", "--chart", "out.html",
        FRA_BACKTEST__RESUME_AFTER_HOURS="10000",
    )  # fmt: skip
    (event,) = [e for e in report["events"] if "liquidated" in e]
    root = parse((fra.workdir / "out.html").read_text())
    equity = panels(root)[0]
    marks = [m for m in equity.findall(".//path[@class='marker']") if m.findtext("title")]
    assert [m.get("data-kind") for m in marks] == ["liquidation"]
    assert "ETH/USDT:USDT" in marks[0].findtext("title") and event.startswith("2023-01-06")
    assert marks[0].findtext("title").startswith("2023-01-06")
    assert legend(root, "Equity")["liquidation"] == "1"
