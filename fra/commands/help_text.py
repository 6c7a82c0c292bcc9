"""Examples and exit codes shown under each command's --help.

Kept apart from the commands so their modules hold only what they do; the root app attaches
these when it registers each command. Paragraphs (blank-line separated) print as lines.
"""

from __future__ import annotations

_COMMON = "2 bad input (nothing changed), 3 state file unreadable"

EXIT_CODES = {
    "scan": f"0 ok, {_COMMON}, 5 venue failed",
    "rank": f"0 ok, {_COMMON}, 5 venue failed (--refresh)",
    "open": f"0 opened, {_COMMON}, 4 refused by a risk rule, 5 venue failed, 6 locked",
    "close": f"0 closed, {_COMMON}, 5 venue failed or a close left a leg, 6 locked",
    "margin-check": f"0 ok, {_COMMON}, 5 venue failed, 7 alert, 8 critical (emergency stop ran)",
    "run-cycle": f"0 ok, {_COMMON}, 5 venue failed, 6 locked, 7 margin alert, 8 margin"
    " critical, 9 untracked positions on the exchange, 130 interrupted",
    "emergency-stop": f"0 halted and closed, {_COMMON}, 5 a close left a leg (halted anyway)",
    "resume": f"0 ok, {_COMMON}",
    "adopt": f"0 adopted, {_COMMON}, 4 the short is not covered by spot coins, 5 venue failed",
    "status": f"0 ok, {_COMMON}, 10 --check found no recent cycle, a failed one, or a halt",
    "positions": f"0 ok, {_COMMON}",
    "config": "0 ok, 2 a setting is malformed",
    "doctor": f"0 ok, {_COMMON}, 5 venue unreachable, 9 untracked positions on the exchange",
    "loop": f"0 --max-cycles reached, {_COMMON}, 130 stopped by Ctrl-C/SIGTERM",
    "install-timer": "0 ok, 2 bad input",
    "serve": f"0 stopped, {_COMMON}",
    "metrics": f"0 ok, {_COMMON}",
    "backtest": "0 ok, 2 bad input (period, symbols, settings) or no history for it",
    "history import": "0 ok, 2 bad file (its row and column named)",
    "history fetch": "0 ok, 2 bad input, 5 the exchange failed (resumable)",
    "history list": "0 ok, 2 bad input",
    "notify test": f"0 sent, {_COMMON} or no FRA_NOTIFY__URLS, 5 a service did not take it",
    "notify log": f"0 ok, {_COMMON}",
}

EXAMPLES = {
    "scan": ["fra scan", "fra --venue simulated scan"],
    "rank": ["fra rank --top 5", "fra rank --refresh --json"],
    "open": ["fra open ETH/USDT:USDT --size 1000", "fra open ethusdt", "fra open"],
    "close": ["fra close 3", "fra close ETHUSDT", "fra close --unprofitable", "fra close --all"],
    "margin-check": ["fra margin-check --json"],
    "run-cycle": ["fra run-cycle -v", "fra run-cycle --json"],
    "emergency-stop": ["fra emergency-stop --reason 'exchange incident'"],
    "resume": ["fra resume --json"],
    "adopt": ["fra adopt ETH/USDT:USDT"],
    "status": ["fra status", "fra status --check --max-age 15"],
    "positions": ["fra positions --state closed --since 2026-01-01"],
    "config": ["fra config", "fra config --json"],
    "doctor": ["fra doctor", "fra doctor --refresh-tiers"],
    "loop": ["fra loop --interval 300", "fra loop --interval 60 --max-cycles 10 --json"],
    "install-timer": ["fra install-timer --every 5", "fra install-timer --write"],
    "serve": ["fra serve --port 8787"],
    "metrics": ["fra metrics --output /var/lib/node_exporter/fra.prom"],
    "backtest": [
        "fra backtest --from 2024-01-01 --to 2025-01-01 --symbols BTCUSDT,ETHUSDT",
        "fra backtest --sweep --train 2021-01-01..2023-12-31 --test 2024-01-01..2025-12-31",
    ],
    "history import": ["fra history import funding.csv --symbol ETHUSDT --exchange binance"],
    "history fetch": ["fra history fetch --since 2024-01-01 --top 10"],
    "history list": ["fra history list --json"],
    "notify test": ["fra notify test"],
    "notify log": ["fra notify log --limit 20"],
}


def epilog(name: str) -> str | None:
    """The epilog of command `name` ("history import" for a group's command)."""
    if name not in EXIT_CODES:
        return None
    examples = "\n\n".join(f"  $ {example}" for example in EXAMPLES.get(name, []))
    return f"Examples:\n\n{examples}\n\nExit codes: {EXIT_CODES[name]}."


def one_paragraph(doc: str | None) -> str | None:
    """A docstring's first paragraph as one line: the command list must not keep the
    docstring's line breaks, which otherwise break its wrapping mid-sentence."""
    if not doc:
        return None
    return " ".join(doc.strip().split("\n\n")[0].split())
