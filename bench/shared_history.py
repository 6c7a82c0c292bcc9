"""The real history of ../shared/data imported into a throw-away history.db, for benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@contextmanager
def imported_history() -> Iterator[tuple[Path, dict[str, str]]]:
    """A temporary folder holding state.db and history.db (../shared/data imported), and the
    environment that points fra at them, free of the caller's own FRA_* variables."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
        env |= {"FRA_DB": f"{tmp}/state.db", "FRA_HISTORY_DB": f"{tmp}/history.db"}
        for name in ("funding.csv.gz", "prices_8h.csv.gz"):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "fra", "history", "import", str(DATA / name)],
                env=env,
                check=True,
                capture_output=True,
            )
            print(f"import {name}: {time.perf_counter() - start:.1f} s (once)")
        yield Path(tmp), env
