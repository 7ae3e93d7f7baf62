"""Every pinned tool by name, the profiles `make` installs, and how the rest of snap2prod asks for a tool."""

from __future__ import annotations

from pathlib import Path

from scripts.toolchain import containers, debian, kube, ollama, scanners, signing
from scripts.toolchain.cache import Tool, expected_version

TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        ollama.OLLAMA,
        ollama.SMOLLM2,
        debian.CHROMIUM,
        debian.PROMETHEUS,
        debian.NGINX,
        kube.HELM,
        kube.KUBERNETES,
        kube.KUBECTL,
        kube.ETCD,
        kube.KWOK,
        containers.CRANE,
        containers.DISTRIBUTION,
        scanners.KUBE_SCORE,
        scanners.CHECKOV,
        # real containers, KIND and the offline node image (profile `kind`)
        containers.PODMAN,
        containers.KIND,
        kube.KUBE_NODE,
        containers.COREDNS,
        containers.CRICTL,
        containers.LOCAL_PATH_PROVISIONER,
        containers.KUBE_ROUTER,
        # images you can trace (profile `kind`: promote --to kind verifies every image it deploys)
        signing.COSIGN,
        signing.SYFT,
        signing.STRACE,
    )
}

PROFILES: dict[str, tuple[str, ...]] = {
    "demo": ("ollama", "smollm2"),  # what `make demo` needs on a machine without Ollama (it builds them on demand)
    "kind": (
        "podman",
        "kind",
        "kubernetes",
        "kubectl",
        "kube-node",
        "etcd",
        "coredns",
        "crictl",
        "local-path-provisioner",
        "kube-router",
        "distribution",
        "helm",
        "ollama",
        "smollm2",
        "cosign",
        "syft",
    ),
    "all": tuple(TOOLS),
}


def ensure(name: str | Tool) -> Path:
    """Install one tool if its cache entry is not complete; return its directory."""
    return (TOOLS[name] if isinstance(name, str) else name).ensure()


def binary(name: str, command: str | None = None) -> Path:
    """Path of an installed tool's executable (installs it first when needed)."""
    return ensure(name) / "bin" / (command or name)


def check(names: tuple[str, ...]) -> int:
    """Print what is installed and the version each tool reports; non-zero when anything is missing."""
    missing = 0
    for name in names:
        tool = TOOLS[name]
        if not tool.installed():
            print(f"{name:<11} {tool.version:<9} MISSING   (make toolchain installs it)")
            missing += 1
            continue
        reported = tool.probe(tool.home)
        want = expected_version(tool)
        status = "ok" if not want or reported == want else f"MISMATCH (reports {reported})"
        print(f"{name:<11} {tool.version:<9} {status:<9} reports {reported:<14} {tool.home}")
        missing += status != "ok"
    return 1 if missing else 0
