"""The account's figures in the Prometheus text format: scraped from `fra serve`'s /metrics,
or written by `fra metrics --output` for node_exporter's textfile collector (how cron jobs
export metrics). One collector reads the state file, read-only, at every scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from fra.engine.overview import Overview, overview, read_only_app
from fra.settings import Settings

# Every outcome a cycle row can hold (fra.engine.cycle, fra.store.db.start_cycle), each exported
# as its own series so that an alert can say `fra_last_cycle_outcome{outcome="error"} == 1`.
OUTCOMES = ("running", "ok", "alert", "critical", "incomplete", "untracked", "interrupted")
OUTCOMES += ("error", "killed")


def figures(o: Overview) -> Iterator[Metric]:
    """The metrics of one overview."""
    info = InfoMetricFamily("fra", "The venue and mode of the state file")
    info.add_metric([], {"venue": o.venue, "mode": o.mode})
    yield info

    def gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
        if value is not None:
            yield GaugeMetricFamily(name, doc, value=float(value))

    yield from gauge(
        "fra_halted", "1 when trading is halted (emergency stop)", o.halt_reason is not None
    )
    yield from gauge("fra_positions_open", "Positions held (opening, open or closing)", len(o.held))
    yield from gauge("fra_positions_closed", "Positions that are final", o.closed)
    yield from gauge("fra_exposure_usdt", "Entry notional of the shorts still held", o.exposure)
    yield from gauge("fra_funding_usdt", "Funding received by every position so far", o.funding)
    yield from gauge("fra_fees_usdt", "Fees paid by every position so far", o.fees)
    yield from gauge("fra_realized_pnl_usdt", "Net P&L of the final positions", o.realized)
    yield from gauge(
        "fra_unrealized_pnl_usdt",
        "Net P&L of the held positions at the latest prices",
        o.unrealized,
    )
    yield from gauge("fra_paper_cash_usdt", "The paper account's free USDT", o.paper_cash)
    yield from gauge(
        "fra_margin_ratio_worst",
        "Highest margin ratio of a held short, as last measured (1 = liquidation)",
        o.worst_margin_ratio,
    )
    yield from gauge("fra_margin_alert_ratio", "FRA_RISK__MARGIN_ALERT", o.margin_alert)
    yield from gauge("fra_margin_critical_ratio", "FRA_RISK__MARGIN_CRITICAL", o.margin_critical)
    yield from gauge(
        "fra_snapshot_timestamp_seconds",
        "When the latest market snapshot was taken",
        o.snapshot.taken_ms / 1000 if o.snapshot else None,
    )

    per_position = {
        "fra_position_net_pnl_usdt": ("Net P&L of a held position", lambda h: h.pnl.net),
        "fra_position_funding_usdt": ("Funding a held position received", lambda h: h.pnl.funding),
        "fra_position_notional_usdt": (
            "Entry notional of a held short",
            lambda h: h.position.notional,
        ),
        "fra_position_margin_ratio": ("Margin ratio of a held short", lambda h: h.margin_ratio),
    }
    for name, (doc, value) in per_position.items():
        family = GaugeMetricFamily(name, doc, labels=["id", "symbol"])
        for h in o.held:
            if value(h) is not None:
                family.add_metric([str(h.position.id), h.position.perp_symbol], float(value(h)))
        yield family

    cycle = o.last_cycle
    if cycle is None:
        return
    yield from gauge("fra_last_cycle_id", "Number of the latest cycle", cycle.id)
    yield from gauge(
        "fra_last_cycle_start_timestamp_seconds",
        "When the latest cycle started",
        cycle.started_ms / 1000,
    )
    if cycle.finished_ms is not None:
        yield from gauge(
            "fra_last_cycle_timestamp_seconds",
            "When the latest cycle finished",
            cycle.finished_ms / 1000,
        )
        yield from gauge(
            "fra_last_cycle_duration_seconds",
            "How long the latest cycle took",
            (cycle.finished_ms - cycle.started_ms) / 1000,
        )
    yield from gauge("fra_last_cycle_exit_code", "Exit code of the latest cycle", cycle.exit_code)
    outcome = GaugeMetricFamily(
        "fra_last_cycle_outcome",
        "1 for the latest cycle's outcome, 0 for the others",
        labels=["outcome"],
    )
    for name in dict.fromkeys((*OUTCOMES, cycle.outcome)):
        outcome.add_metric([name], float(name == cycle.outcome))
    yield outcome


class StateFileCollector(Collector):
    """Reads the state file at every collection: a scrape always sees the latest cycle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        with read_only_app(self.settings) as app:
            found = list(figures(overview(app)))
        yield from found


def registry(settings: Settings) -> CollectorRegistry:
    """fra's metrics alone: the process metrics of a short-lived command would mean nothing."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StateFileCollector(settings))
    return reg


def exposition(settings: Settings) -> bytes:
    return generate_latest(registry(settings))


def write_textfile(settings: Settings, path: Path) -> None:
    """Write the metrics to `path` whole or not at all (a temporary file renamed over it), so
    node_exporter never reads half a file."""
    write_to_textfile(str(path), registry(settings))
