"""Which cluster a promotion goes to: the rehearsal sim, a KIND cluster (created when missing), or production.

Production needs an explicit context that does not look local, and a confirmation.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from app.errors import Snap2ProdError
from scripts.console import step
from scripts.kube import KubeClient, new_client
from scripts.paths import STACKS
from scripts.promote.errors import TargetRefused
from scripts.sim import CONTEXT as SIM_CONTEXT
from scripts.sim import Sim

TARGETS = ("kind", "prod", "sim")
LOCAL_CONTEXTS = ("kind-", "snap2prod-sim", "docker-desktop", "minikube", "rancher-desktop", "orbstack")
KIND_CLUSTER = "snap2prod"
KIND_CONFIG = STACKS / "local" / "kind.yaml"


@dataclass
class Target:
    """A cluster to promote to: how to reach it, and whether it runs no containers (the sim)."""

    name: str
    kubeconfig: Path | None
    context: str | None
    simulated: bool = False
    gpu_shape: str = ""
    """A KIND cluster's GPU-shaped worker, e.g. "1 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 1)"; "" without."""


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
        return Target("sim", kubeconfig, context or SIM_CONTEXT, simulated=True)
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
        return Target("prod", kubeconfig, context)
    return kind_target(context, kubeconfig, rehearsal)


def kind_target(context: str | None, kubeconfig: Path | None, rehearsal: bool = False) -> Target:
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
    return Target("kind", kubeconfig or cluster.kubeconfig, context or cluster.context, gpu_shape=cluster.gpu_shape)


def api_client(target: Target) -> KubeClient:
    """A client for the target; an unusable kubeconfig or context is TargetRefused."""
    try:
        return new_client(target.kubeconfig, target.context)
    except Exception as err:  # no kubeconfig, an unknown context
        raise TargetRefused(f"cannot use context {target.context!r}: {err}") from None
