"""Start the app's process: metrics first, so Prometheus can scrape before anyone opens the page, then Streamlit.

The container's CMD and `snap2prod up` run ``python -m app.serve [streamlit options]``; the page finds the same
process-wide telemetry when it starts.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from app.imaging import DEFAULT_MAX_BYTES
from app.metrics import start
from app.settings import Settings

PAGE = Path(__file__).with_name("streamlit_app.py")
UPLOAD_LIMIT_MB = math.ceil(DEFAULT_MAX_BYTES / 2**20)
"""Streamlit's own upload limit (whole MiB), the app's byte limit rounded up: Streamlit refuses what the page would
refuse anyway, before it travels (its default is 200 MB); the page says the exact limit for what lies between."""


def main(argv: list[str] | None = None) -> None:
    start(Settings())
    from streamlit.web import cli  # the launcher and the page are the two places that run streamlit

    given = sys.argv[1:] if argv is None else argv
    sys.argv = ["streamlit", "run", str(PAGE), f"--server.maxUploadSize={UPLOAD_LIMIT_MB}", *given]
    cli.main()  # exits the process with Streamlit's status


if __name__ == "__main__":
    main()
