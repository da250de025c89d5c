"""A real browser for the web surface's tests and bench: Debian's chromium driven by Playwright, headless,
with nothing fetched from the network (no browser download, no component updates)."""
from __future__ import annotations

import re
import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
WEB_LINE = re.compile(r"^web: (http://\S+/\?token=(\S+))")


def launch(playwright):
    """The system chromium, headless; raises with the reason where it cannot start."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def web_address(lines) -> tuple[str, str]:
    """(page URL, token) from `serve --web`'s stdout lines."""
    for line in lines:
        if m := WEB_LINE.match(line):
            return m.group(1), m.group(2)
    raise AssertionError(f"no 'web:' line in {lines}")
