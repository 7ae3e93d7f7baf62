"""When promote stops waiting for an init container: after its second failure in a row, not before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
)

from scripts.promote.rollout import init_failures, stop_helm


def status(restarts: int, state: V1ContainerState, last: V1ContainerState | None = None) -> V1ContainerStatus:
    return V1ContainerStatus(
        name="pull-models", image="i", image_id="", ready=False, restart_count=restarts, state=state, last_state=last
    )


FAILED = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=1))
DONE = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=0))
BACK_OFF = V1ContainerState(waiting=V1ContainerStateWaiting(reason="CrashLoopBackOff"))
RUNNING = V1ContainerState(running=V1ContainerStateRunning())


def test_a_running_or_finished_init_container_has_not_failed() -> None:
    assert init_failures(status(0, RUNNING)) == 0
    assert init_failures(status(0, DONE)) == 0
    assert init_failures(status(1, DONE, FAILED)) == 0  # it failed once, then succeeded


def test_one_failure_then_a_retry_counts_once() -> None:
    assert init_failures(status(0, FAILED)) == 1  # exited, not restarted yet
    assert init_failures(status(0, BACK_OFF, FAILED)) == 1  # waiting out the first back-off
    assert init_failures(status(1, RUNNING, FAILED)) == 1  # the retry runs


def test_the_second_failure_in_a_row_counts_twice() -> None:
    assert init_failures(status(1, FAILED)) == 2
    assert init_failures(status(1, BACK_OFF, FAILED)) == 2
    assert init_failures(status(4, BACK_OFF, FAILED)) == 5


def test_stop_helm_signals_helm_itself_under_the_shell_pyhelm3_runs_it_in(tmp_path: Path) -> None:
    """pyhelm3 runs `/bin/sh -c "helm upgrade ..."`: the signal must reach Helm, which then rolls back and exits."""
    helm = tmp_path / "helm"
    helm.write_text(
        f"#!{sys.executable}\n"  # a direct shebang: the process's name (comm) is the file's, as Helm's is
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(42))  # Helm's own handler: cancel, roll back, exit\n"
        "print('waiting', flush=True)\n"
        "time.sleep(60)\n"
    )
    helm.chmod(0o755)
    other = subprocess.Popen(["/bin/sh", "-c", f"{helm} upgrade other --namespace ns; true"], stdout=subprocess.PIPE)
    shell = subprocess.Popen(["/bin/sh", "-c", f"{helm} upgrade rel --namespace ns; true"], stdout=subprocess.PIPE)
    try:
        for proc in (shell, other):
            assert proc.stdout is not None and proc.stdout.readline() == b"waiting\n"
        stopped = stop_helm("rel", "ns")
        assert len(stopped) == 1
        assert stopped[0] != shell.pid  # Helm itself, not the shell above it
        assert shell.wait(timeout=10) == 0  # the shell went on after Helm exited (`; true`)
        assert other.poll() is None  # another release's Helm is left alone
    finally:
        stop_helm("other", "ns")
        for proc in (shell, other):
            proc.kill()
            proc.wait()
