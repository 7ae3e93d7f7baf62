"""What `promote --to kind` adds: the stack's images built and pushed into the local registry (by digest),
and the locked models mirrored there, so the node pulls both the way a production cluster pulls its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.gateway import OllamaGateway
from scripts import toolchain
from scripts.kind import cluster, gpu, podman, publish
from scripts.kind import images as build
from scripts.kind import registry as local

MODELS_PUSH = f"{local.PUSH_ADDRESS}/snap2prod"
"""Where the host's Ollama pushes the locked models."""
MODELS_PULL = f"{local.MODELS_ADDRESS}/snap2prod"
"""Where the Ollama pod's init container pulls them from (the redirecting registry on the KIND network)."""
KEYNOTE_HOSTNAME = "host.docker.internal"
"""The name stacks/local/values-keynote.yaml gives the host; Docker Desktop resolves it, here hostAliases do."""


class KeynoteUnreachable(podman.EngineError):
    """Keynote mode: the KIND node cannot reach the host's Ollama."""


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    context: str
    gpu_shape: str = ""
    """Its GPU-shaped worker (`kind up --gpus`), e.g. "1 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 1)"; "" without."""


def up(name: str, gpus_if_new: int = 0) -> Cluster:
    """Reuse the KIND cluster we made, whatever its GPU shape (a promotion does not change it), or create it with
    ``gpus_if_new`` GPUs; start its local registry (scripts/kind/cluster.py)."""
    record = cluster.read_record(name)
    have = gpu.from_record(record.gpu) if record is not None and name in cluster.clusters() else None
    if have is not None:
        done = cluster.up(
            name,
            gpus=have.gpus_per_node,
            gpu_product=have.gpu_product,
            mig=have.mig,
            gpu_memory_mib=have.gpu_memory_mib,
        )
    else:
        done = cluster.up(name, gpus=gpus_if_new)
    return Cluster(done.kubeconfig, f"kind-{done.name}", gpu.describe(done.gpu) if done.gpu else "")


def image_values() -> dict[str, Any]:
    """Build (cached by content) and push (skipped when the registry has these bytes); the chart values."""
    log = toolchain.cache_dir() / "logs" / "kind-images.log"
    build.build_all()
    endpoints = local.up(log)
    publish.push(endpoints.push, log)
    return publish.chart_values()


def models_values() -> dict[str, Any]:
    """The Ollama pod pulls from the local mirror, and its NetworkPolicy lets it reach that mirror and no more."""
    return {
        "models": {"registry": MODELS_PULL, "insecure": True},
        "networkPolicy": {"mirror": local.mirror_egress()},
    }


def keynote_values(local_ollama: str) -> dict[str, Any]:
    """Keynote mode (no Ollama in the cluster): the app pods reach this machine's Ollama at the kind network's
    gateway, under the name the values file uses, on the port of the Ollama that parity checks.

    Ollama has no authentication, so it should listen on that address (not 0.0.0.0); one that answers only on
    loopback is refused here with the command that fixes it, before anything changes in the cluster.
    """
    address = local.gateway_address()
    port = urlsplit(local_ollama).port or 11434
    reachable_at = f"http://{address}:{port}"
    gateway = OllamaGateway(reachable_at, connect_timeout_s=2.0)
    try:
        answers = gateway.reachable()
    finally:
        gateway.close()
    if not answers:
        raise KeynoteUnreachable(
            f"keynote mode: the KIND node reaches this machine at {address}, but no Ollama answers at "
            f"{reachable_at} (the local Ollama is {local_ollama}). Start it there, e.g. "
            f"`OLLAMA_HOST={address}:{port} ollama serve`, and promote with --host {reachable_at}."
        )
    return {
        "app": {"hostAliases": [{"ip": address, "hostnames": [KEYNOTE_HOSTNAME]}]},
        "ollama": {"externalHost": f"http://{KEYNOTE_HOSTNAME}:{port}"},
    }
