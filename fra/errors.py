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
    UNHEALTHY = 10  # `fra status --check`: no recent cycle, the last one failed, or halted
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


class Unhealthy(FraError):
    exit_code = ExitCode.UNHEALTHY


class Interrupted(FraError):
    exit_code = ExitCode.INTERRUPTED


def from_venue(exc: Exception, venue: str, nothing_done: bool | None = None) -> FraError:
    """A venue's failure (fra.venues.base.VenueError) as the error the user sees.
    `nothing_done`: the command had sent nothing (no order, no margin step) when it failed;
    None when that is not known."""
    done = "nothing was done; " if nothing_done else ""
    if getattr(exc, "kind", "") == "unreachable":
        # Most often no network at all: retrying for ever would not help, the simulated
        # market would.
        half_done = (
            "" if nothing_done else "the next `fra run-cycle` reconciles anything half-done; "
        )
        return VenueFailure(
            f"{venue} could not be reached: {exc}",
            f"{done}{half_done}check the network and FRA_VENUE_URL, or try fra offline with"
            " --venue simulated",
        )
    if getattr(exc, "kind", "") == "auth":
        return BadInput(
            f"{venue} rejected the API key ({exc})",
            "check FRA_API_KEY/FRA_API_SECRET, the key's IP whitelist and that it is enabled",
        )
    if getattr(exc, "kind", "") == "unsupported":
        return BadInput(str(exc), "choose an exchange with USDT perpetual swaps (FRA_VENUE)")
    if getattr(exc, "temporary", False):
        if nothing_done:
            return VenueFailure(
                f"{venue} did not answer after retries ({exc})",
                "nothing was done; temporary: the next `fra run-cycle` retries",
            )
        return VenueFailure(
            f"{venue} did not answer after retries ({exc})",
            "temporary: the next `fra run-cycle` retries and reconciles anything half-done",
        )
    return VenueFailure(f"{venue} refused a request ({exc})", "`fra doctor` checks the set-up")
