"""`kind up --gpus N`: one worker node shaped like a GPU node, whose pods run on CPU.

The worker carries what NVIDIA's GPU Operator gives a real node (GFD labels, the GPU taint, the device plugin's
extended resource) and the cluster a RuntimeClass `nvidia`, so the production values schedule and start here. No
GPU is involved: the resource is a number patched into the node's status, and `nvidia` is plain runc. The shape
is `scripts.gpu_shape`, the one the sim uses.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from scripts import toolchain
from scripts.gpu_shape import DEFAULT_PRODUCT, GPU_TAINT, SimSpec, extended_resources, gpu_labels
from scripts.kind import podman

POOL_LABEL = "snap2prod.dev/pool"
RUNTIME_CLASS = "nvidia"
"""The RuntimeClass the GPU Operator installs and stacks/prod/values.yaml names."""
RUNTIME_HANDLER = "runc"
"""The runtime KIND's containerd config defines (`containerd.runtimes.runc`)."""
CONTROL_PLANE_SCHEDULABLE = "kind: InitConfiguration\nnodeRegistration:\n  taints: []\n"
"""kind untaints the control-plane only when it is the only node; the app (no GPU toleration) still runs there."""


class GpuNodeError(podman.EngineError):
    """The worker could not be made to look like a GPU node; the message names the kubectl step and the log."""


def shape(
    gpus: int, product: str = DEFAULT_PRODUCT, mig: str | None = None, memory_mib: int | None = None
) -> SimSpec | None:
    """The GPU shape `kind up` was asked for (None without --gpus), checked by SimSpec with kind's flag names."""
    spec = SimSpec(
        gpu_nodes=1 if gpus else 0,
        gpus_per_node=gpus,
        cpu_nodes=1,
        gpu_product=product,
        gpu_memory_mib=memory_mib,
        mig=mig,
    )
    spec.validate(gpu_nodes_flag="--gpus", gpus_flag="--gpus")
    return spec if gpus else None


def as_record(spec: SimSpec | None) -> dict[str, Any] | None:
    return asdict(spec) if spec else None


def from_record(data: dict[str, Any] | None) -> SimSpec | None:
    return SimSpec(**data) if data else None


def describe(spec: SimSpec | None) -> str:
    """One phrase for messages and `kind status`: "2 × NVIDIA-L4 (nvidia.com/gpu: 2)"."""
    if spec is None:
        return "no GPUs"
    mig = f" as MIG {spec.mig}" if spec.mig else ""
    return f"{spec.gpus_per_node} × {spec.gpu_product}{mig} ({spec.gpu_resource}: {spec.devices_per_node})"


def mismatch(name: str, have: SimSpec | None, want: SimSpec | None) -> str | None:
    """Why an existing cluster cannot be reused for this shape (None when it can): a shape is fixed at create."""
    if as_record(have) == as_record(want):
        return None
    down = "snap2prod kind down" + ("" if name == "snap2prod" else f" --name {name}")
    return f"cluster {name} exists with {describe(have)}, not {describe(want)}; `{down}` first, or use --name"


def worker_node(spec: SimSpec) -> dict[str, Any]:
    """The kind config entry of the GPU worker: GFD labels, the GPU taint at join, no port mappings."""
    taint = {"kind": "JoinConfiguration", "nodeRegistration": {"taints": [dict(GPU_TAINT)]}}
    return {
        "role": "worker",
        "labels": {**gpu_labels(spec), POOL_LABEL: "gpu"},
        "kubeadmConfigPatches": [yaml.safe_dump(taint, sort_keys=False)],
    }


def capacity_patch(spec: SimSpec) -> dict[str, Any]:
    """The node status patch that advertises the extended resource (how Kubernetes documents doing it by hand)."""
    return {"status": {"capacity": extended_resources(spec)}}


def runtime_class() -> dict[str, Any]:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": RUNTIME_CLASS, "labels": {"app.kubernetes.io/managed-by": "snap2prod"}},
        "handler": RUNTIME_HANDLER,
    }


def allocatable_jsonpath(resource: str) -> str:
    """kubectl's jsonpath for one allocatable resource; dots in the name are escaped."""
    return "{.status.allocatable." + resource.replace(".", "\\.") + "}"


def advertise(kubectl: list[str], node: str, spec: SimSpec, log: Path) -> None:
    """Patch the worker's capacity, apply the RuntimeClass, and wait until the scheduler can count the devices
    (the kubelet copies capacity to allocatable on its next status update, about 10 s)."""
    steps = [
        [
            *kubectl,
            "patch",
            "node",
            node,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(capacity_patch(spec)),
        ],
        [*kubectl, "apply", "-f", "-"],
        [
            *kubectl,
            "wait",
            f"node/{node}",
            f"--for=jsonpath={allocatable_jsonpath(spec.gpu_resource)}={spec.devices_per_node}",
            "--timeout=60s",
        ],
    ]
    for cmd in steps:
        stdin = json.dumps(runtime_class()) if "apply" in cmd else None
        what = f"cannot make node {node} a GPU node: kubectl {cmd[len(kubectl)]} failed"
        toolchain.run(cmd, log, input=stdin, timeout=90, what=what, error=GpuNodeError)
