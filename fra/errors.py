"""Errors a user can act on, each with the exit code cron/systemd see (documented in README)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: please report it
    BAD_INPUT = 2  # bad option, argument, symbol, size or setting
    STATE = 3  # state.db unreadable, corrupt or from a newer fra
    REFUSED = 4  # a risk rule refused the open (or nothing passed them)
    VENUE = 5  # the exchange/venue failed (temporary or permanent)
    LOCKED = 6  # another fra cycle holds the lock
    MARGIN_ALERT = 7  # a perp leg's margin ratio crossed the alert threshold
    MARGIN_CRITICAL = 8  # critical margin ratio: emergency stop was triggered
    UNTRACKED = 9  # the exchange holds positions the books don't explain: a person must look
    INTERRUPTED = 130  # SIGINT/SIGTERM: the step in flight was finished or unwound first


class FraError(Exception):
    """An error shown to the user as one line, with a fix, and a distinct exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message


class BadInput(FraError):
    exit_code = ExitCode.BAD_INPUT


class StateError(FraError):
    exit_code = ExitCode.STATE


class Refused(FraError):
    exit_code = ExitCode.REFUSED


class VenueFailure(FraError):
    exit_code = ExitCode.VENUE


class LockHeld(FraError):
    exit_code = ExitCode.LOCKED


class Interrupted(FraError):
    exit_code = ExitCode.INTERRUPTED


def from_venue(exc: Exception, venue: str) -> FraError:
    """A venue's failure (fra.venues.base.VenueError) as the error the user sees."""
    if getattr(exc, "kind", "") == "auth":
        return BadInput(
            f"{venue} rejected the API key ({exc})",
            "check FRA_API_KEY/FRA_API_SECRET, the key's IP whitelist and that it is enabled",
        )
    if getattr(exc, "kind", "") == "unsupported":
        return BadInput(str(exc), "choose an exchange with USDT perpetual swaps (FRA_VENUE)")
    if getattr(exc, "temporary", False):
        return VenueFailure(
            f"{venue} did not answer after retries ({exc})",
            "temporary: the next `fra run-cycle` retries and reconciles anything half-done",
        )
    return VenueFailure(f"{venue} refused a request ({exc})", "`fra doctor` checks the set-up")
