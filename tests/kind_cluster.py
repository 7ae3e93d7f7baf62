"""The run's one KIND cluster: its name, its GPU shape and what the node image cache held before it was made.

The session fixture `kind_cluster` (tests/integration/conftest.py) makes it; the KIND tests import these names."""

from __future__ import annotations

from dataclasses import dataclass

from scripts.kind import cluster, nodeimage, podman

KIND_NAME = "snap2prod"
KIND_GPUS = 2


@dataclass(frozen=True)
class KindRun:
    """The shared cluster and what the node image cache held before it was made."""

    up: cluster.UpResult
    node_images_before: tuple[str, ...]
    """The node image tags podman had before `kind up` (none on a cold machine: then `up` built one)."""


def node_images() -> tuple[str, ...]:
    out = podman.run(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={nodeimage.NODE_REPO}"])
    return tuple(line for line in out.splitlines() if line.strip())
