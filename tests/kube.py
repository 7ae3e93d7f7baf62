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
