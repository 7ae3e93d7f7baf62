"""When promote stops waiting for an init container: after its second failure in a row, not before."""

from __future__ import annotations

from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
)

from scripts.promote.rollout import _failures


def status(restarts: int, state: V1ContainerState, last: V1ContainerState | None = None) -> V1ContainerStatus:
    return V1ContainerStatus(
        name="pull-models", image="i", image_id="", ready=False, restart_count=restarts, state=state, last_state=last
    )


FAILED = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=1))
DONE = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=0))
BACK_OFF = V1ContainerState(waiting=V1ContainerStateWaiting(reason="CrashLoopBackOff"))
RUNNING = V1ContainerState(running=V1ContainerStateRunning())


def test_a_running_or_finished_init_container_has_not_failed() -> None:
    assert _failures(status(0, RUNNING)) == 0
    assert _failures(status(0, DONE)) == 0
    assert _failures(status(1, DONE, FAILED)) == 0  # it failed once, then succeeded


def test_one_failure_then_a_retry_counts_once() -> None:
    assert _failures(status(0, FAILED)) == 1  # exited, not restarted yet
    assert _failures(status(0, BACK_OFF, FAILED)) == 1  # waiting out the first back-off
    assert _failures(status(1, RUNNING, FAILED)) == 1  # the retry runs


def test_the_second_failure_in_a_row_counts_twice() -> None:
    assert _failures(status(1, FAILED)) == 2
    assert _failures(status(1, BACK_OFF, FAILED)) == 2
    assert _failures(status(4, BACK_OFF, FAILED)) == 5
