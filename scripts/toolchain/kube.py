"""Kubernetes from source: the control plane and etcd the sim cluster runs, kwok for its kubelets, kubectl and
Helm, and the node binaries (kubelet, kubeadm, kube-proxy) of the KIND node image."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scripts.toolchain.cache import Tool
from scripts.toolchain.pins import ETCD_VERSION, HELM_VERSION, KUBERNETES_GO_DIRECTIVE, KUBERNETES_VERSION, KWOK_VERSION
from scripts.toolchain.runner import capture, first_match, go_base, go_env, go_install, module_dir, run

KUBE_COMMANDS = ("kube-apiserver", "kube-scheduler", "kube-controller-manager")
KUBE_NODE_COMMANDS = ("kubelet", "kubeadm", "kube-proxy")


def _install_helm(home: Path, log: Path) -> None:
    ldflags = f"-s -w -X helm.sh/helm/v4/internal/version.version=v{HELM_VERSION}"
    run(["go", "install", "-ldflags", ldflags, f"helm.sh/helm/v4/cmd/helm@v{HELM_VERSION}"], log, env=go_env(home))


def _probe_helm(home: Path) -> str:
    return first_match(r"v(\d+\.\d+\.\d+)", capture([str(home / "bin" / "helm"), "version", "--short"]))


def _install_kubernetes(home: Path, log: Path, commands: tuple[str, ...] = KUBE_COMMANDS) -> None:
    """k8s.io/kubernetes pins its staging modules to v0.0.0 with replace lines, so build from a wrapper."""
    mod = home / "src"
    mod.mkdir(parents=True, exist_ok=True)
    v = KUBERNETES_VERSION
    minor = v.split(".")[1]
    env = go_base()
    if not (mod / "go.mod").exists():
        run(["go", "mod", "init", "local/k8sbin"], log, cwd=mod, env=env)
    run(["go", "mod", "edit", f"-go={KUBERNETES_GO_DIRECTIVE}"], log, cwd=mod, env=env)
    out = run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{v}"], log, cwd=mod, env=env)
    gomod = Path(first_match(r'"GoMod":\s*"([^"]+)"', out)).read_text()
    staging = re.findall(r"^\s*(k8s\.io/\S+)\s+v0\.0\.0\s*$", gomod, flags=re.M)
    for module in staging:
        run(["go", "mod", "edit", f"-replace={module}={module}@v0.{minor}.{v.split('.')[2]}"], log, cwd=mod, env=env)
    pkgs = [f"k8s.io/kubernetes/cmd/{c}" for c in commands]
    run(["go", "get", *[f"{p}@v{v}" for p in pkgs]], log, cwd=mod, env=env)
    x = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        x += [f"-X {pkg}.gitVersion=v{v}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}"]
    ldflags = " ".join(["-s", "-w", *x])
    (home / "bin").mkdir(exist_ok=True)
    run(
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(home / "bin") + "/", *pkgs],
        log,
        cwd=mod,
        env={**env, "CGO_ENABLED": "0"},
    )


def _same_version(versions: set[str]) -> str:
    return versions.pop() if len(versions) == 1 else f"mismatch: {sorted(versions)}"


def _probe_kubernetes(home: Path) -> str:
    return _same_version(
        {first_match(r"v(\d+\.\d+\.\d+)", capture([str(home / "bin" / c), "--version"])) for c in KUBE_COMMANDS}
    )


def _install_kubectl(home: Path, log: Path) -> None:
    """kubectl for people and for kwokctl, which needs one on PATH (else it tries to download it)."""
    _install_kubernetes(home, log, ("kubectl",))


def _probe_kubectl(home: Path) -> str:
    return first_match(r"Client Version: v(\S+)", capture([str(home / "bin" / "kubectl"), "version", "--client"]))


def _install_etcd(home: Path, log: Path) -> None:
    mod = home / "src"
    mod.mkdir(parents=True, exist_ok=True)
    env = {**go_base(), "CGO_ENABLED": "0"}
    if not (mod / "go.mod").exists():
        run(["go", "mod", "init", "local/etcdbin"], log, cwd=mod, env=env)
    run(["go", "get", f"go.etcd.io/etcd/server/v3@v{ETCD_VERSION}"], log, cwd=mod, env=env)
    (home / "bin").mkdir(exist_ok=True)
    target = str(home / "bin" / "etcd")
    run(
        ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", target, "go.etcd.io/etcd/server/v3"],
        log,
        cwd=mod,
        env=env,
    )


def _probe_etcd(home: Path) -> str:
    return first_match(r"etcd Version: (\S+)", capture([str(home / "bin" / "etcd"), "--version"]))


def _install_kwok(home: Path, log: Path) -> None:
    go_install(home, log, "-s -w", *[f"sigs.k8s.io/kwok/cmd/{c}@v{KWOK_VERSION}" for c in ("kwok", "kwokctl")])
    stages = module_dir(f"sigs.k8s.io/kwok@v{KWOK_VERSION}", home, log) / "kustomize" / "stage"
    shutil.copytree(stages, home / "stages", dirs_exist_ok=True)
    for path in (home / "stages").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _probe_kwok(home: Path) -> str:
    return first_match(r"(\d+\.\d+\.\d+)", capture([str(home / "bin" / "kwokctl"), "--version"]))


def _install_kube_node(home: Path, log: Path) -> None:
    """kubelet, kubeadm and kube-proxy for the KIND node, from the same wrapper module as the control plane."""
    _install_kubernetes(home, log, KUBE_NODE_COMMANDS)


def _probe_kube_node(home: Path) -> str:
    versions = {
        first_match(r"v(\d+\.\d+\.\d+)", capture([str(home / "bin" / c), "--version"]))
        for c in ("kubelet", "kube-proxy")
    }
    versions.add(first_match(r"v(\d+\.\d+\.\d+)", capture([str(home / "bin" / "kubeadm"), "version", "-o", "short"])))
    return _same_version(versions)


HELM = Tool("helm", HELM_VERSION, 3, _install_helm, _probe_helm)
KUBERNETES = Tool("kubernetes", KUBERNETES_VERSION, 15, _install_kubernetes, _probe_kubernetes)
KUBECTL = Tool("kubectl", KUBERNETES_VERSION, 4, _install_kubectl, _probe_kubectl)
ETCD = Tool("etcd", ETCD_VERSION, 3, _install_etcd, _probe_etcd)
KWOK = Tool("kwok", KWOK_VERSION, 4, _install_kwok, _probe_kwok)
KUBE_NODE = Tool("kube-node", KUBERNETES_VERSION, 10, _install_kube_node, _probe_kube_node)
"""kubelet, kubeadm and kube-proxy for the KIND node image (profile `kind`)."""
