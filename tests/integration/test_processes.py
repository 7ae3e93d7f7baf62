"""Host processes: pid files, clean stops, and no orphans when the starter is killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.processes import ManagedProcess, stop_all

STARTER = """
import sys, time
from pathlib import Path
from scripts.processes import ManagedProcess
ManagedProcess("sleeper", Path(sys.argv[1])).start(["sleep", "300"], tie_to_parent=sys.argv[2] == "tied")
print("started", flush=True)
time.sleep(300)
"""


def _start_and_kill_starter(state: Path, mode: str) -> int:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(state), mode], stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None and starter.stdout.readline().strip() == "started"
    pid = int(json.loads((state / "sleeper.pid").read_text())["pid"])
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)
    return pid


def _exited(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_tied_process_dies_with_a_killed_starter(tmp_path: Path) -> None:
    pid = _start_and_kill_starter(tmp_path, "tied")
    assert _exited(pid)


def test_an_untied_process_outlives_its_starter_until_stopped(tmp_path: Path) -> None:
    pid = _start_and_kill_starter(tmp_path, "untied")
    assert not _exited(pid, within_s=0.5)
    assert ManagedProcess("sleeper", tmp_path).info() is not None
    assert stop_all(tmp_path) == ["sleeper"]
    assert _exited(pid)
    assert not (tmp_path / "sleeper.pid").exists()


def test_a_stale_pid_file_is_removed_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "ghost.pid").write_text(json.dumps({"pid": 2**22 - 7, "cmd": ["ghost"]}))
    assert ManagedProcess("ghost", tmp_path).info() is None
    assert not (tmp_path / "ghost.pid").exists()
