"""A pinned tool and its folder in the cache: ``$SNAP2PROD_CACHE/tools/<name>-<version>[-<variant>]/``.

A folder counts only once it holds ``.complete``, written after the tool built and reported its version, so a
second run is instant and a failed build is retried.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scripts import paths
from scripts.toolchain.pins import DEBIAN_RELEASE
from scripts.toolchain.runner import Ticker, ToolchainError, note_build

cache_dir = paths.cache_dir


def tool_dir(name: str, version: str) -> Path:
    return cache_dir() / "tools" / f"{name}-{version}"


@dataclass(frozen=True)
class Tool:
    """One pinned tool: where its files go, how to build them and how to ask its version."""

    name: str
    version: str
    cold_minutes: float
    install: Callable[[Path, Path], None]
    """Builds into the directory given first; writes output to the log file given second."""
    probe: Callable[[Path], str]
    """Returns the version the installed tool reports."""
    variant: str = ""
    """How it was built (CPU baseline and a hash of flags and sources), when that is not fixed by the version."""

    @property
    def home(self) -> Path:
        return tool_dir(self.name, f"{self.version}-{self.variant}" if self.variant else self.version)

    @property
    def done_marker(self) -> Path:
        return self.home / ".complete"

    def installed(self) -> bool:
        return self.done_marker.exists()

    def ensure(self) -> Path:
        """Install the tool if its cache entry is not complete; return its directory.

        A lock file serializes concurrent installers (two terminals, or tests beside `make toolchain`).
        """
        if self.installed():
            return self.home
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home.parent / f".{self.home.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.installed():
                return self.home
            return _install(self)


def expected_version(tool: Tool) -> str:
    """The version the tool must report; empty for Debian's packages, whose version apt decides."""
    return tool.version if tool.version != DEBIAN_RELEASE else ""


def _install(tool: Tool) -> Path:
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{tool.name}-{tool.version}.log"
    log.write_text("")
    with Ticker(f"{tool.name} {tool.version}", tool.cold_minutes) as ticker:
        tool.install(tool.home, log)
        reported = tool.probe(tool.home)
    want = expected_version(tool)
    if want and reported != want:
        raise ToolchainError(f"{tool.name} reports version {reported!r}, expected {want!r}; see {log}")
    tool.done_marker.write_text(f"{reported}\n")
    seconds = time.monotonic() - ticker.start
    note_build(tool.name, seconds)
    print(f"  {tool.name} {reported} ready in {seconds:.0f}s -> {tool.home}", flush=True)
    return tool.home
