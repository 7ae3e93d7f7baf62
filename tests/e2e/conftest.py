"""Real Chromium (Debian's package) driven by Playwright, with a fake camera fed from a file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from scripts import toolchain

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """One Playwright per module: its sync API runs an event loop that must be gone before other tests
    (pyhelm3 calls asyncio.run), and two sync instances cannot be nested."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=str(toolchain.binary("chromium")), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()
