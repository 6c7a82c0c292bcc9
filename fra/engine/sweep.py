"""`fra backtest --sweep`: the replay over a grid of settings, one row per combination, scored
on a training period and, when one is given, on a test period it never saw."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

from pydantic import ValidationError

from fra.core.backtest import run, timeline
from fra.core.performance import Figures, figures
from fra.engine.backtest import load_history, params, replay_baselines
from fra.errors import BadInput
from fra.settings import RiskSettings, Settings, StrategySettings

# Short names for the settings a sweep is usually about; any other numeric strategy or risk
# setting can be swept by its own name (leverage, max_position_usd, margin_critical, ...).
ALIASES = {
    "min_rate": "min_funding_rate",
    "exit_rate": "exit_funding_rate",
    "holding_periods": "min_holding_periods",
}
# Swept when no --grid is given, each with the current setting added.
DEFAULT_GRID = {
    "min_rate": ("0.0001", "0.0005"),
    "exit_rate": ("0",),
    "holding_periods": ("9",),
    "max_positions": ("1",),
}
_SECTIONS = {
    **{name: "strategy" for name in StrategySettings.model_fields if name != "symbols"},
    **{name: "risk" for name in RiskSettings.model_fields},
}


class Combination(NamedTuple):
    values: dict[str, str]  # grid key -> value
    scores: dict[str, Figures]  # period name ("train", "test") -> the strategy's figures


class Sweep(NamedTuple):
    keys: list[str]
    periods: dict[str, tuple[int, int]]
    rows: list[Combination]  # best Sharpe on the training period first
    baselines: dict[str, dict[str, Figures]]  # period -> baseline -> figures
    skipped: list[str]  # combinations the settings rules refuse
    warnings: list[str]


def _field(key: str) -> tuple[str, str]:
    name = ALIASES.get(key, key)
    section = _SECTIONS.get(name)
    if section is None:
        raise BadInput(
            f"--grid {key}: not a setting a sweep can vary",
            f"use {', '.join(ALIASES)}, or a strategy/risk setting such as leverage",
        )
    return section, name


def with_values(settings: Settings, values: dict[str, str]) -> Settings:
    """The settings with the grid's values, checked by the same rules as FRA_* variables
    (ValidationError if they break one, e.g. an exit rate above the entry rate)."""
    parts = {"strategy": settings.strategy.model_dump(), "risk": settings.risk.model_dump()}
    for key, value in values.items():
        section, name = _field(key)
        parts[section][name] = value
    return settings.model_copy(
        update={
            "strategy": StrategySettings.model_validate(parts["strategy"]),
            "risk": RiskSettings.model_validate(parts["risk"]),
        }
    )


def parse_grid(texts: list[str], settings: Settings) -> dict[str, list[str]]:
    """`--grid KEY=V1,V2` options, each value checked on its own; none: DEFAULT_GRID plus the
    current settings."""
    if not texts:
        grid = {}
        for key, values in DEFAULT_GRID.items():
            section, name = _field(key)
            current = str(getattr(getattr(settings, section), name))
            grid[key] = sorted({current, *values}, key=float)
        return grid
    grid: dict[str, list[str]] = {}
    for text in texts:
        key, _, values = text.partition("=")
        key = key.strip()
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if not key or not chosen:
            raise BadInput(
                f"--grid {text!r} has no values",
                "write --grid KEY=V1,V2 (e.g. min_rate=0.0001,0.0003)",
            )
        if _field(key) in {_field(k) for k in grid}:  # also min_rate and min_funding_rate
            raise BadInput(
                f"--grid {key} is given twice", "give each setting once, values comma-separated"
            )
        for value in chosen:
            try:
                with_values(settings, {key: value})
            except ValidationError as exc:
                # A rule between settings (exit below entry) may hold with the grid's other
                # values: that combination is skipped later. A bad value on its own is an error.
                err = exc.errors()[0]
                if err["loc"]:
                    reason = err["msg"].removeprefix("Value error, ")
                    raise BadInput(
                        f"--grid {key}={value}: {reason}", "give a valid value"
                    ) from None
        grid[key] = chosen
    return grid


def sweep(
    settings: Settings,
    exchange: str,
    symbols: list[str] | None,
    grid: dict[str, list[str]],
    periods: dict[str, tuple[int, int]],
    progress: Callable[[int, int], None] | None = None,
) -> Sweep:
    """Every combination of the grid replayed on each period; the history is loaded once."""
    series, warnings = load_history(
        settings,
        exchange,
        symbols,
        min(a for a, _ in periods.values()),
        max(b for _, b in periods.values()),
    )
    for name, (a, b) in periods.items():
        if not any(
            s.settlements[0].time_ms <= b and s.settlements[-1].time_ms >= a for s in series
        ):
            raise BadInput(
                f"no {exchange} funding history in the --{name} period",
                "choose dates inside the data (`fra history list`)",
            )
    base = params(settings)
    cycles = {name: timeline(series, a, b) for name, (a, b) in periods.items()}
    baselines = {
        name: {
            k: figures(r, base.capital)
            for k, r in replay_baselines(series, base, a, b, warnings, cycles[name]).items()
        }
        for name, (a, b) in periods.items()
    }
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    rows, skipped = [], []
    for done, values in enumerate(combos):
        try:
            p = params(with_values(settings, values))
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            skipped.append(f"{_label(values)}: {reason}")
            continue
        scores = {
            name: figures(run(series, p, a, b, cycles[name]), p.capital)
            for name, (a, b) in periods.items()
        }
        rows.append(Combination(values, scores))
        if progress is not None:
            progress(done + 1, len(combos))
    first = next(iter(periods))
    rows.sort(key=lambda c: _rank_key(c.scores[first]))
    return Sweep(keys, periods, rows, baselines, skipped, warnings)


def _rank_key(f: Figures) -> tuple[bool, float, float]:
    return (f.sharpe is None, -(f.sharpe or 0.0), -f.annual_return)


def _label(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())
