"""fra backtest on small made-up histories (each figure can be worked out by hand) and, when
../shared/data is present, on real Binance history."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import Fra

from fra.errors import ExitCode

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
H8 = 8 * 3_600_000
START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAYS = 20


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def history(
    fra: Fra,
    eth_rate: Callable[[int], object],
    eth_price: Callable[[int], object],
    eth_perp_high: Callable[[int], object] | None = None,
    bars_until: int = DAYS * 3,
) -> None:
    """20 days of 8h settlements and bars: BTC flat at 20000 paying 0.0001 (below the default
    entry rate), ETH at `eth_price(i)` paying `eth_rate(i)` at settlement i; the three
    settlements before the period are the forecast's warm-up."""
    funding = ["exchange,symbol,funding_time_ms,funding_rate,interval_hours"]
    bars = ["exchange,symbol,market,open_time_ms,open,high,low,close,volume"]
    for i in range(-3, DAYS * 3):
        t = START + i * H8
        if True:
            funding.append(f"binance,BTCUSDT,{t},0.0001,8")
            funding.append(f"binance,ETHUSDT,{t},{eth_rate(i)},8")
        for market in ("perp", "spot") if i < bars_until else ():
            bars.append(f"binance,BTCUSDT,{market},{t},20000,20000,20000,20000,100000")
            price = eth_price(i)
            high = eth_perp_high(i) if eth_perp_high and market == "perp" else price
            bars.append(f"binance,ETHUSDT,{market},{t},{price},{high},{price},{price},1000000")
    (fra.workdir / "f.csv").write_text("\n".join(funding) + "\n")
    (fra.workdir / "b.csv").write_text("\n".join(bars) + "\n")
    fra("history", "import", "f.csv")
    fra("history", "import", "b.csv")


def run(fra: Fra, *extra: str, code: int = 0, **env: str) -> dict:
    return fra.json(
        "backtest", "--from", "2023-01-01", "--to", "2023-01-21", *extra, code=code, **env
    )


@pytest.fixture
def flat(fra: Fra) -> Fra:
    # A one-hour half-life: the forecast is the last print to within 0.4 %, so each figure
    # can be worked out by hand from the prints.
    fra.set(
        FRA_BACKTEST__SPREAD_BPS="0",
        FRA_BACKTEST__SLIPPAGE_BPS="0",
        FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS="1",
    )
    return fra


# The exit bar with no spread: the exit rate 0.00005 less the exit cost (fees 0.0015) spread
# over 21 periods, -0.0000214 per 8h. A drop to -0.0001 is below it.
DROP = "-0.0001"


def test_opens_the_paying_pair_and_closes_when_funding_fades(flat: Fra) -> None:
    # ETH pays 0.001 per 8h for 10 days, then -0.0001 (below the exit bar).
    history(flat, lambda i: "0.001" if i < 30 else DROP, lambda i: 1000)
    report = run(flat)
    per = {f["symbol"]: f for f in report["per_symbol"]}
    assert set(per) == {"ETH/USDT:USDT"}, "BTC's 0.0001 is below the entry rate"
    eth = per["ETH/USDT:USDT"]
    assert eth["trades"] == 1
    # Opened just after the first settlement; paid at the next 29 (0.001) and at the 31st
    # (-0.0001), which is when the low rate became known and the position was closed.
    notional = 2000.0  # FRA_RISK__MAX_POSITION_USD (pinned by the test harness) binds
    funding = notional * (0.001 * 29 - 0.0001)
    assert eth["funding"] == pytest.approx(funding)
    fees = notional * (0.001 + 0.0005) * 2
    assert eth["fees"] == pytest.approx(fees)
    assert eth["pnl"] == pytest.approx(funding - fees)
    strategy = report["strategy"]
    assert strategy["end_equity"] == pytest.approx(10_000 + eth["pnl"])
    assert strategy["trades"] == 1 and 0.4 < strategy["time_in_market"] < 0.6
    # The baselines hold both symbols, or BTC alone, the whole time.
    assert set(report["baselines"]) == {"hold BTC", "hold all"}
    assert report["baselines"]["hold BTC"]["time_in_market"] > 0.95


def test_settings_apply_as_they_would_live(flat: Fra) -> None:
    history(flat, lambda i: "0.001" if i < 30 else DROP, lambda i: 1000)
    # An entry rate above what ETH pays: nothing is opened.
    report = run(flat, FRA_STRATEGY__MIN_FUNDING_RATE="0.002", FRA_STRATEGY__EXIT_FUNDING_RATE="0")
    assert report["strategy"]["trades"] == 0 and report["per_symbol"] == []
    # Max positions 0: nothing either; a smaller position limit: a smaller position.
    assert run(flat, FRA_RISK__MAX_POSITIONS="0")["strategy"]["trades"] == 0
    small = run(flat, FRA_RISK__MAX_POSITION_USD="500")["per_symbol"][0]
    assert small["funding"] == pytest.approx(500 * (0.001 * 29 - 0.0001))


def test_a_squeeze_liquidates_the_short_and_halts_like_live(flat: Fra) -> None:
    # ETH jumps 40 % in one bar on day 5: past a 3x short's bankruptcy price.
    history(flat, lambda i: "0.001", lambda i: 1000 if i < 15 else 1400)
    report = run(flat, FRA_BACKTEST__RESUME_AFTER_HOURS="10000")
    assert any("ETH/USDT:USDT: short liquidated" in e for e in report["events"])
    eth = report["per_symbol"][0]
    # Isolated margin: the short lost its margin (a third of the notional); the spot was sold
    # as live fra would, a cycle after the liquidation: at the liquidation price, where the
    # margin ratio reached 1 (maintenance margin 0.4 % of the notional: ETH's first bracket).
    assert eth["trades"] == 1
    margin = 2000 / 3
    liquidation = (1000 + 1000 / 3) / 1.004
    spot_gain = 2 * (liquidation - 1000)  # 2 ETH
    assert eth["pnl"] == pytest.approx(spot_gain - margin + eth["funding"] - eth["fees"])
    assert eth["fees"] == pytest.approx(2000 * 0.0015 + 2 * liquidation * 0.001)
    # Halted (no `fra resume` in the period): nothing opened again.
    assert report["strategy"]["trades"] == 1
    # The baseline's ETH short was liquidated too (no stops there), and entered again.
    assert (
        "hold all: 1 short liquidated between two settlements, entered again at the next"
        in (report["warnings"])
    )
    assert report["baselines"]["hold all"]["trades"] == 3  # BTC, ETH, ETH again


def test_baselines_keep_their_share_of_equity_as_prices_move(flat: Fra) -> None:
    # ETH doubles over the 20 days while paying 0.001 per 8h; BTC stays flat paying 0.0001.
    history(flat, lambda i: "0.001", lambda i: 1000 + 1000 * max(i, 0) // (DAYS * 3 - 1))
    hold_all = run(flat)["baselines"]["hold all"]
    # Hedged: the price move nets out, what is left is the funding less the fees.
    assert hold_all["end_equity"] == pytest.approx(
        10_000 + hold_all["funding"] - hold_all["fees"], abs=1e-6
    )
    # Each half of the capital carries notional / (1 + 1/3 leverage + fees); the ETH short is
    # traded back to that whenever it drifts 10 %, so its funding does not double with the
    # price as it would if the coins were held fixed.
    per_unit = 1 + 1 / 3 + 0.001 + 0.0005
    half = 10_000 / 2 / per_unit
    settlements = DAYS * 3
    expected = half * (0.001 + 0.0001) * settlements
    assert expected * 0.95 < hold_all["funding"] < expected * 1.1
    assert hold_all["fees"] > half * 2 * 0.0015, "resizing pays fees on the difference"


def test_sweep_replays_each_combination_as_a_single_run_would(flat: Fra) -> None:
    # ETH pays 0.001 for the first 10 days, then 0.00005: above the exit bar of an exit rate
    # of 0 (-0.0000714), below that of 0.0002 (0.000129).
    history(flat, lambda i: "0.001" if i < 30 else "0.00005", lambda i: 1000)
    sweep = run(flat, "--sweep", "--grid", "min_rate=0.0005,0.002", "--grid", "exit_rate=0,0.0002")
    assert sweep["grid"] == {"min_rate": ["0.0005", "0.002"], "exit_rate": ["0", "0.0002"]}
    rows = {(r["values"]["min_rate"], r["values"]["exit_rate"]): r["train"] for r in sweep["rows"]}
    assert len(rows) == 4
    # Each row is what `fra backtest` gives with those settings.
    for (min_rate, exit_rate), figures in rows.items():
        single = run(
            flat,
            FRA_STRATEGY__MIN_FUNDING_RATE=min_rate,
            FRA_STRATEGY__EXIT_FUNDING_RATE=exit_rate,
        )["strategy"]
        assert figures == single
    assert rows[("0.002", "0")]["trades"] == 0, "ETH never pays 0.002"
    held_longer = rows[("0.0005", "0")]
    closed_early = rows[("0.0005", "0.0002")]
    assert held_longer["funding"] > closed_early["funding"] > 0
    # The selection rule: the best training return among the rows whose training drawdown
    # is no worse than holding BTC's, those first and marked; the baselines do not depend on
    # the grid.
    bar = sweep["baselines"]["train"]["hold BTC"]["max_drawdown"]
    inside = [r["train"]["max_drawdown"] >= bar for r in sweep["rows"]]
    assert inside == sorted(inside, reverse=True)
    assert [r["within_drawdown"] for r in sweep["rows"]] == inside
    returns = [
        r["train"]["annual_return"] for r, ok in zip(sweep["rows"], inside, strict=True) if ok
    ]
    assert returns == sorted(returns, reverse=True)
    assert [r["chosen"] for r in sweep["rows"]] == [i == 0 and inside[0] for i in range(4)]
    assert sweep["baselines"]["train"]["hold all"] == run(flat)["baselines"]["hold all"]


def test_sweep_scores_settings_on_a_period_it_did_not_choose_them_on(flat: Fra) -> None:
    # ETH pays well in the first 10 days (train) and 0.0002 after (test).
    history(flat, lambda i: "0.001" if i < 30 else "0.0002", lambda i: 1000)
    train, test = "2023-01-01..2023-01-11", "2023-01-11..2023-01-21"
    sweep = flat.json(
        "backtest", "--sweep", "--grid", "min_rate=0.0001,0.0005", "--train", train, "--test", test
    )
    assert set(sweep["periods"]) == {"train", "test"}
    for row in sweep["rows"]:
        rate = row["values"]["min_rate"]
        for name, period in (("train", train), ("test", test)):
            since, until = period.split("..")
            single = flat.json(
                "backtest", "--from", since, "--to", until,
                FRA_STRATEGY__MIN_FUNDING_RATE=rate, FRA_STRATEGY__EXIT_FUNDING_RATE="0",
            )  # fmt: skip
            assert row[name] == single["strategy"], (rate, name)
    by_rate = {r["values"]["min_rate"]: r for r in sweep["rows"]}
    # 0.0002 clears an entry rate of 0.0001 but not 0.0005: only the first trades in the test.
    assert by_rate["0.0001"]["test"]["funding"] > 0
    assert by_rate["0.0005"]["test"]["trades"] == 0


def test_sweep_skips_combinations_the_settings_rules_refuse(flat: Fra) -> None:
    history(flat, lambda i: "0.001", lambda i: 1000)
    # An exit rate of 0.0004 is above an entry rate of 0.0002 but not of 0.0005.
    sweep = run(flat, "--sweep", "--grid", "min_rate=0.0002,0.0005", "--grid", "exit_rate=0.0004")
    assert [r["values"] for r in sweep["rows"]] == [{"min_rate": "0.0005", "exit_rate": "0.0004"}]
    assert len(sweep["skipped"]) == 1 and "exit_funding_rate" in sweep["skipped"][0]


def test_chart_is_one_self_contained_page_of_the_replay(flat: Fra) -> None:
    import xml.etree.ElementTree as ET

    history(flat, lambda i: "0.001" if i < 30 else "0.00001", lambda i: 1000)
    report = run(flat, "--chart", "out.html")
    page = (flat.workdir / "out.html").read_text()
    assert report["chart"] == "out.html" and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    root = ET.fromstring(page)
    text = "".join(root.itertext())
    # The strategy, both baselines and the held symbol; the figures table as printed.
    for name in ("strategy", "hold BTC", "hold all", "ETH/USDT:USDT"):
        assert name in text
    assert f"{report['strategy']['funding']:,.2f}" in text


def test_simulated_history_needs_no_file_and_follows_the_sim_settings(fra: Fra) -> None:
    def sim(*extra: str, **env: str) -> dict:
        return fra.json(
            "backtest", "--exchange", "sim", "--from", "2025-03-01", "--to", "2025-03-11",
            "--symbols", "BTCUSDT,SOL/USDT:USDT", *extra, **env,
        )  # fmt: skip

    calm = sim()
    assert calm["symbols"] == ["BTC/USDT:USDT", "SOL/USDT:USDT"]
    assert sim() == calm, "the simulated market is a pure function of seed and time"
    assert not (fra.workdir / "history.db").exists()
    # A forced funding level on SOL: the strategy holds it, as it would trade it live.
    shock = "SOL/USDT:USDT@2025-03-03T00:00:00Z:funding=0.003:hours=96"
    shocked = sim(FRA_SIM__SHOCKS=f'["{shock}"]')
    sol = {f["symbol"]: f for f in shocked["per_symbol"]}["SOL/USDT:USDT"]
    calm_sol = {f["symbol"]: f for f in calm["per_symbol"]}.get("SOL/USDT:USDT")
    # Held through most of the 96h: at least ten 8h settlements of 0.003 on 2000 USDT.
    assert sol["funding"] > 2000 * 0.003 * 10
    assert calm_sol is None or calm_sol["funding"] < sol["funding"] / 2
    assert shocked["baselines"]["hold all"]["funding"] > calm["baselines"]["hold all"]["funding"]
    result = fra(
        "backtest", "--exchange", "sim", "--from", "2025-03-01", "--to", "2025-03-11",
        "--symbols", "NOPE/USDT:USDT", code=ExitCode.BAD_INPUT,
    )  # fmt: skip
    assert "the simulated market has no perpetual NOPE/USDT:USDT" in result.stderr


def test_without_recent_prices_nothing_is_held_or_opened(flat: Fra) -> None:
    # Funding goes on for 20 days, the bars stop after 10: the price is unknown from there.
    history(flat, lambda i: "0.001", lambda i: 1000, bars_until=30)
    report = run(flat)
    eth = report["per_symbol"][0]
    assert eth["trades"] == 1, "nothing reopened without prices"
    # Held, and paid, until the price is stale: the last bar closes at settlement 30, so at
    # settlement 33 no bar has closed for more than two bar lengths and the position is closed.
    assert eth["funding"] == pytest.approx(2000 * 0.001 * 33)
    assert report["strategy"]["time_in_market"] < 0.6
    assert any("price bars end 2023-01-11 00:00" in w for w in report["warnings"])


def test_a_perp_only_wick_is_no_liquidation(flat: Fra) -> None:
    # ETH's perp trades at 1500 for an instant in one bar; spot, so the index and the mark
    # price the venue liquidates on, never leave 1000.
    history(flat, lambda i: "0.001", lambda i: 1000, lambda i: 1500 if i == 15 else 1000)
    report = run(flat, FRA_BACKTEST__RESUME_AFTER_HOURS="10000")
    assert not any("liquidated" in e for e in report["events"]), report["events"]
    assert report["per_symbol"][0]["trades"] == 1  # held to the end


SWEEP_BAD = [
    (["--from", "2023-01-01", "--to", "2023-01-21", "--train", "2023-01-01..2023-01-11"],
     "--grid, --train and --test go with --sweep"),
    (["--sweep", "--from", "2023-01-01", "--to", "2023-01-21", "--grid", "colour=red"],
     "not a setting a sweep can vary"),
    (["--sweep", "--from", "2023-01-01", "--to", "2023-01-21", "--grid", "max_positions=two"],
     "--grid max_positions=two"),
    (["--sweep", "--from", "2023-01-01", "--to", "2023-01-21", "--grid", "min_rate="],
     "has no values"),
    (["--sweep", "--test", "2023-01-11..2023-01-21"], "--test needs --train"),
    (["--sweep", "--train", "2023-01-01"], "is not a period"),
    (["--sweep", "--train", "2023-01-11..2023-01-01"], "ends before it starts"),
    (["--sweep", "--train", "2023-01-01..2023-01-11", "--test", "2024-01-01..2024-02-01"],
     "no binance funding history in the --test period"),
    (["--to", "2023-01-21"], "--from and --to are required"),
    (["--sweep", "--from", "2023-01-01", "--to", "2023-01-21", "--grid", "min_rate=0.0001",
      "--grid", "min_funding_rate=0.0003"], "--grid min_funding_rate is given twice"),
    (["--sweep", "--train", "2023-01-01..2023-01-15", "--test", "2023-01-10..2023-01-21"],
     "--test overlaps --train"),
    (["--from", "2023-01-01", "--to", "2023-01-21", "--chart", "nowhere/out.html"],
     "--chart: no directory"),
    (["--sweep", "--from", "2023-01-01", "--to", "2023-01-21", "--chart", "out.html"],
     "--chart draws one replay"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), SWEEP_BAD, ids=[b[1] for b in SWEEP_BAD])
def test_bad_sweep_input(flat: Fra, args: list[str], words: str) -> None:
    history(flat, lambda i: "0.001", lambda i: 1000)
    before = (flat.workdir / "history.db").read_bytes()
    result = flat("backtest", *args, code=ExitCode.BAD_INPUT)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and words in err, err
    assert (flat.workdir / "history.db").read_bytes() == before


BAD = [
    (["--from", "2023-02-01", "--to", "2023-01-01"], "not before --to"),
    (["--from", "yesterday", "--to", "2023-01-21"], "is not a date"),
    (["--from", "2023-01-01", "--to", "2023-01-21", "--symbols", "DOGEUSDT"],
     "no binance funding history for DOGE/USDT:USDT"),
    (["--from", "2019-01-01", "--to", "2019-02-01"], "between the given dates"),
    (["--from", "2023-01-01", "--to", "2023-01-21", "--exchange", "okx"],
     "no funding history for okx"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), BAD, ids=[b[1] for b in BAD])
def test_bad_backtest_input(flat: Fra, args: list[str], words: str) -> None:
    history(flat, lambda i: "0.001", lambda i: 1000)
    result = flat("backtest", *args, code=ExitCode.BAD_INPUT)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and words in err, err


def test_no_history_file_says_how_to_get_one(fra: Fra) -> None:
    result = fra("backtest", "--from", "2023-01-01", "--to", "2023-02-01", code=ExitCode.BAD_INPUT)
    assert "fra history import" in result.stderr
    assert not (fra.workdir / "history.db").exists()


@pytest.mark.skipif(not (DATA / "prices_8h.csv.gz").exists(), reason="shared/data absent")
def test_real_history_sol_is_out_during_its_2022_negative_funding(fra: Fra) -> None:
    fra("history", "import", str(DATA / "funding.csv.gz"))
    fra("history", "import", str(DATA / "prices_8h.csv.gz"))
    from fra.engine.backtest import backtest
    from fra.settings import load_settings

    settings = load_settings(
        db=fra.db,
        venue="simulated",
        history_db=fra.workdir / "history.db",
        strategy={"min_funding_rate": "0.0001", "exit_funding_rate": "0"},
    )
    report = backtest(settings, "binance", None, ms("2022-06-01"), ms("2023-03-01"))
    sol = "SOL/USDT:USDT"
    crash = [
        p
        for p in report.results["strategy"].points
        if ms("2022-11-09") <= p.time_ms <= ms("2022-11-19")
    ]
    assert crash and not any(sol in p.held for p in crash), "held SOL while it paid -2 %"
    assert report.strategy.trades > 0
    # What the replay read: SOL's switch to shorter intervals at the -2 % floor.
    from fra.engine.backtest import load
    from fra.store.history import HistoryStore

    store = HistoryStore.open(fra.workdir / "history.db")
    try:
        [series], _ = load(store, "binance", ["SOLUSDT"], ms("2022-11-08"), ms("2022-11-20"))
        [btc], _ = load(store, "binance", ["BTCUSDT"], ms("2020-01-01"), ms("2026-03-01"))
    finally:
        store.close()
    floor = [st for st in series.settlements if st.rate == Decimal("-0.02")]
    assert floor and {st.interval_hours for st in floor} & {2, 4}
    # A known fact of the data: BTCUSDT's median funding is exactly 0.0001 per 8h.
    assert {st.interval_hours for st in btc.settlements} == {8}
    assert statistics.median(st.rate for st in btc.settlements) == Decimal("0.0001")
