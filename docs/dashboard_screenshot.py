"""Take docs/dashboard.png: a simulated account run for five days of 8-hourly cycles (the
README's pinned clock and ETH funding spike), served by `fra serve` with a token (so the stop
button shows), photographed by headless Chromium through Playwright.

    python docs/dashboard_screenshot.py [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 3, 1, tzinfo=UTC)
TOKEN = "screenshot-token-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "dashboard.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium on PATH: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
        env.update(
            FRA_DB=str(Path(tmp) / "state.db"),
            FRA_VENUE="simulated",
            FRA_SIM__SHOCKS='["ETH/USDT:USDT@2026-03-01T00:00:00Z:funding=0.0008:hours=48"]',
            FRA_SERVE__TOKEN=TOKEN,
        )

        def fra(*argv: str, at: datetime) -> None:
            when = {"FRA_SIM__NOW": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            subprocess.run(
                [sys.executable, "-m", "fra", *argv],
                env={**env, **when},
                cwd=tmp,
                check=True,
                capture_output=True,
            )

        for i in range(16):
            fra("run-cycle", at=START + timedelta(hours=8 * i, minutes=5))
        now = START + timedelta(hours=8 * 15, minutes=5)
        server = subprocess.Popen(
            [sys.executable, "-m", "fra", "serve", "--port", "0"],
            env={**env, "FRA_SIM__NOW": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
            cwd=tmp,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            found = re.search(r"http://\S+/", server.stdout.readline() if server.stdout else "")
            if found is None:
                sys.exit("fra serve announced no address")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium)
                page = browser.new_page(
                    viewport={"width": 1200, "height": 900},
                    extra_http_headers={"Authorization": f"Bearer {TOKEN}"},
                )
                page.goto(found.group(0))
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
