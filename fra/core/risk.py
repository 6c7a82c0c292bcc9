"""Risk rules an open must pass, and margin levels. Pure: the engine supplies the facts."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import NamedTuple

# Refusals that no other pair could pass either: stop looking for candidates.
GLOBAL_RULES = frozenset(
    {"halted", "max_positions", "max_total_exposure_usd", "insufficient_balance"}
)


class RiskLimits(NamedTuple):
    max_positions: int
    max_position_usd: Decimal
    max_total_exposure_usd: Decimal
    leverage: int


class Refusal(NamedTuple):
    rule: str  # stable name, also the setting to change where there is one
    detail: str

    def __str__(self) -> str:
        return f"refused by {self.rule}: {self.detail}"


def capital_needed(
    notional: Decimal, leverage: int, spot_fee: Decimal, perp_fee: Decimal
) -> Decimal:
    """Quote needed to open: the spot leg outright, the perp leg's margin, both entry fees."""
    return notional * (1 + spot_fee) + notional / leverage + notional * perp_fee


def largest_notional(
    limits: RiskLimits, exposure: Decimal, free_quote: Decimal, per_unit: Decimal
) -> Decimal:
    """The largest position every limit allows (to the cent); `check_open` then names the rule
    that binds. `per_unit`: capital needed per unit of notional (`capital_needed(1, ...)`)."""
    room = min(
        limits.max_position_usd, limits.max_total_exposure_usd - exposure, free_quote / per_unit
    )
    return max(room, Decimal(0)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def check_open(
    *,
    limits: RiskLimits,
    notional: Decimal,
    open_positions: int,
    exposure: Decimal,
    free_quote: Decimal,
    needed: Decimal,
    halt_reason: str | None,
    already_held: bool,
) -> list[Refusal]:
    """Every rule the open breaks, most fundamental first (empty list = allowed)."""
    refusals: list[Refusal] = []
    if halt_reason is not None:
        refusals.append(Refusal("halted", f"trading is halted ({halt_reason}); run `fra resume`"))
    if already_held:
        refusals.append(Refusal("already_held", "a position on this pair is already open"))
    if open_positions >= limits.max_positions:
        refusals.append(
            Refusal(
                "max_positions",
                f"{open_positions} positions open, limit {limits.max_positions}"
                " (FRA_RISK__MAX_POSITIONS)",
            )
        )
    if notional > limits.max_position_usd:
        refusals.append(
            Refusal(
                "max_position_usd",
                f"{notional:.2f} USD exceeds the per-pair limit {limits.max_position_usd}"
                " (FRA_RISK__MAX_POSITION_USD)",
            )
        )
    if exposure + notional > limits.max_total_exposure_usd:
        refusals.append(
            Refusal(
                "max_total_exposure_usd",
                f"{exposure:.2f} USD open + {notional:.2f} would exceed"
                f" {limits.max_total_exposure_usd} (FRA_RISK__MAX_TOTAL_EXPOSURE_USD)",
            )
        )
    if needed > free_quote:
        refusals.append(
            Refusal(
                "insufficient_balance",
                f"needs {needed:.2f} USDT (spot + margin + fees), {free_quote:.2f} free",
            )
        )
    return refusals


class MarginLevel(StrEnum):
    OK = "ok"
    ALERT = "alert"
    CRITICAL = "critical"


def margin_level(ratio: Decimal, alert: Decimal, critical: Decimal) -> MarginLevel:
    if ratio >= critical:
        return MarginLevel.CRITICAL
    if ratio >= alert:
        return MarginLevel.ALERT
    return MarginLevel.OK


def worst(levels: list[MarginLevel]) -> MarginLevel:
    order = [MarginLevel.OK, MarginLevel.ALERT, MarginLevel.CRITICAL]
    return max(levels, key=order.index, default=MarginLevel.OK)
