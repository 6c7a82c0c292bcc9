"""The README's tour, typed into one shell as a reader would, prints what the README says; and
the demo keeps its promise: positions open, collect funding and close."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.readme_examples import FAST, README, blocks, matches, mismatches, run


def test_the_readme_examples_print_what_it_says(tmp_path: Path) -> None:
    text = README.read_text()
    found = blocks(text)
    assert sum(len(b.commands) for b in found) >= 15, "the tour's blocks were not found"
    outputs = run(found, tmp_path, FAST)
    problems = mismatches(text, outputs)
    assert not problems, "\n\n".join(problems)

    demo = sqlite3.connect(tmp_path / "demo.db")
    states = [s for (s,) in demo.execute("SELECT state FROM positions")]
    paid = demo.execute("SELECT COUNT(*) FROM funding_payments WHERE CAST(amount AS REAL) > 0")
    assert len(states) >= 2 and "closed" in states and "open" in states, states
    assert paid.fetchone()[0] > 0


def test_a_changed_output_is_caught() -> None:
    """The comparison is not vacuous: a digit changed in an exact block, or a line a wall-clock
    block promises that never came, is a mismatch."""
    assert not matches(["closed 1 position"], ["closed 2 positions"], vary=False)
    assert matches(["cycle 1 at 00:00 UTC: ok"], ["cycle 7 at 05:00 UTC: ok"], vary=True)
    assert not matches(
        ["cycle 1: closed 1 position, opened 1 position"],
        ["cycle 1: closed 0 positions, opened 0 positions"],
        vary=True,
    )
