"""Which cluster a promotion goes to: the rehearsal sim, a KIND cluster (created when missing), or production;
and what each adds to the promotion.

Production needs an explicit context that does not look local, and a confirmation.

A ``Target`` knows how to reach its cluster and brings its own part of the promotion, which the pipeline asks for
at its step, never branching on the target's name: ``value_layers`` (values around the environment's),
``identify`` (a production context still reaches the cluster it reached first), ``mirror_default`` (where the
locked models go when no --registry says), ``pull_values`` (where the cluster pulls them from), ``production`` and
``ingress_strict`` (how strict preflight is) and ``rehearsal_section`` (--rehearse-prod, from the GPU-shaped
worker only a KIND cluster has). The base adds nothing else; ``SimTarget`` relaxes the ingress check,
``ProdTarget`` runs production's checks, and ``KindTarget`` adds its local registry's images and models, keynote
mode's host address and, in a rehearsal, production's checks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from app.errors import Snap2ProdError
from scripts import signing
from scripts.console import console, step
from scripts.kube import KubeClient, new_client
from scripts.paths import CHART_IMAGES, STACKS
from scripts.promote import identity, images
from scripts.promote.errors import PreflightFailed, TargetRefused
from scripts.promote.values import effective, merge
from scripts.sim import CONTEXT as SIM_CONTEXT
from scripts.sim import Sim

TARGETS = ("kind", "prod", "sim")
LOCAL_CONTEXTS = ("kind-", "snap2prod-sim", "docker-desktop", "minikube", "rancher-desktop", "orbstack")
KIND_CLUSTER = "snap2prod"
KIND_CONFIG = STACKS / "local" / "kind.yaml"

REHEARSAL_CANNOT_SHOW = (
    "a GPU given to the container by NVIDIA's device plugin, and its driver and CUDA libraries (here `nvidia` is "
    "runc and the GPU a number in the node's status)",
    "the models' weights, KV cache and projector loaded into GPU memory (preflight counts them against the GFD "
    "memory label; nothing is loaded into a GPU here)",
    "inference speed on a GPU: TTFT and tokens/s here are CPU figures",
    "time-slicing, MIG and DRA sharing a GPU between pods",
    "the ingress controller, the TLS certificate and its cookie affinity on a public host name (off here; the "
    "Service's ClientIP affinity keeps the sessions)",
    "pulls from production's image and model registries (here the local registry serves both)",
    "replicas spread over several nodes and zones (here the app's replicas share the control-plane node)",
)
"""What a production rehearsal on the GPU-shaped KIND node cannot show; the report lists it."""


@dataclass(frozen=True)
class Promotion:
    """What a target's part of the promotion depends on."""

    in_cluster: bool
    """The chart runs Ollama (False: keynote mode, the app uses the host's Ollama)."""
    registry: str | None
    """--registry: where to mirror the locked models."""
    insecure: bool
    """--insecure: that registry speaks plain HTTP."""
    from_lock: bool
    """--from-lock: the lock and its mirror are taken as they are."""
    local_ollama: Callable[[], str]
    """The local Ollama's address (--host, else OLLAMA_HOST), looked up when a target needs it."""
    timings: dict[str, float]
    """The report's step timings."""


@dataclass
class Target:
    """A cluster to promote to: how to reach it, and whether it runs no containers (the sim). Its methods are its
    part of the promotion; this base adds nothing to it but the rehearsal section, which needs ``gpu_shape`` (only
    a KIND cluster has one)."""

    name: str
    kubeconfig: Path | None
    context: str | None
    simulated: bool = False
    gpu_shape: str = ""
    """A KIND cluster's GPU-shaped worker, e.g. "1 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 1)"; "" without."""

    @property
    def production(self) -> bool:
        """Preflight runs production's checks (every image pinned by digest)."""
        return False

    @property
    def ingress_strict(self) -> bool:
        """A missing ingress class fails preflight (else it warns)."""
        return True

    def identify(self, api: KubeClient) -> str | None:
        """Which cluster the context reaches, for the report, or TargetRefused when it must not be used; None when
        the target does not check (a local cluster is whatever this machine runs)."""
        return None

    def value_layers(self, values: dict[str, Any], asked: Promotion) -> dict[str, Any]:
        """The environment's merged values with this target's own layered under or over them, before parity."""
        return values

    def signing_policy(self, values: Mapping[str, Any]) -> images.SigningPolicy | None:
        """Which images promote verifies, against which key (None: none is pulled, nothing to verify): the
        values' ``signing`` section."""
        return images.SigningPolicy.from_values(values)

    def mirror_default(self, asked: Promotion) -> tuple[str | None, bool]:
        """Where the locked models are mirrored before the rollout (None: nowhere) and whether that registry speaks
        plain HTTP: --registry and --insecure, unless the target has its own."""
        return asked.registry, asked.insecure

    def pull_values(self, asked: Promotion) -> dict[str, Any]:
        """Values layered over all others after the mirror: where the cluster itself pulls the models from."""
        return {}

    def rehearsal_section(self) -> dict[str, Any]:
        """The report's rehearsal section (--rehearse-prod, which resolve_target allows for KIND only); a cluster
        without a GPU-shaped worker cannot hold one."""
        if not self.gpu_shape:
            raise TargetRefused(
                f"--rehearse-prod needs a GPU-shaped worker, and the KIND cluster of {self.context} has none. "
                "Recreate it with one: `snap2prod kind down`, then `snap2prod kind up --gpus 1` (or let promote "
                "create it: it makes the cluster with one GPU when there is none)."
            )
        return {
            "values": "stacks/prod/values.yaml + stacks/prod/values-rehearsal.yaml",
            "gpu_node": self.gpu_shape,
            "cannot_show": list(REHEARSAL_CANNOT_SHOW),
        }


@dataclass
class SimTarget(Target):
    """The rehearsal cluster: no containers run, and it has no ingress controller to be strict about."""

    simulated: bool = True

    def signing_policy(self, values: Mapping[str, Any]) -> images.SigningPolicy | None:
        return None

    @property
    def ingress_strict(self) -> bool:
        return False


@dataclass
class ProdTarget(Target):
    """A production cluster: its images and models come from where the values say; production's checks."""

    @property
    def production(self) -> bool:
        return True

    def identify(self, api: KubeClient) -> str | None:
        """The context reaches the cluster it reached when first used (scripts/promote/identity.py)."""
        assert self.context is not None  # resolve_target refuses prod without one
        return identity.check(api, self.context)


@dataclass
class KindTarget(Target):
    """A KIND cluster (scripts/kind): the images and the models come from its local registry; keynote mode reaches
    this machine's Ollama; with ``rehearsal`` it runs production's values and checks."""

    rehearsal: bool = False

    @property
    def production(self) -> bool:
        return self.rehearsal

    def value_layers(self, values: dict[str, Any], asked: Promotion) -> dict[str, Any]:
        """The images by the digests the local registry serves, under the values; in keynote mode with this
        machine's Ollama, the address the node reaches it at, over them."""
        from scripts.kind import library as kind

        with step("images: build and push into the local registry (cached by content)", asked.timings):
            values = merge(kind.image_values(), values)
        if asked.in_cluster or not _keynote_host(values):
            return values
        try:
            keynote = kind.keynote_values(asked.local_ollama())
        except Snap2ProdError as err:
            raise PreflightFailed(str(err)) from None
        alias = keynote["app"]["hostAliases"][0]
        console.print(
            f"  keynote mode: the app reaches this machine's Ollama at {alias['ip']} ({alias['hostnames'][0]})"
        )
        return merge(values, keynote)

    def signing_policy(self, values: Mapping[str, Any]) -> images.SigningPolicy | None:
        """Every image here is one we built, pushed and signed (scripts/kind/publish.py), so all are verified,
        always, against this machine's key."""
        return images.SigningPolicy(CHART_IMAGES, signing.default_keys().pub, required=True)

    def mirror_default(self, asked: Promotion) -> tuple[str | None, bool]:
        """The models go to the local registry (plain HTTP) unless --registry names another; --from-lock takes the
        lock and the mirror as they are, and keynote mode has no Ollama in the cluster to pull them."""
        if not asked.in_cluster or asked.from_lock:
            return asked.registry, asked.insecure
        from scripts.kind import library as kind

        return asked.registry or kind.MODELS_PUSH, True

    def pull_values(self, asked: Promotion) -> dict[str, Any]:
        """The Ollama pod pulls from the mirror's address inside the KIND network."""
        from scripts.kind import library as kind

        return kind.models_values() if asked.in_cluster else {}


def _keynote_host(values: dict[str, Any]) -> bool:
    """The external Ollama is named as in stacks/local/values-keynote.yaml (this machine), not a server elsewhere."""
    from scripts.kind.library import KEYNOTE_HOSTNAME

    return urlsplit(str(effective(values)["ollama"]["externalHost"])).hostname == KEYNOTE_HOSTNAME


def looks_local(context: str) -> bool:
    """A context named like a laptop cluster (kind-, minikube, ...)."""
    return context.startswith(LOCAL_CONTEXTS)


def resolve_target(
    to: str, context: str | None, kubeconfig: Path | None, yes: bool, *, rehearsal: bool = False
) -> Target:
    """The target as asked, or TargetRefused saying why not. A rehearsal (production's values) goes to KIND only."""
    if rehearsal and to != "kind":
        raise TargetRefused(
            "--rehearse-prod rehearses production on the GPU-shaped KIND cluster: use it with --to kind, "
            f"not --to {to}."
        )
    if to == "sim":
        kubeconfig = kubeconfig or Sim().kubeconfig
        if not kubeconfig.exists():
            raise TargetRefused(f"no rehearsal cluster: {kubeconfig} does not exist. Start one: `snap2prod sim up`.")
        return SimTarget("sim", kubeconfig, context or SIM_CONTEXT)
    if to == "prod":
        if not context:
            raise TargetRefused("--to prod needs an explicit --kube-context (the production cluster's context).")
        if looks_local(context):
            raise TargetRefused(
                f"--kube-context {context!r} looks like a local cluster, not production; use "
                "--to kind or --to sim for it."
            )
        if not yes:
            if not sys.stdin.isatty():
                raise TargetRefused(f"promoting to production context {context!r} needs confirmation: add --yes.")
            if not typer.confirm(f"Promote to the production cluster of context {context!r}?", err=True):
                raise TargetRefused("not confirmed; nothing was changed.")
        return ProdTarget("prod", kubeconfig, context)
    return kind_target(context, kubeconfig, rehearsal)


def kind_target(context: str | None, kubeconfig: Path | None, rehearsal: bool = False) -> KindTarget:
    """Create or reuse the KIND cluster of stacks/local/kind.yaml (scripts/kind: podman, offline node image), or
    the one `--kube-context kind-NAME` names. A rehearsal needs its GPU-shaped worker, and creates the cluster with
    one GPU when there is none."""
    from scripts.kind import library as kind

    if context and not context.startswith("kind-"):
        raise TargetRefused(f"--to kind: {context!r} is not a KIND context (kind-NAME); use --to prod for it.")
    name = context.removeprefix("kind-") if context else KIND_CLUSTER
    try:
        with step(f"kind: cluster {name} ({KIND_CONFIG})", {}):
            cluster = kind.up(name, gpus_if_new=1 if rehearsal else 0)
    except Snap2ProdError as err:
        raise TargetRefused(f"--to kind: {err}") from None
    return KindTarget(
        "kind",
        kubeconfig or cluster.kubeconfig,
        context or cluster.context,
        gpu_shape=cluster.gpu_shape,
        rehearsal=rehearsal,
    )


def api_client(target: Target) -> KubeClient:
    """A client for the target; an unusable kubeconfig or context is TargetRefused."""
    try:
        return new_client(target.kubeconfig, target.context)
    except Exception as err:  # no kubeconfig, an unknown context
        raise TargetRefused(f"cannot use context {target.context!r}: {err}") from None
