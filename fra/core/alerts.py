"""What to notify, decided from conditions (pure: facts in, messages and new states out).

A condition (margin alert, a halt, a failing cycle, a stuck close, ...) is notified when it
starts, when its level changes and when it clears, and repeated at most every `repeat_ms` while
it lasts, never once per cycle. What state.db remembers of each is a `Tracked`. One-off happenings
(a position opened or closed, a liquidation, the daily summary) are events: sent once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.INFO: 0, Level.WARNING: 1, Level.CRITICAL: 2}


class Kind(StrEnum):
    START = "start"
    CHANGE = "change"  # the same condition at another level (margin alert -> critical)
    REPEAT = "repeat"
    CLEAR = "clear"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition observed now. `key` is `kind` or `kind:id` (`margin`, `closing:12`)."""

    key: str
    level: Level
    title: str
    text: str

    @property
    def kind(self) -> str:
        return key_kind(self.key)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A condition as state.db remembers it."""

    key: str
    level: Level
    title: str
    text: str
    since_ms: int
    notified_ms: int


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    kind: Kind
    level: Level
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Decision:
    messages: list[Message] = field(default_factory=list)
    upsert: list[Tracked] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def key_kind(key: str) -> str:
    return key.partition(":")[0]


def decide(
    observed: Iterable[Condition],
    tracked: Mapping[str, Tracked],
    checked: Iterable[str],
    now_ms: int,
    repeat_ms: int,
) -> Decision:
    """Messages for what started, changed, is due a reminder or cleared, and the new states.

    `checked` names the kinds of condition that were looked at: a remembered condition of
    another kind is left alone (a command that did not measure margin must not clear it)."""
    checked = frozenset(checked)
    out = Decision()
    seen: set[str] = set()
    for c in observed:
        seen.add(c.key)
        old = tracked.get(c.key)
        if old is None:
            out.messages.append(Message(c.key, Kind.START, c.level, c.title, c.text))
            out.upsert.append(Tracked(c.key, c.level, c.title, c.text, now_ms, now_ms))
        elif old.level is not c.level:
            body = f"{c.text} (was {old.level.value}: {old.title})"
            out.messages.append(Message(c.key, Kind.CHANGE, c.level, c.title, body))
            out.upsert.append(Tracked(c.key, c.level, c.title, c.text, old.since_ms, now_ms))
        elif repeat_ms > 0 and now_ms - old.notified_ms >= repeat_ms:
            body = f"{c.text} (since {duration(now_ms - old.since_ms)})"
            out.messages.append(Message(c.key, Kind.REPEAT, c.level, f"still: {c.title}", body))
            out.upsert.append(Tracked(c.key, c.level, c.title, c.text, old.since_ms, now_ms))
    for key, old in tracked.items():
        if key in seen or key_kind(key) not in checked:
            continue
        # Sent at the level it started with, so whoever heard of it hears it is over.
        body = f"over after {duration(now_ms - old.since_ms)}: {old.text}"
        out.messages.append(Message(key, Kind.CLEAR, old.level, f"cleared: {old.title}", body))
        out.cleared.append(key)
    return out


def duration(ms: int) -> str:
    minutes = max(0, ms) // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


# -- what goes where ---------------------------------------------------------------------------


def wanted(level: Level, minimum: Level) -> bool:
    return level.rank >= minimum.rank


def batch(messages: Sequence[Message], prefix: str) -> tuple[Level, str, str]:
    """One notification (level, title, body) for what one destination is due: a phone buzzes
    once per run, and a service that limits its rate is asked once."""
    level = max((m.level for m in messages), key=lambda lv: lv.rank)
    if len(messages) == 1:
        m = messages[0]
        return level, f"{prefix}: {m.title}", m.body
    title = f"{prefix}: {len(messages)} notifications"
    if level is not Level.INFO:
        title += f" ({level.value})"
    body = "\n\n".join(f"[{m.level.value}] {m.title}\n{m.body}" for m in messages)
    return level, title, body


# -- URLs and their secrets ------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SHOWN_HOST = re.compile(
    r"^([A-Za-z0-9-]+\.)+[A-Za-z]{2,}(:\d+)?$|^\d{1,3}(\.\d{1,3}){3}(:\d+)?$|^localhost(:\d+)?$"
)
MASK = "***"


def split_target(text: str) -> tuple[Level | None, str]:
    """A notification URL as configured: `[LEVEL=]URL` (apprise's text-config way of tagging),
    with LEVEL the least a message must be to go there."""
    head, sep, rest = text.partition("=")
    if sep and head.strip().lower() in Level.__members__.values() and "://" not in head:
        return Level(head.strip().lower()), rest.strip()
    return None, text.strip()


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a notification URL, or None (syntax only: apprise knows which
    services exist, and is loaded only when something is sent)."""
    if not url:
        return "is empty"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "has spaces or control characters"
    if not _SCHEME.match(url):
        return "is not a URL of the form service://..."
    return None


def mask_url(url: str) -> str:
    """`url` with everything that may be a secret replaced: tokens sit in the user, the
    password, the path, the query and, for some services (Telegram's bot token), the host."""
    level, url = split_target(url)
    prefix = f"{level.value}=" if level else ""
    match = _SCHEME.match(url)
    if not match:
        return prefix + MASK
    scheme = match.group(0)
    rest = url[len(scheme) :]
    netloc, slash, path = rest.partition("/")
    netloc, _, query = netloc.partition("?")
    path, qmark, _ = path.partition("?")
    _, at, host = netloc.rpartition("@")
    shown = scheme
    if at:
        shown += f"{MASK}@"
    shown += host if _SHOWN_HOST.match(host) else MASK
    if (slash and path) or query or qmark:
        shown += f"/{MASK}"
    return prefix + shown


def secret_parts(url: str) -> list[str]:
    """The pieces of `url` that `mask_url` hides, longest first (to scrub them from text a
    library wrote, such as an error naming the address it failed to reach)."""
    _, url = split_target(url)
    match = _SCHEME.match(url)
    rest = url[len(match.group(0)) :] if match else url
    pieces = re.split(r"[/@?&=:#]", rest)
    host = rest.split("/")[0].rpartition("@")[2]
    keep = set(host.split(":")) if _SHOWN_HOST.match(host) else set()
    found = {p for p in pieces if len(p) >= 4 and p not in keep}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, urls: Iterable[str]) -> str:
    for url in urls:
        for piece in secret_parts(url):
            text = text.replace(piece, MASK)
    return text


# -- texts -------------------------------------------------------------------------------------


def price(value: Decimal | None) -> str:
    """Four places, or three significant digits for a coin worth under a cent."""
    if value is None:
        return "-"
    places = max(4, 2 - value.adjusted()) if value else 4
    return f"{value:,.{places}f}"


def usd(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f} USDT"


def ratio(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


@dataclass(frozen=True, slots=True)
class DailyFigures:
    day: str  # YYYY-MM-DD, UTC
    funding_24h: Decimal
    closed_24h: int
    realized_24h: Decimal
    held: int
    exposure: Decimal
    unrealized: Decimal
    fees_held: Decimal
    worst_margin: Decimal | None
    halted: str | None


def daily_message(f: DailyFigures) -> Message:
    lines = [
        f"funding earned in 24 h: {usd(f.funding_24h)}",
        f"closed in 24 h: {f.closed_24h}, realized net {usd(f.realized_24h)}",
        f"open positions: {f.held}, exposure {usd(f.exposure)}, unrealized net"
        f" {usd(f.unrealized)} (fees so far {usd(f.fees_held)})",
        f"worst margin ratio: {ratio(f.worst_margin)}",
    ]
    if f.halted is not None:
        lines.append(f"HALTED: {f.halted}")
    return Message(
        f"daily:{f.day}", Kind.EVENT, Level.INFO, f"daily summary {f.day}", "\n".join(lines)
    )


# -- the dead man's switch ---------------------------------------------------------------------


def health(
    now_ms: int,
    last_finished_ms: int | None,
    last_exit_code: int | None,
    halted: str | None,
    max_age_ms: int,
) -> list[str]:
    """What is wrong, for `fra status --check`: an empty list when all is well."""
    problems = []
    if last_finished_ms is None:
        problems.append("no cycle has completed")
    elif now_ms - last_finished_ms > max_age_ms:
        problems.append(
            f"the last cycle finished {duration(now_ms - last_finished_ms)} ago"
            f" (more than {duration(max_age_ms)})"
        )
    # 130 is a stop asked for (fra loop shutting down), not a failure; age catches a dead loop.
    if last_exit_code not in (None, 0, 130):
        problems.append(f"the last cycle exited {last_exit_code}")
    if halted is not None:
        problems.append(f"trading is halted ({halted})")
    return problems
