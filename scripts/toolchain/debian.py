"""What Debian ships: build packages installed on demand, and tools taken as Debian packages them (chromium for
the page's browser tests, prometheus for the alert rules, nginx for Ollama's API gate)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

from scripts.toolchain.cache import Tool
from scripts.toolchain.pins import DEBIAN_RELEASE
from scripts.toolchain.runner import ToolchainError, capture, first_match, run

_APT = threading.Lock()
"""apt holds dpkg's lock while it runs: two tools installing packages at once take turns here."""


def ensure_packages(packages: tuple[str, ...], log: Path) -> None:
    """apt-get install the packages that are missing (as root, or through `sudo -n`)."""
    with _APT:
        missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
        if not missing:
            return
        prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
        if prefix and shutil.which("sudo") is None:
            raise ToolchainError(
                f"Debian packages missing: {' '.join(missing)}; install them as root (apt-get install)"
            )
        run([*prefix, "apt-get", "update", "-qq"], log)
        run([*prefix, "apt-get", "install", "-y", "-qq", *missing], log, env={"DEBIAN_FRONTEND": "noninteractive"})


def link_binaries(home: Path, *binaries: str) -> None:
    """``home/bin/<binary>`` links to the system's binary, so every tool is found in its own folder."""
    (home / "bin").mkdir(exist_ok=True)
    for binary in binaries:
        target = home / "bin" / binary
        target.unlink(missing_ok=True)
        target.symlink_to(shutil.which(binary) or f"/usr/bin/{binary}")


def debian_tool(package: str, binary: str, version_flag: str = "--version") -> Tool:
    """A tool Debian ships; pinned to the Debian 12 package, so its version is whatever apt installed."""

    def install(home: Path, log: Path) -> None:
        ensure_packages((package,), log)
        link_binaries(home, binary)

    def probe(home: Path) -> str:
        return first_match(r"(\d+\.\d+(?:\.\d+){0,2})", capture([str(home / "bin" / binary), version_flag]))

    return Tool(package, DEBIAN_RELEASE, 1, install, probe)


CHROMIUM = debian_tool("chromium", "chromium")
PROMETHEUS = debian_tool("prometheus", "prometheus")
NGINX = debian_tool("nginx", "nginx", "-v")
"""Ollama's API gate on this machine (its tests and the proxy benchmark); in the cluster the gate image's own."""
