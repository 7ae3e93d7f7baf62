"""What the rehearsal cluster's fake nodes look like: a real GPU node's capacity, labels and taint, minus the GPU.

The GPU shape itself (resource names, GFD labels, the taint, `SimSpec`) is `scripts.gpu_shape`, shared with
`snap2prod kind up --gpus`; this module turns it into the kwok Node objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scripts.gpu_shape import GPU_RESOURCE, GPU_TAINT, SimSpec, extended_resources, gpu_labels

SIM_LABEL = "snap2prod.dev/sim"
SPEC_ANNOTATION = "snap2prod.dev/sim-spec"


def gpu_node_name(i: int) -> str:
    return f"sim-gpu-{i}"


def cpu_node_name(i: int) -> str:
    return f"sim-cpu-{i}"


def _resources(cpu: int, memory_gi: int, extra: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Capacity and allocatable as a kubelet reports them: allocatable is capacity minus system reservations."""
    capacity = {"cpu": str(cpu), "memory": f"{memory_gi}Gi", "pods": "110", "ephemeral-storage": "500Gi", **extra}
    allocatable = {
        **capacity,
        "cpu": f"{cpu * 1000 - 500}m",
        "memory": f"{memory_gi * 1024 - 1024}Mi",
        "ephemeral-storage": "450Gi",
    }
    return capacity, allocatable


def _node(name: str, labels: dict[str, str], capacity: dict[str, str], allocatable: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                SIM_LABEL: "true",
                **labels,
            },
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": allocatable},
    }


def node_manifests(spec: SimSpec) -> list[dict[str, Any]]:
    """Every fake node of the spec; GPU nodes carry the device plugin's resource, GFD labels and the GPU taint."""
    spec.validate()
    nodes = []
    for i in range(spec.gpu_nodes):
        devices = extended_resources(spec)
        capacity, allocatable = _resources(12 * spec.gpus_per_node, 120 * spec.gpus_per_node, devices)
        node = _node(gpu_node_name(i), {**gpu_labels(spec), "snap2prod.dev/pool": "gpu"}, capacity, allocatable)
        node["spec"]["taints"] = [dict(GPU_TAINT)]
        nodes.append(node)
    for i in range(spec.cpu_nodes):
        capacity, allocatable = _resources(8, 32, {})
        labels = {"snap2prod.dev/pool": "cpu", "node.kubernetes.io/instance-type": "sim-cpu-8x32"}
        nodes.append(_node(cpu_node_name(i), labels, capacity, allocatable))
    fingerprint = spec.fingerprint()
    for node in nodes:
        node["metadata"]["annotations"][SPEC_ANNOTATION] = fingerprint
    return nodes


DEFAULT_STORAGE_CLASS: dict[str, Any] = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {
        "name": "kwok-volume",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": "kwok.x-k8s.io/volume",
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "Immediate",
}
"""The default StorageClass; kwok's volume stages play its provisioner (they create and bind a PV per claim)."""


@dataclass(frozen=True)
class NodeUsage:
    """One node's accelerator budget as `sim status` shows it: how many devices exist and how many pods took."""

    name: str
    pool: str
    ready: bool
    resource: str
    allocatable: int
    used: int

    @property
    def free(self) -> int:
        return self.allocatable - self.used


def _accelerator(allocatable: dict[str, str]) -> tuple[str, int]:
    """The node's GPU-like resource with the most devices (`nvidia.com/gpu` or a MIG slice), or none."""
    devices = {k: int(v) for k, v in allocatable.items() if k.startswith("nvidia.com/")}
    if not devices:
        return "", 0
    name = max(devices, key=lambda k: (devices[k], k == GPU_RESOURCE))
    return name, devices[name]


def usage(nodes: list[Any], pods: list[Any]) -> list[NodeUsage]:
    """GPU use per node from the API's Node and Pod objects: the sum of the requests of pods not yet finished."""
    used: dict[tuple[str, str], int] = {}
    for pod in pods:
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            continue
        for container in pod.spec.containers:
            requests = (container.resources.requests if container.resources else None) or {}
            for key, value in requests.items():
                if key.startswith("nvidia.com/"):
                    used[(pod.spec.node_name, key)] = used.get((pod.spec.node_name, key), 0) + int(value)
    rows = []
    for node in nodes:
        resource, count = _accelerator(node.status.allocatable or {})
        conditions = {c.type: c.status for c in node.status.conditions or []}
        rows.append(
            NodeUsage(
                name=node.metadata.name,
                pool=(node.metadata.labels or {}).get("snap2prod.dev/pool", "?"),
                ready=conditions.get("Ready") == "True",
                resource=resource,
                allocatable=count,
                used=used.get((node.metadata.name, resource), 0),
            )
        )
    return sorted(rows, key=lambda r: r.name)
