"""Refresh the README's docs/screenshot.png: `python -m tests.e2e.screenshot` runs the browser test that takes it.

The test suite itself writes its screenshot to a temp dir, so a test run leaves the checkout as it was.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.e2e.test_page_browser import SCREENSHOT, WRITE_SCREENSHOT


def main(argv: list[str] | None = None) -> int:
    os.environ[WRITE_SCREENSHOT] = "1"
    test = (
        "tests/e2e/test_page_browser.py::"
        "test_take_photo_streams_a_description_errors_are_clear_and_ollama_can_come_back"
    )
    code = int(pytest.main([test, "-q", "-p", "no:cacheprovider", *(sys.argv[1:] if argv is None else argv)]))
    if code == 0:
        print(f"wrote {SCREENSHOT}")
    return code


if __name__ == "__main__":
    sys.exit(main())
