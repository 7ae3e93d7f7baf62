"""Start the app's process: metrics first, so Prometheus can scrape before anyone opens the page, then Streamlit.

The container's CMD and `snap2prod up` run ``python -m app.serve [streamlit options]``; the page finds the same
process-wide telemetry when it starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.metrics import start
from app.settings import Settings

PAGE = Path(__file__).with_name("streamlit_app.py")


def main(argv: list[str] | None = None) -> None:
    start(Settings())
    from streamlit.web import cli  # the launcher and the page are the two places that run streamlit

    sys.argv = ["streamlit", "run", str(PAGE), *(sys.argv[1:] if argv is None else argv)]
    cli.main()  # exits the process with Streamlit's status


if __name__ == "__main__":
    main()
