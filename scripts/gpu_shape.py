"""The GPU shape of a rehearsal cluster: a real GPU node's resource name, labels and taint, minus the GPU.

The shapes copy what NVIDIA's device plugin and GPU feature discovery (GFD) publish on real nodes, so charts and
preflight checks see the same resource names, labels and taints as in prod. One source for both rehearsals:
`snap2prod sim` (kwok plays the GPU nodes) and `snap2prod kind up --gpus` (one real worker that runs on CPU).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

from scripts.errors import CliError

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
MAX_NODES = 100
MAX_GPUS_PER_NODE = 16
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class SimError(CliError):
    """A rehearsal cluster cannot do what was asked (bad flag value, busy port, a component that failed)."""


@dataclass(frozen=True)
class MigProfile:
    """One MIG partition: how many fit on one GPU and how much memory each gets (as GFD labels it)."""

    name: str
    per_gpu: int
    memory_mib: int
    gpu_slices: int
    compute_slices: int


@dataclass(frozen=True)
class GpuProduct:
    """A GPU model as GFD names it (`nvidia.com/gpu.product`), its memory and the MIG profiles it offers."""

    name: str
    memory_mib: int
    family: str
    mig: tuple[MigProfile, ...] = ()


def _mig(*rows: tuple[str, int, int, int, int]) -> tuple[MigProfile, ...]:
    return tuple(MigProfile(*row) for row in rows)


_A100_40_MIG = _mig(
    ("1g.5gb", 7, 4864, 1, 1),
    ("1g.10gb", 4, 9856, 1, 1),
    ("2g.10gb", 3, 9856, 2, 2),
    ("3g.20gb", 2, 19968, 3, 3),
    ("4g.20gb", 1, 19968, 4, 4),
    ("7g.40gb", 1, 40192, 7, 7),
)
_80GB_MIG = _mig(
    ("1g.10gb", 7, 9856, 1, 1),
    ("1g.20gb", 4, 19968, 1, 1),
    ("2g.20gb", 3, 19968, 2, 2),
    ("3g.40gb", 2, 40192, 3, 3),
    ("4g.40gb", 1, 40192, 4, 4),
    ("7g.80gb", 1, 80384, 7, 7),
)

GPU_PRODUCTS: dict[str, GpuProduct] = {
    p.name: p
    for p in (
        GpuProduct("NVIDIA-A100-SXM4-40GB", 40960, "ampere", _A100_40_MIG),
        GpuProduct("NVIDIA-A100-SXM4-80GB", 81920, "ampere", _80GB_MIG),
        GpuProduct("NVIDIA-H100-80GB-HBM3", 81559, "hopper", _80GB_MIG),
        GpuProduct("NVIDIA-L4", 23034, "ada-lovelace"),
        GpuProduct("NVIDIA-L40S", 46068, "ada-lovelace"),
        GpuProduct("Tesla-T4", 15360, "turing"),
    )
}
DEFAULT_PRODUCT = "NVIDIA-A100-SXM4-80GB"


@dataclass(frozen=True)
class SimSpec:
    """The shape of a rehearsal cluster: `snap2prod sim up` builds all of it with kwok; `kind up --gpus N` is one
    GPU node of N GPUs (gpu_nodes=1) next to the control-plane (cpu_nodes=1)."""

    gpu_nodes: int = 1
    gpus_per_node: int = 8
    cpu_nodes: int = 1
    gpu_product: str = DEFAULT_PRODUCT
    gpu_memory_mib: int | None = None
    mig: str | None = None

    def validate(self, *, gpu_nodes_flag: str = "--gpu-nodes", gpus_flag: str = "--gpus-per-node") -> None:
        """Reject values a real cluster could not have, with one line that names the flag (the caller's names:
        `kind up` says `--gpus` for both GPU counts)."""
        for flag, value, top in (
            (gpu_nodes_flag, self.gpu_nodes, MAX_NODES),
            ("--cpu-nodes", self.cpu_nodes, MAX_NODES),
            (gpus_flag, self.gpus_per_node, MAX_GPUS_PER_NODE),
        ):
            if not 0 <= value <= top:
                raise SimError(f"{flag} must be between 0 and {top}, got {value}")
        if self.gpu_nodes and self.gpus_per_node == 0:
            raise SimError(f"{gpus_flag} must be at least 1 when there are GPU nodes")
        if self.gpu_nodes + self.cpu_nodes == 0:
            raise SimError("the cluster needs at least one node: give --gpu-nodes or --cpu-nodes a value above 0")
        if not _LABEL_VALUE.match(self.gpu_product):
            raise SimError(f"--gpu-product {self.gpu_product!r} is not a valid label value (letters, digits, -_.)")
        if self.gpu_memory_mib is not None and self.gpu_memory_mib <= 0:
            raise SimError(f"--gpu-memory-mib must be positive, got {self.gpu_memory_mib}")
        product = GPU_PRODUCTS.get(self.gpu_product)
        if product is None and self.gpu_memory_mib is None:
            raise SimError(
                f"unknown --gpu-product {self.gpu_product!r}: give --gpu-memory-mib too, or pick one of "
                f"{', '.join(GPU_PRODUCTS)}"
            )
        if self.mig is not None:
            if self.gpu_nodes == 0:
                raise SimError(f"--mig {self.mig} needs GPUs to partition: give {gpu_nodes_flag} a value above 0")
            self.mig_profile()

    def mig_profile(self) -> MigProfile | None:
        """The MIG profile asked for, checked against what the GPU product really offers."""
        if self.mig is None:
            return None
        product = GPU_PRODUCTS.get(self.gpu_product)
        offered = {m.name: m for m in product.mig} if product else {}
        if self.mig not in offered:
            known = ", ".join(offered) if offered else "none (it does not support MIG)"
            raise SimError(f"unknown MIG profile {self.mig!r} for {self.gpu_product}; it offers: {known}")
        return offered[self.mig]

    @property
    def memory_mib(self) -> int:
        return self.gpu_memory_mib or GPU_PRODUCTS[self.gpu_product].memory_mib

    @property
    def gpu_resource(self) -> str:
        """The extended resource a pod requests: `nvidia.com/gpu`, or `nvidia.com/mig-<profile>` (mixed strategy)."""
        return f"nvidia.com/mig-{self.mig}" if self.mig else GPU_RESOURCE

    @property
    def devices_per_node(self) -> int:
        profile = self.mig_profile()
        return self.gpus_per_node * (profile.per_gpu if profile else 1)

    def fingerprint(self) -> str:
        """A short hash of the spec; a node carries it so a second `up` with the same flags changes nothing."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def gpu_labels(spec: SimSpec) -> dict[str, str]:
    """The labels GPU feature discovery puts on a node with these GPUs (the subset charts select on)."""
    product = GPU_PRODUCTS.get(spec.gpu_product)
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": spec.gpu_product,
        "nvidia.com/gpu.memory": str(spec.memory_mib),
        "nvidia.com/gpu.count": str(spec.gpus_per_node),
        "nvidia.com/gpu.family": product.family if product else "unknown",
        "nvidia.com/gpu.deploy.device-plugin": "true",
        "nvidia.com/mig.capable": "true" if product and product.mig else "false",
        "node.kubernetes.io/instance-type": f"sim-{spec.gpus_per_node}x-{spec.gpu_product.lower()}",
    }
    profile = spec.mig_profile()
    if profile:
        prefix = f"nvidia.com/mig-{profile.name}"
        labels |= {
            "nvidia.com/mig.strategy": "mixed",
            f"{prefix}.count": str(spec.devices_per_node),
            f"{prefix}.memory": str(profile.memory_mib),
            f"{prefix}.slices.gi": str(profile.gpu_slices),
            f"{prefix}.slices.ci": str(profile.compute_slices),
        }
    return labels


def extended_resources(spec: SimSpec) -> dict[str, str]:
    """What the device plugin advertises on one GPU node: N GPUs, or with MIG (mixed strategy) the slices and
    `nvidia.com/gpu: 0` (every GPU is partitioned)."""
    return {GPU_RESOURCE: "0", spec.gpu_resource: str(spec.devices_per_node)}
