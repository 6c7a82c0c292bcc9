"""The strategy's rules end to end: live cycles and the replay take the same decisions from the
same prints, `fra rank` says what the rules would do, and the default rule does not lose money
where funding prints are noisy."""

from __future__ import annotations

from datetime import timedelta

from conftest import PINNED, T0, Fra, iso

from fra.core.forecast import MIN_PRINTS
from fra.engine.backtest import backtest
from fra.settings import load_settings

ETH = "ETH/USDT:USDT"
H8 = 8 * 3_600_000
# ETH pays 0.1 %/8h for three days from T0, then -0.1 %/8h for two: far from every threshold,
# so live's order-book costs and the replay's spread setting cannot decide differently.
SHOCKS = [
    f"{ETH}@{iso(T0)}:funding=0.001:hours=72",
    f"{ETH}@{iso(T0 + timedelta(hours=72))}:funding=-0.001:hours=48",
]
SAME = {
    # The replay has no predicted rates (history holds settled prints only): so neither side
    # uses them here, and both decide on the same prints.
    "FRA_STRATEGY__PREDICTED_WEIGHT": "0",
    "FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS": "24",
    "FRA_STRATEGY__MIN_FUNDING_RATE": "0.0003",
    "FRA_STRATEGY__EXIT_FUNDING_RATE": "0",
    "FRA_STRATEGY__MIN_VOLUME_USD": "0",
    "FRA_STRATEGY__SYMBOLS": f'["{ETH}"]',
}


def defaults(fra: Fra) -> Fra:
    """The strategy's own defaults, not the machinery tests' pinned settings."""
    for key in PINNED:
        fra.env.pop(key, None)
    return fra


def test_live_cycles_and_the_replay_take_the_same_actions(fra: Fra) -> None:
    defaults(fra).set(**SAME).shocks(*SHOCKS)
    # A cycle a minute after every settlement for six days, as cron would run it.
    start = T0 - timedelta(hours=16)
    for k in range(6 * 3 + 2):
        fra.at(start + timedelta(hours=8 * k, minutes=1))
        fra("run-cycle", code=None)
    live = [
        (p["symbol"], p["opened_at"], p.get("closed_at"))
        for p in fra.json("positions", "--state", "all")
    ]
    assert live, "the shock should have been traded"

    env = {k.removeprefix("FRA_").lower(): v for k, v in fra.full_env().items()}
    settings = load_settings(
        db=fra.workdir / "replay.db",
        venue="simulated",
        sim={"now": env["sim__now"], "shocks": SHOCKS},
        strategy={
            "predicted_weight": "0",
            "forecast_half_life_hours": 24,
            "min_funding_rate": "0.0003",
            "exit_funding_rate": "0",
            "min_volume_usd": "0",
            "symbols": [ETH],
        },
    )
    report = backtest(
        settings,
        "sim",
        [ETH],
        int(start.timestamp() * 1000),
        int((start + timedelta(days=6, hours=16)).timestamp() * 1000),
    )
    replayed = [
        (t.symbol, _iso_ms(t.opened_ms), _iso_ms(t.closed_ms))
        for t in report.results["strategy"].trades
        if t.reason != "end of the backtest"
    ]
    # Live acts a minute after the settlement the replay acts at.
    assert [(s, _settlement(o), _settlement(c)) for s, o, c in live] == replayed


def _iso_ms(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def _settlement(text: str | None) -> str | None:
    return None if text is None else text[:14] + "00"


def test_rank_says_which_rate_is_which_and_what_it_would_do(fra: Fra) -> None:
    defaults(fra).set(**SAME).shocks(*SHOCKS)
    fra.at(T0 + timedelta(hours=16, minutes=1))
    data = fra.json("rank", "--refresh")
    [eth] = [r for r in data["rows"] if r["symbol"] == ETH]
    assert eth["action"] == "open" and "net" in eth["why"]
    assert eth["forecast_8h"] is not None and eth["rate_8h"] is not None
    others = [r for r in data["rows"] if r["symbol"] != ETH]
    assert all(r["action"] == "skip" and "not_in_symbols" in r["why"] for r in others)
    fra("run-cycle")
    [held] = [r for r in fra.json("rank")["rows"] if r["symbol"] == ETH]
    assert held["action"] == "hold" and "exit bar" in held["why"]
    table = fra("rank").stdout
    assert "Forecast" in table and "half-life 24h" in table


def test_a_new_listing_waits_for_a_history(fra: Fra) -> None:
    """A pair with fewer settled prints than the forecast needs (MIN_PRINTS) is not opened,
    however much its first prints pay: here a listing on day 5 paying 0.2 %/8h."""
    start = int(T0.timestamp() * 1000)
    funding, bars = [], []
    for i in range(-3, 30):
        t = start + i * H8
        for market in ("perp", "spot"):
            bars.append(f"binance,BTCUSDT,{market},{t},20000,20000,20000,20000,100000")
            if i >= 14:
                bars.append(f"binance,NEWUSDT,{market},{t},1,1,1,1,100000000")
        funding.append(f"binance,BTCUSDT,{t},0.00001,8")
        if i >= 15:
            funding.append(f"binance,NEWUSDT,{t},0.002,8")
    report = _replay(fra, funding, bars, forecast_half_life_hours=8)
    [trade, *_] = report.results["strategy"].trades
    assert trade.symbol == "NEW/USDT:USDT"
    assert trade.opened_ms == start + (15 + MIN_PRINTS - 1) * H8, "opened at its third print"


def test_default_rule_does_not_lose_where_prints_are_noisy(fra: Fra) -> None:
    """On the simulated market at its noisiest (lag-1 autocorrelation ~0.3), the default
    settings earn at least nothing while holding BTC's carry earns."""
    defaults(fra).set(FRA_SIM__FUNDING_NOISE="1")
    out = fra.json("backtest", "--exchange", "sim", "--from", "2025-01-01", "--to", "2025-04-01")
    assert out["baselines"]["hold BTC"]["net_return"] > 0
    assert out["strategy"]["net_return"] >= 0
    assert out["strategy"]["trades"] > 0


def _replay(
    fra: Fra, funding: list[str], bars: list[str], risk: dict | None = None, **strategy: object
):
    (fra.workdir / "f.csv").write_text(
        "\n".join(["exchange,symbol,funding_time_ms,funding_rate,interval_hours", *funding]) + "\n"
    )
    (fra.workdir / "b.csv").write_text(
        "\n".join(["exchange,symbol,market,open_time_ms,open,high,low,close,volume", *bars]) + "\n"
    )
    fra("history", "import", "f.csv")
    fra("history", "import", "b.csv")
    settings = load_settings(
        db=fra.db,
        venue="simulated",
        history_db=fra.workdir / "history.db",
        strategy={"min_volume_usd": "0", **strategy},
        risk=risk or {},
    )
    start = int(T0.timestamp() * 1000)
    return backtest(settings, "binance", None, start, start + 10 * 24 * 3_600_000)


def test_a_stopped_pair_is_not_opened_again(fra: Fra) -> None:
    """The stop closes a pair whose prints stayed below the stop rate; its slow forecast may
    still clear the entry rate, and it must not be opened again while the stop holds."""
    start = int(T0.timestamp() * 1000)
    funding, bars = [], []
    for i in range(-3, 30):
        t = start + i * H8
        funding.append(f"binance,ETHUSDT,{t},{'0.001' if i < 12 else '-0.0005'},8")
        for market in ("perp", "spot"):
            bars.append(f"binance,ETHUSDT,{market},{t},1000,1000,1000,1000,1000000")
    report = _replay(
        fra,
        funding,
        bars,
        forecast_half_life_hours=720,
        exit_funding_rate="-0.01",
        stop_funding_rate="-0.0002",
        stop_hours=24,
    )
    [trade] = report.results["strategy"].trades
    assert "stop rate" in trade.reason
    # Opened at the first cycle, stopped 24h after the first print below the stop.
    assert trade.closed_ms == start + (12 + 3) * H8


def test_the_replay_never_spends_more_than_it_has(fra: Fra) -> None:
    """With the perp above spot (positive funding), the margin and the perp's fee are on the
    perp's price: a position sized on spot's price alone would spend more cash than there is."""
    start = int(T0.timestamp() * 1000)
    funding, bars = [], []
    for i in range(-3, 30):
        t = start + i * H8
        funding.append(f"binance,ETHUSDT,{t},0.001,8")
        bars.append(f"binance,ETHUSDT,perp,{t},1020,1020,1020,1020,1000000")
        bars.append(f"binance,ETHUSDT,spot,{t},1000,1000,1000,1000,1000000")
    report = _replay(fra, funding, bars, risk={"max_positions": 1, "max_position_fraction": "1"})
    points = report.results["strategy"].points
    assert any(p.held for p in points)
    assert all(p.deployed <= 1 for p in points), "cash went below zero"
