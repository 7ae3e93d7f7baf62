"""The sim cluster through its API: is the control plane serving, and do the nodes match the spec."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.gpu_shape import SimError, SimSpec
from scripts.kube import KubeClient
from scripts.sim.nodes import DEFAULT_STORAGE_CLASS, SIM_LABEL, SPEC_ANNOTATION, node_manifests


def wait_until(
    what: str, check: Callable[[], bool], timeout_s: float, logs: Path, failed: Callable[[], str | None]
) -> None:
    """Poll ``check`` until it holds; errors count as "not yet" (the API server refuses while it starts), but
    ``failed`` saying why it never will (a component exited) ends the wait at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        problem = failed()
        if problem:
            raise SimError(problem)
        with contextlib.suppress(Exception):  # refused connections and 404s mean "not yet"
            if check():
                return
        time.sleep(0.25)
    raise SimError(f"{what} did not become ready within {timeout_s:g} s; component logs: {logs}")


def api_ready(api: KubeClient) -> bool:
    from kubernetes import client

    client.VersionApi(api).get_code(_request_timeout=2)
    return True


def leaders_fresh(api: KubeClient) -> bool:
    """Both controllers hold a fresh leader lease: they run and talk to the API server."""
    from kubernetes import client

    leases = client.CoordinationV1Api(api).list_namespaced_lease("kube-system", _request_timeout=2).items
    now = time.time()
    fresh = {
        _name(lease)
        for lease in leases
        if lease.spec and lease.spec.renew_time and now - lease.spec.renew_time.timestamp() < 15
    }
    return {"kube-scheduler", "kube-controller-manager"} <= fresh


def forget_leases(api: KubeClient, restarted: set[str]) -> None:
    """Delete the leases that still name a component's dead predecessor.

    A restarted scheduler or controller-manager would wait out its old leader lease (15 s), and a restarted kwok
    the node leases (40 s), before acting; each recreates its lease at once when it is gone.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    leaders = ("kube-scheduler", "kube-controller-manager")
    targets: list[tuple[str, str]] = [("kube-system", name) for name in leaders if name in restarted]
    if "kwok-controller" in restarted:
        nodes = client.CoreV1Api(api).list_node(label_selector=f"{SIM_LABEL}=true", _request_timeout=5).items
        targets += [("kube-node-lease", _name(node)) for node in nodes]
    coordination = client.CoordinationV1Api(api)
    for namespace, name in targets:
        try:
            coordination.delete_namespaced_lease(name, namespace, _request_timeout=5)
        except ApiException as err:
            if err.status != 404:
                raise


def default_service_account(api: KubeClient) -> bool:
    from kubernetes import client

    client.CoreV1Api(api).read_namespaced_service_account("default", "default", _request_timeout=2)
    return True


def apply_storage_class(api: KubeClient) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    meta = DEFAULT_STORAGE_CLASS["metadata"]
    body = client.V1StorageClass(
        metadata=client.V1ObjectMeta(name=meta["name"], annotations=meta["annotations"]),
        provisioner=DEFAULT_STORAGE_CLASS["provisioner"],
        reclaim_policy=DEFAULT_STORAGE_CLASS["reclaimPolicy"],
        volume_binding_mode=DEFAULT_STORAGE_CLASS["volumeBindingMode"],
    )
    try:
        client.StorageV1Api(api).create_storage_class(body)
    except ApiException as err:
        if err.status != 409:
            raise


def reconcile_nodes(api: KubeClient, spec: SimSpec) -> list[str]:
    """Create missing nodes, recreate those built from other flags, delete extra ones; same flags: no change."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    wanted = {n["metadata"]["name"]: n for n in node_manifests(spec)}
    current = {_name(n): _annotations(n) for n in core.list_node(label_selector=f"{SIM_LABEL}=true").items}
    unchanged = {name for name, notes in current.items() if notes.get(SPEC_ANNOTATION) == spec.fingerprint()}
    for name in current:
        if name not in wanted or name not in unchanged:
            core.delete_node(name)
    for name, body in wanted.items():
        if name not in unchanged:
            _create_node(core, body)
    return list(wanted)


def _create_node(core: Any, body: dict[str, Any]) -> None:
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + 30
    while True:
        try:
            core.create_node(body)
            return
        except ApiException as err:  # 409 while a deleted node of that name is still going away
            if err.status != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _name(obj: Any) -> str:
    return str(obj.metadata.name) if obj.metadata else ""


def _annotations(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.annotations or {}) if obj.metadata else {}


def nodes_ready(api: KubeClient, names: list[str]) -> bool:
    from kubernetes import client

    nodes = client.CoreV1Api(api).list_node(label_selector=f"{SIM_LABEL}=true", _request_timeout=2).items
    ready = {
        _name(n)
        for n in nodes
        if n.status and any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    }
    return set(names) <= ready
