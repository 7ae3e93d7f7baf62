"""What `promote --to kind` adds: the stack's images built and pushed into the local registry (by digest),
and the locked models mirrored there, so the node pulls both the way a production cluster pulls its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import toolchain
from scripts.kind import cluster, publish
from scripts.kind import images as build
from scripts.kind import registry as local

MODELS_PUSH = f"{local.PUSH_ADDRESS}/snap2prod"
"""Where the host's Ollama pushes the locked models."""
MODELS_PULL = f"{local.MODELS_ADDRESS}/snap2prod"
"""Where the Ollama pod's init container pulls them from (the redirecting registry on the KIND network)."""


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    context: str


def up(name: str) -> Cluster:
    """Create or reuse the KIND cluster and its local registry (scripts/kind/cluster.py)."""
    done = cluster.up(name)
    return Cluster(done.kubeconfig, f"kind-{done.name}")


def image_values() -> dict[str, Any]:
    """Build (cached by content) and push (skipped when the registry has these bytes); the chart values."""
    log = toolchain.cache_dir() / "logs" / "kind-images.log"
    build.build_all()
    endpoints = local.up(log)
    publish.push(endpoints.push, log)
    return publish.chart_values()


def models_values() -> dict[str, Any]:
    return {"models": {"registry": MODELS_PULL, "insecure": True}}
