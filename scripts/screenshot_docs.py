"""Build the docs site and screenshot its main pages in headless Chromium.

    python scripts/screenshot_docs.py [--out DIR] [--no-build] [--dark]

Writes one PNG per page (and per width: a desktop and a narrow window) to
``DIR`` (default ``site-screenshots/``), for checking the site by eye before
a change to the theme, the CSS or the reference pages is merged. Pages are
served from the built ``site/`` by a local HTTP server, so links, styles and
search work as deployed. Needs a Chromium (``apt-get install chromium``, or
any of the names in ``BROWSERS``); without one it says so and exits with
status 0, skipping.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGES = {
    "home": "",
    "getting-started": "getting-started/",
    "guide-testing": "testing/",
    "concept-loop": "concepts/loop/",
    "concept-caching": "concepts/caching/",
    "concept-providers": "concepts/providers/",
    "reference-agentkit": "reference/",
    "reference-emulator": "reference/testing-emulator/",
    "benchmarks": "benchmarks/",
}
SIZES = {"desktop": (1440, 1800), "narrow": (420, 1600)}


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def build() -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run([str(mkdocs), "build", "--strict", "--quiet"], cwd=ROOT, env=env, check=True)


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def shoot(browser: str, url: str, out: Path, size: tuple[int, int], dark: bool) -> None:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={out}",
        ]
        if dark:
            command.append("--force-dark-mode")
        command.append(url)
        subprocess.run(command, capture_output=True, timeout=120, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site-screenshots")
    parser.add_argument("--no-build", action="store_true", help="use the site/ already built")
    parser.add_argument("--dark", action="store_true", help="ask for the dark colour scheme")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print(
            "skipped: no Chromium found (tried " + ", ".join(BROWSERS) + "); "
            "install one, e.g. apt-get install -y chromium"
        )
        return 0
    if not args.no_build:
        build()
    args.out.mkdir(parents=True, exist_ok=True)
    server, base = serve(SITE)
    try:
        for name, path in PAGES.items():
            for label, size in SIZES.items():
                suffix = "-dark" if args.dark else ""
                target = args.out / f"{name}-{label}{suffix}.png"
                shoot(browser, base + path, target, size, args.dark)
                print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
