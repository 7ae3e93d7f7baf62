"""Small helpers the tests against the rehearsal cluster share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 90.0) -> Any:
    """Poll until ``check`` returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"{what} did not happen within {timeout_s:g} s")


def exists(read: Callable[..., Any], *args: str) -> bool:
    """Whether ``read(*args)`` finds the object (404 means no; any other API error is raised)."""
    try:
        read(*args)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def delete_namespace(core: Any, name: str, timeout_s: float = 120.0) -> None:
    """Delete a test's namespace and wait until its pods are gone, so the next test sees idle GPUs: the pods go at
    once (no grace period: nothing in them needs one), the namespace a few seconds later, unawaited."""
    if not exists(core.read_namespace, name):
        return
    core.delete_namespace(name)  # from here on no new pod is admitted in it
    core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
    wait_for(f"the pods of namespace {name} to go away", lambda: not core.list_namespaced_pod(name).items, timeout_s)
