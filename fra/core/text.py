"""Free text from outside (a typed reason, a name in an imported file) made safe to store and
to show: one line, no characters that steer a terminal or reorder what it shows."""

from __future__ import annotations

import re
import unicodedata

# Cc: controls (NUL, newline, ESC of terminal escape sequences); Cf: format characters (bidi
# overrides that make text read differently than it is stored, zero-width characters); Cs: lone
# surrogates (undecodable bytes of argv), which SQLite refuses to store; Zl/Zp: line breaks.
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SPACES = re.compile(r"\s+")
# A reason kept with a record (the halt): enough for a sentence, not a pasted log.
REASON_MAX = 200


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE


def first_unsafe(text: str) -> str | None:
    """The first control or format character in `text`, or None."""
    return next((c for c in text if is_unsafe(c)), None)


def one_line(text: str, limit: int) -> str:
    """`text` with control and format characters as spaces, whitespace runs as one space, and
    at most `limit` characters (the last one an ellipsis when it was cut)."""
    clean = _SPACES.sub(" ", "".join(" " if is_unsafe(c) else c for c in text)).strip()
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"


def escaped(text: str) -> str:
    """`text` with each control or format character written as its escape (\\x1b, \\u202e),
    so that a message quoting input stays one visible line."""
    return "".join(c.encode("unicode_escape").decode("ascii") if is_unsafe(c) else c for c in text)


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n` and the noun in the number it takes: "1 position", "2 positions", "0 positions"."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"
