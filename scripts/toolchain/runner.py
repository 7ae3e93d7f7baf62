"""The one command runner: run a step, log it, raise with the log's tail; plus the helpers every build shares.

``run`` is what the toolchain's builds use and what scripts/kind and scripts/sim use for their own logged steps
(``error=`` gives each caller its own error class). Standard library only, like the rest of the package.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from scripts import paths
from scripts.errors import CliError

TAIL_LINES = 15
"""How many of a failed step's last output lines its error shows."""


class ToolchainError(CliError):
    """A tool could not be installed; the message says which step failed and where its log is."""


def run(
    cmd: list[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    watch: Callable[[], str | None] | None = None,
    what: str | None = None,
    error: type[CliError] = ToolchainError,
) -> str:
    """Run one step, appending the command and its output (stdout and stderr) to the log; return that output.

    ``env`` is added to this process's environment; stdin is ``input`` or nothing. A non-zero exit raises
    ``error`` with ``what`` (else "step failed: " and the command's first words), the exit code, the output's last
    lines and the log's path. ``watch``, asked four times a second while the step runs, may return a reason to
    stop it: the step is terminated and the reason raised. ``timeout`` (not with ``watch``) kills the step and
    raises ``subprocess.TimeoutExpired``, as ``subprocess.run`` does.
    """
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        start = out.tell()
        full_env = {**os.environ, **(env or {})}
        if watch is None:
            stdin = subprocess.DEVNULL if input is None else None
            proc = subprocess.run(
                cmd,
                cwd=cwd,
                env=full_env,
                input=input,
                stdin=stdin,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
            code = proc.returncode
        else:
            code = _watched(cmd, cwd, full_env, out, watch, error)
    with log.open("rb") as written:
        written.seek(start)
        output = written.read().decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        raise error(f"{what or 'step failed: ' + ' '.join(cmd[:4])} (exit {code})\n{tail}\nfull log: {log}")
    return output


def _watched(
    cmd: list[str],
    cwd: Path | None,
    env: dict[str, str],
    out: IO[str],
    watch: Callable[[], str | None],
    error: type[CliError],
) -> int:
    """Wait for the step, asking ``watch`` four times a second whether it is hopeless; its exit code."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    while proc.poll() is None:
        reason = watch()
        if reason:
            proc.terminate()
            proc.wait(timeout=10)
            raise error(reason)
        time.sleep(0.25)
    return proc.returncode


STAGES_ENV = "SNAP2PROD_STAGES"
"""Set by `make test`: a file of the run's stage times; a cold build adds a ``build NAME SECONDS`` line to it, so
the suite's summary (bench/suite.py) says what this run built and how long each took."""


def note_build(name: str, seconds: float) -> None:
    """Record a cold build's time for `make test`'s summary (nothing happens outside `make test`)."""
    stages = os.environ.get(STAGES_ENV)
    if stages:
        with Path(stages).open("a") as out:
            out.write(f"build {name} {round(seconds)}\n")


def log_tail(log: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log file (what an error shows of a process that ran in the background)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def capture(cmd: list[str], env: dict[str, str] | None = None) -> str:
    """A short command's stdout and stderr (a version probe); never raises for its exit code."""
    full = {**os.environ, **env} if env else None
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60, env=full)
    return proc.stdout + proc.stderr


def first_match(pattern: str, text: str) -> str:
    """The first group of the pattern's first match, else what was not understood."""
    match = re.search(pattern, text)
    return match.group(1) if match else f"unparsed: {text.strip()[:80]}"


class Ticker:
    """Prints elapsed time while a long build runs, so nobody wonders whether it hung. On a terminal one build
    redraws its line; builds side by side (the toolchain installs two at a time) print lines, as in a log."""

    _running = 0
    _count_lock = threading.Lock()

    def __init__(self, label: str, cold_minutes: float) -> None:
        self.label = label
        self.cold_minutes = cold_minutes
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Ticker:
        with Ticker._count_lock:
            Ticker._running += 1
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with Ticker._count_lock:
            Ticker._running -= 1
        if sys.stdout.isatty():
            sys.stdout.write("\r\033[K")

    def _loop(self) -> None:
        interval = 1.0 if sys.stdout.isatty() else 30.0
        while not self._stop.wait(interval):
            elapsed = time.monotonic() - self.start
            if sys.stdout.isatty() and Ticker._running > 1 and round(elapsed) % 30:
                continue  # side by side on a terminal: a line every 30 s
            frac = min(elapsed / (self.cold_minutes * 60), 0.99)
            bar = "#" * int(frac * 30)
            line = f"  {self.label}: [{bar:<30}] {elapsed:5.0f}s (cold build ~{self.cold_minutes:g} min)"
            if sys.stdout.isatty() and Ticker._running == 1:
                sys.stdout.write("\r" + line)
            else:
                sys.stdout.write(("\r\033[K" if sys.stdout.isatty() else "") + line + "\n")
            sys.stdout.flush()


def go_base() -> dict[str, str]:
    """Go's module and build caches live inside our cache, so an empty cache really is a cold machine."""
    go = paths.cache_dir() / "go"
    return {
        "GOMODCACHE": str(go / "mod"),
        "GOCACHE": str(go / "build"),
        "GOFLAGS": "-mod=mod -modcacherw -buildvcs=false",
        "GOTOOLCHAIN": "local",
    }


def go_env(home: Path) -> dict[str, str]:
    """``go_base`` with `go install` writing into the tool's own bin folder."""
    return {**go_base(), "GOBIN": str(home / "bin")}


def go_install(home: Path, log: Path, ldflags: str, *pkgs: str, trimpath: bool = False) -> None:
    """`go install` static commands (cgo off) into the tool's bin folder."""
    flags = ["-trimpath"] if trimpath else []
    run(["go", "install", *flags, "-ldflags", ldflags, *pkgs], log, env={**go_env(home), "CGO_ENABLED": "0"})


def module_dir(module: str, home: Path, log: Path) -> Path:
    """Where a Go module's source is in the module cache (downloaded first when needed)."""
    out = run(["go", "mod", "download", "-json", module], log, env=go_env(home))
    return Path(first_match(r'"Dir":\s*"([^"]+)"', out))
