"""Real containers and KIND (issue #12): the container engine, kind, what an offline KIND node image is built
from, and the registries (CNCF distribution for the model mirror and the cluster's images, crane to read them).
The node image itself and the app/Ollama images are built by scripts/kind into the same cache."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from scripts.toolchain.cache import Tool
from scripts.toolchain.debian import ensure_packages, link_binaries
from scripts.toolchain.pins import (
    COREDNS_VERSION,
    CRANE_VERSION,
    CRICTL_VERSION,
    DEBIAN_RELEASE,
    DISTRIBUTION_VERSION,
    KIND_VERSION,
    KUBE_ROUTER_VERSION,
    LOCAL_PATH_PROVISIONER_VERSION,
)
from scripts.toolchain.runner import ToolchainError, capture, first_match, go_install

ENGINE_PACKAGES = ("podman", "runc", "mmdebstrap", "iptables", "uidmap")


def _engine_problems() -> list[str]:
    from scripts import engine_config

    problems = [f"{engine_config.config_path()} lacks {m}" for m in engine_config.missing()]
    problems += [f"{p} is not installed" for p in ("runc", "mmdebstrap") if shutil.which(p) is None]
    return problems + ([] if Path("/lib/modules").is_dir() else ["/lib/modules is missing (kind mounts it)"])


def _install_podman(home: Path, log: Path) -> None:
    """podman + mmdebstrap from Debian, the containers.conf this VM needs, and /lib/modules for kind."""
    from scripts import engine_config

    ensure_packages(ENGINE_PACKAGES, log)
    try:
        conflicts = engine_config.ensure()
    except (OSError, ValueError) as err:
        raise ToolchainError(f"cannot write the container engine's config: {err}") from None
    for conflict in conflicts:
        print(f"  podman: keeping your {conflict}", flush=True)
    Path("/lib/modules").mkdir(parents=True, exist_ok=True)  # Firecracker VMs have none; kind bind-mounts it
    link_binaries(home, "podman", "mmdebstrap")


def _probe_podman(home: Path) -> str:
    version = first_match(r"(\d+\.\d+\.\d+)", capture([str(home / "bin" / "podman"), "--version"]))
    mmdebstrap = first_match(r"(\d+\.\d+\.\d+)", capture([str(home / "bin" / "mmdebstrap"), "--version"]))
    problems = _engine_problems()
    return f"{version} (mmdebstrap {mmdebstrap})" + (f"; NOT ready: {'; '.join(problems)}" if problems else "")


def _go_install_tool(pkg: str, ldflags: str = "", *, trimpath: bool = True) -> Callable[[Path, Path], None]:
    """Installs one static Go command (``-s -w`` and the given ldflags)."""

    def install(home: Path, log: Path) -> None:
        go_install(home, log, f"-s -w {ldflags}".strip(), pkg, trimpath=trimpath)

    return install


def _probe_kind(home: Path) -> str:
    return first_match(r"kind v(\S+)", capture([str(home / "bin" / "kind"), "version"]))


def _probe_coredns(home: Path) -> str:
    return first_match(r"CoreDNS-(\d+\.\d+\.\d+)", capture([str(home / "bin" / "coredns"), "-version"]))


def _probe_crictl(home: Path) -> str:
    return first_match(r"(\d+\.\d+\.\d+)", capture([str(home / "bin" / "crictl"), "--version"]))


def _probe_kube_router(home: Path) -> str:
    return first_match(r"version v(\d+\.\d+\.\d+)", capture([str(home / "bin" / "kube-router"), "--version"]))


def _probe_local_path(home: Path) -> str:
    binary = home / "bin" / "local-path-provisioner"
    return LOCAL_PATH_PROVISIONER_VERSION if binary.exists() and os.access(binary, os.X_OK) else "missing"


def _probe_crane(home: Path) -> str:
    out = capture([str(home / "bin" / "crane"), "version"])
    return first_match(r"(\d+\.\d+\.\d+)", out) if re.search(r"\d", out) else CRANE_VERSION


def _probe_distribution(home: Path) -> str:
    return first_match(r" v(\d+\.\d+\.\d+)", capture([str(home / "bin" / "registry"), "--version"]))


_DISTRIBUTION = "github.com/distribution/distribution/v3"

PODMAN = Tool("podman", DEBIAN_RELEASE, 2, _install_podman, _probe_podman)
KIND = Tool("kind", KIND_VERSION, 1, _go_install_tool(f"sigs.k8s.io/kind@v{KIND_VERSION}", trimpath=False), _probe_kind)
COREDNS = Tool(
    "coredns",
    COREDNS_VERSION,
    3,
    _go_install_tool(f"github.com/coredns/coredns@v{COREDNS_VERSION}"),
    _probe_coredns,
)
CRICTL = Tool(
    "crictl",
    CRICTL_VERSION,
    1,
    _go_install_tool(
        f"sigs.k8s.io/cri-tools/cmd/crictl@v{CRICTL_VERSION}",
        f"-X sigs.k8s.io/cri-tools/pkg/version.Version={CRICTL_VERSION}",
    ),
    _probe_crictl,
)
LOCAL_PATH_PROVISIONER = Tool(
    "local-path-provisioner",
    LOCAL_PATH_PROVISIONER_VERSION,
    2,
    _go_install_tool(f"github.com/rancher/local-path-provisioner@v{LOCAL_PATH_PROVISIONER_VERSION}"),
    _probe_local_path,
)
KUBE_ROUTER = Tool(
    "kube-router",
    KUBE_ROUTER_VERSION,
    8,
    _go_install_tool(
        f"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v{KUBE_ROUTER_VERSION}",
        f"-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v{KUBE_ROUTER_VERSION}",
    ),
    _probe_kube_router,
)
CRANE = Tool(
    "crane",
    CRANE_VERSION,
    2,
    _go_install_tool(f"github.com/google/go-containerregistry/cmd/crane@v{CRANE_VERSION}", trimpath=False),
    _probe_crane,
)
DISTRIBUTION = Tool(
    "distribution",
    DISTRIBUTION_VERSION,
    4,
    _go_install_tool(
        f"{_DISTRIBUTION}/cmd/registry@v{DISTRIBUTION_VERSION}",
        f"-X {_DISTRIBUTION}/version.version=v{DISTRIBUTION_VERSION}",
        trimpath=False,
    ),
    _probe_distribution,
)
"""The CNCF distribution registry: a model mirror Ollama can push to (absolute upload URLs) and, with its
redirect storage middleware, pull from (Ollama downloads blobs only through a redirect)."""
