"""Ollama's API gate (the chart's nginx in front of Ollama, stacks/chart/files/api-gate.conf) run on this machine.

The cluster runs the file as it is, in the gate container beside Ollama (nginx on the pod's port 11434, Ollama on
loopback 11435). Tests and the benchmark run the very same file with Debian's nginx in front of a host Ollama: only
the two addresses and the paths nginx writes to are moved, so what is allowed and refused is the chart's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from scripts import toolchain
from scripts.paths import CHART_FILES
from scripts.processes import ManagedProcess, free_port

CONFIG = CHART_FILES / "api-gate.conf"
POD_UPSTREAM = "server 127.0.0.1:11435;"
POD_LISTEN = "listen 11434;"


def host_config(ollama: str, listen_port: int, state: Path) -> str:
    """The chart's configuration pointed at ``ollama`` (an http://host:port URL), listening on loopback at
    ``listen_port``, with its pid and temporary files under ``state``."""
    text = CONFIG.read_text()
    parts = urlsplit(ollama)
    for pod, host in (
        (POD_UPSTREAM, f"server {parts.hostname}:{parts.port};"),
        (POD_LISTEN, f"listen 127.0.0.1:{listen_port};"),
        ("/tmp/", f"{state}/"),
    ):
        if pod not in text:
            raise ValueError(f"{CONFIG} no longer has {pod!r}: update scripts/api_gate.py")
        text = text.replace(pod, host)
    return text


def start(ollama: str, state: Path) -> tuple[ManagedProcess, str]:
    """Start the gate in front of ``ollama``; returns the process and the gate's URL once it answers."""
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = state / "api-gate.conf"
    conf.write_text(host_config(ollama, port, state))
    process = ManagedProcess("api-gate", state)
    nginx = str(toolchain.binary("nginx"))
    # started as root, nginx runs its workers as `nobody`, who cannot enter a test's private temporary folder
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    process.start([nginx, "-e", "stderr", "-p", str(state), "-c", str(conf), "-g", directives], tie_to_parent=True)
    url = f"http://127.0.0.1:{port}"
    process.wait_http(f"{url}/api/version", 20)
    return process, url
