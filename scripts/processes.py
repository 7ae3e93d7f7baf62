"""Processes snap2prod starts on the host, tracked by pid files in a state dir so `down` can stop them all."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.errors import CliError
from scripts.toolchain import cache_dir, log_tail


class ProcessError(CliError):
    """A host process could not be started, or did not become healthy."""


def state_dir() -> Path:
    """Where pid files and logs of running processes live (``SNAP2PROD_STATE`` overrides it)."""
    path = Path(os.environ.get("SNAP2PROD_STATE", cache_dir() / "state"))
    (path / "logs").mkdir(parents=True, exist_ok=True)
    return path


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Something listens there and accepts a connection (an Ollama, a page, an API server already running)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def can_listen(port: int, address: str = "127.0.0.1") -> bool:
    """A server of ours could bind ``address:port`` now (a port held by anything, even a listener that does not
    accept, is not free). The one bind check: kind's host ports and the local registry use it too."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """True while any thread of the process lives: a Go program's main thread can be a zombie while the others
    still exit and hold its sockets, so the leader's state alone says too little. The one liveness rule of the
    processes snap2prod starts (the demo's, the sim cluster's)."""
    try:
        tasks = list((Path("/proc") / str(pid) / "task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if (task / "stat").read_text().split(") ", 1)[-1][:1] not in ("Z", "X"):
                return True
        except OSError:
            continue
    return False


def terminate(pids: list[int], timeout_s: float = 10.0) -> None:
    """SIGTERM the processes, SIGKILL what still lives after the timeout, and wait until they are gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if alive(p)]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:  # SIGKILL is not instant either
        time.sleep(0.05)


@dataclass(frozen=True)
class ManagedProcess:
    """One named process (its own process group, so its children stop with it)."""

    name: str
    state: Path

    @property
    def pid_file(self) -> Path:
        return self.state / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    def info(self) -> dict[str, object] | None:
        """The pid file's record when its process still runs; a stale pid file is removed."""
        try:
            record: dict[str, object] = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        pid = record.get("pid")
        if isinstance(pid, int) and alive(pid):
            return record
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(
        self, cmd: Sequence[str], *, env: Mapping[str, str] | None = None, tie_to_parent: bool = False, **extra: object
    ) -> int:
        """Start in its own process group; ``tie_to_parent`` makes the kernel stop it when the starter dies.

        Tests and benchmarks tie their servers, so a killed run (a CI timeout) leaves no orphan behind;
        `snap2prod up` does not, as its processes must outlive the command.
        """
        self.state.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(cmd),
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if tie_to_parent else None,
            )
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "cmd": list(cmd), "log": str(self.log_file), **extra}))
        return proc.pid

    def stop(self, timeout_s: float = 15.0) -> bool:
        """SIGTERM the process group, SIGKILL what is left after the timeout; True when something ran."""
        record = self.info()
        self.pid_file.unlink(missing_ok=True)
        if record is None:
            return False
        pid = int(str(record["pid"]))
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _group_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
        _reap(pid)
        return True

    def wait_http(self, url: str, timeout_s: float) -> None:
        """Wait until ``url`` answers 200; fail early, with the log's tail, when the process exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.info() is None:
                raise ProcessError(
                    f"{self.name} exited during start-up. Last lines of {self.log_file}:\n{log_tail(self.log_file)}"
                )
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ProcessError(f"{self.name} did not answer at {url} within {timeout_s:g} s; log: {self.log_file}")


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when the parent exits (prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def _living() -> Iterator[tuple[int, int, int]]:
    """Every process that is not a zombie, as (pid, parent pid, process group), read from /proc."""
    # iterdir, not glob("[0-9]*/stat"): glob stats each match, and a process that exits in between raised
    # ProcessLookupError out of Python 3.11's glob (a CI teardown failed on it).
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().split(") ", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            yield int(entry.name), int(fields[1]), int(fields[2])


def _group_members(pgid: int) -> list[int]:
    return [pid for pid, _, group in _living() if group == pgid]


def descendants(root: int) -> dict[int, list[str]]:
    """The living processes below ``root`` (children, grandchildren...) with their command lines."""
    parents = {pid: parent for pid, parent, _ in _living()}
    below: dict[int, list[str]] = {}
    for pid in parents:
        up = parents.get(pid)
        while up is not None and up != root and up in parents:
            up = parents.get(up)
        if up == root:
            with contextlib.suppress(OSError):
                below[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    return below


def _group_alive(pgid: int) -> bool:
    return bool(_group_members(pgid))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_all(state: Path) -> list[str]:
    """Stop every process with a pid file in ``state``; returns the names stopped."""
    return [p.stem for p in sorted(state.glob("*.pid")) if ManagedProcess(p.stem, state).stop()]
