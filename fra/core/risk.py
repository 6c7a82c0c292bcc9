"""Risk rules an open must pass, and margin levels. Pure: the engine supplies the facts."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import NamedTuple

from fra.core.text import plural

# Refusals that no other pair could pass either: stop looking for candidates.
GLOBAL_RULES = frozenset(
    {
        "halted",
        "max_positions",
        "max_total_exposure_usd",
        "max_total_fraction",
        "insufficient_balance",
    }
)
# Refusals for want of room: a better pair may still take the place of a held one (rotation).
ROOM_RULES = GLOBAL_RULES - {"halted"}


class RiskLimits(NamedTuple):
    max_positions: int
    max_position_usd: Decimal | None  # None: no USD cap, the fractions of equity bind
    max_total_exposure_usd: Decimal | None
    leverage: int
    # Capital (spot, margin and entry fees) one position, and all together, may take, as a
    # fraction of equity: sizes follow the account, so gains compound and a small account
    # behaves as a large one.
    max_position_fraction: Decimal = Decimal(1)
    max_total_fraction: Decimal = Decimal(1)


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
    limits: RiskLimits, exposure: Decimal, free_quote: Decimal, per_unit: Decimal, equity: Decimal
) -> Decimal:
    """The largest position every limit allows (to the cent); `check_open` then names the rule
    that binds. `per_unit`: capital needed per unit of notional (`capital_needed(1, ...)`);
    `exposure`: the notional already held; `equity`: the account's value."""
    rooms = [
        free_quote / per_unit,
        limits.max_position_fraction * equity / per_unit,
        limits.max_total_fraction * equity / per_unit - exposure,
    ]
    if limits.max_position_usd is not None:
        rooms.append(limits.max_position_usd)
    if limits.max_total_exposure_usd is not None:
        rooms.append(limits.max_total_exposure_usd - exposure)
    return max(min(rooms), Decimal(0)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


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
    equity: Decimal,
    per_unit: Decimal,
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
                f"{plural(open_positions, 'position')} open,"
                f" limit {limits.max_positions}"
                " (FRA_RISK__MAX_POSITIONS)",
            )
        )
    if limits.max_position_usd is not None and notional > limits.max_position_usd:
        refusals.append(
            Refusal(
                "max_position_usd",
                f"{notional:.2f} USD exceeds the per-pair limit {limits.max_position_usd}"
                " (FRA_RISK__MAX_POSITION_USD)",
            )
        )
    if (
        limits.max_total_exposure_usd is not None
        and exposure + notional > limits.max_total_exposure_usd
    ):
        refusals.append(
            Refusal(
                "max_total_exposure_usd",
                f"{exposure:.2f} USD open + {notional:.2f} would exceed"
                f" {limits.max_total_exposure_usd} (FRA_RISK__MAX_TOTAL_EXPOSURE_USD)",
            )
        )
    # A cent of slack: largest_notional rounds down to the cent, the products here do not.
    slack = Decimal("0.01")
    if notional * per_unit > limits.max_position_fraction * equity + slack:
        refusals.append(
            Refusal(
                "max_position_fraction",
                f"{notional * per_unit:.2f} USDT of capital exceeds"
                f" {limits.max_position_fraction} of equity {equity:.2f}"
                " (FRA_RISK__MAX_POSITION_FRACTION)",
            )
        )
    if (exposure + notional) * per_unit > limits.max_total_fraction * equity + slack:
        refusals.append(
            Refusal(
                "max_total_fraction",
                f"{(exposure + notional) * per_unit:.2f} USDT of capital in positions would exceed"
                f" {limits.max_total_fraction} of equity {equity:.2f}"
                " (FRA_RISK__MAX_TOTAL_FRACTION)",
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
