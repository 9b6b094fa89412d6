"""Debian's Chromium, headless, as the browser checks launch it (no network of its own)."""

EXECUTABLE = "/usr/bin/chromium"

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    """A headless Chromium browser of Playwright's `playwright` handle."""
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
