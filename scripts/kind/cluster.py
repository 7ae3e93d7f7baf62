"""`snap2prod kind up / down / status`: the KIND cluster of stacks/local/kind.yaml, on podman, offline.

State lives in ``$SNAP2PROD_CACHE/kind/<name>/``: the kind config we derived, an explicit kubeconfig (``~/.kube``
is never touched) and a record of what we made, so `down` removes exactly that and `up` refuses a cluster of
the same name that snap2prod did not make.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scripts import toolchain
from scripts.kind import node_files, nodeimage, podman, registry

ROOT = Path(__file__).resolve().parents[2]
KIND_CONFIG = ROOT / "stacks" / "local" / "kind.yaml"
OFFICIAL_NODE = f"docker.io/kindest/node:v{toolchain.KUBERNETES_VERSION}"
CREATE_TIMEOUT_S = 600


class KindError(podman.EngineError):
    """The cluster could not be created, reused or removed; the message says why and what to do."""


@dataclass
class Record:
    """What `up` made, so `down` removes exactly that."""

    name: str
    node_container: str
    image: str
    made_network: bool
    created_s: float = 0.0
    made: list[str] = field(default_factory=list)


def state_dir(name: str) -> Path:
    return toolchain.cache_dir() / "kind" / name


def kubeconfig_path(name: str) -> Path:
    return state_dir(name) / "kubeconfig"


def kubectl(name: str) -> list[str]:
    """kubectl on this cluster only; its discovery cache stays in our state dir, not in ~/.kube."""
    return [
        str(toolchain.binary("kubectl")),
        "--kubeconfig",
        str(kubeconfig_path(name)),
        "--cache-dir",
        str(state_dir(name) / "kube-cache"),
    ]


def _record_path(name: str) -> Path:
    return state_dir(name) / "record.json"


def read_record(name: str) -> Record | None:
    path = _record_path(name)
    return Record(**json.loads(path.read_text())) if path.exists() else None


def kind_cli() -> list[str]:
    """The toolchain's kind, built on first use (it needs Go, like every tool of the toolchain)."""
    if not toolchain.TOOLS["kind"].installed() and shutil.which("go") is None:
        raise KindError(
            f"kind is not installed and cannot be built here (no Go on PATH): install Go, then "
            f"`snap2prod toolchain --only kind` (kind v{toolchain.KIND_VERSION})"
        )
    return [str(toolchain.binary("kind"))]


def kind_env() -> dict[str, str]:
    """kind drives podman (the toolchain's, first on PATH)."""
    return {
        **os.environ,
        "KIND_EXPERIMENTAL_PROVIDER": "podman",
        "PATH": f"{Path(podman.podman_path()).parent}:" + os.environ.get("PATH", ""),
    }


def clusters() -> list[str]:
    out = subprocess.run([*kind_cli(), "get", "clusters"], capture_output=True, text=True, env=kind_env(), check=False)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def load_config(path: Path = KIND_CONFIG) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise KindError(f"cannot read the kind config {path}: {err}") from None
    if not isinstance(data, dict) or data.get("kind") != "Cluster":
        raise KindError(f"{path} is not a kind Cluster config")
    return data


def derived_config(base: dict[str, Any]) -> dict[str, Any]:
    """The user's kind config plus what these machines need: IPv4 only, kubelet on cgroup v1, our etcd tag, and
    containerd reading per-registry mirror files (the local registry is one)."""
    config: dict[str, Any] = json.loads(json.dumps(base))
    config.setdefault("networking", {})["ipFamily"] = "ipv4"
    patches = list(config.get("kubeadmConfigPatches") or [])
    patches.append("kind: KubeletConfiguration\nfailCgroupV1: false\n")
    patches.append(f"kind: ClusterConfiguration\netcd:\n  local:\n    imageTag: {nodeimage.ETCD_TAG}\n")
    config["kubeadmConfigPatches"] = patches
    containerd = list(config.get("containerdConfigPatches") or [])
    containerd.append(f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{node_files.CERTS_D}"\n')
    config["containerdConfigPatches"] = containerd
    return config


def host_ports(config: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (m.get("listenAddress", "0.0.0.0"), int(m["hostPort"]))  # noqa: S104 - kind's default
        for n in config.get("nodes", [])
        for m in n.get("extraPortMappings", [])
    ]


def _busy(address: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


def node_image(image: str | None) -> str:
    if image:
        return image
    if podman.inspect_image(OFFICIAL_NODE) is not None:
        return OFFICIAL_NODE
    return nodeimage.ensure().ref


def _log(name: str) -> Path:
    path = toolchain.cache_dir() / "logs" / f"kind-{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class UpResult:
    name: str
    kubeconfig: Path
    image: str
    created: bool
    seconds: float
    registry: str


def up(name: str | None = None, *, config_path: Path = KIND_CONFIG, image: str | None = None) -> UpResult:
    """Create the cluster (or reuse the one we made), start the local registry, wire the node to it."""
    start = time.monotonic()
    podman.podman_path()  # a clear error when there is no container engine
    base = load_config(config_path)
    name = name or str(base.get("name") or "snap2prod")
    log = _log(name)
    record = read_record(name)
    existing = name in clusters()
    if existing and (record is None or not podman.exists("container", record.node_container)):
        raise KindError(
            f"a kind cluster named {name!r} exists that snap2prod did not make; leave it alone or "
            f"delete it yourself (`kind delete cluster --name {name}`), or use another name"
        )
    created = False
    if not existing:
        config = derived_config(base)
        config["name"] = name
        for address, port in host_ports(config):
            if _busy(address, port):
                raise KindError(f"port {address}:{port} is busy ({config_path} maps the cluster to it); free it")
        if not registry.running(registry.REGISTRY) and not registry.port_free(registry.HOST_PORT):
            raise KindError(f"port 127.0.0.1:{registry.HOST_PORT} is busy (the local registry needs it); free it")
        ref = node_image(image)
        folder = state_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kind.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        made_network = registry.ensure_network(log)
        record = Record(name, f"{name}-control-plane", ref, made_network)
        _create(name, ref, folder / "kind.yaml", log)
        created = True
        record.created_s = round(time.monotonic() - start, 1)
        _record_path(name).write_text(json.dumps(asdict(record), indent=2) + "\n")
    assert record is not None
    registry.up(log)
    _wire_registry(record.node_container, log)
    return UpResult(name, kubeconfig_path(name), record.image, created, time.monotonic() - start, registry.PUSH_ADDRESS)


def _create(name: str, image: str, config: Path, log: Path) -> None:
    Path("/lib/modules").mkdir(parents=True, exist_ok=True) if os.geteuid() == 0 else None
    if not Path("/lib/modules").is_dir():
        raise KindError("/lib/modules does not exist and kind mounts it: `snap2prod toolchain --only podman` makes it")
    cmd = [
        *kind_cli(),
        "create",
        "cluster",
        "--name",
        name,
        "--image",
        image,
        "--config",
        str(config),
        "--kubeconfig",
        str(kubeconfig_path(name)),
        "--wait",
        "180s",
    ]
    print(f"kind: creating cluster {name} from {image} (~20-60 s; log: {log})", flush=True)
    with log.open("a") as out, toolchain._Ticker(f"kind create cluster {name}", 1):
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=kind_env(), check=False, timeout=CREATE_TIMEOUT_S
        )
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().strip().splitlines()[-6:])
        subprocess.run(
            [*kind_cli(), "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig_path(name))],
            capture_output=True,
            env=kind_env(),
            check=False,
        )
        raise KindError(
            f"kind create cluster failed (exit {proc.returncode}); removed what it made.\n{tail}\nfull log: {log}"
        )


def _wire_registry(node: str, log: Path) -> None:
    """containerd inside the node reads /etc/containerd/certs.d/<registry>/hosts.toml on every pull."""
    folder = f"{node_files.CERTS_D}/{registry.PUSH_ADDRESS}"
    script = f"mkdir -p '{folder}' && cat > '{folder}/hosts.toml'"
    proc = subprocess.run(
        [podman.podman_path(), "exec", "-i", node, "sh", "-c", script],
        input=registry.hosts_toml(),
        text=True,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise KindError(f"cannot write the registry mirror into node {node}: {proc.stderr.strip()}")


def down(name: str = "snap2prod") -> list[str]:
    """Remove the cluster, the registry containers and volume, and the kind network when we made it."""
    log = _log(name)
    record = read_record(name)
    removed: list[str] = []
    if name in clusters():
        if record is None:
            raise KindError(f"the kind cluster {name!r} was not made by snap2prod; it is left alone")
        subprocess.run(
            [*kind_cli(), "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig_path(name))],
            capture_output=True,
            env=kind_env(),
            check=False,
        )
        removed.append(f"cluster {name}")
    removed += registry.down(log)
    if (
        ((record is not None and record.made_network) or registry.network_is_ours())
        and podman.exists("network", registry.NETWORK)
        and not podman.run(["ps", "-aq", "--filter", f"network={registry.NETWORK}"], check=False).strip()
    ):
        podman.run(["network", "rm", registry.NETWORK], log=log)
        removed.append(f"network {registry.NETWORK}")
    for leftover in (f"{name}-control-plane",):
        if podman.exists("volume", leftover):
            podman.run(["volume", "rm", "-f", leftover], log=log)
            removed.append(f"volume {leftover}")
    for path in (_record_path(name), kubeconfig_path(name), state_dir(name) / "kind.yaml"):
        path.unlink(missing_ok=True)
    shutil.rmtree(state_dir(name) / "kube-cache", ignore_errors=True)
    return removed


@dataclass(frozen=True)
class Status:
    name: str
    exists: bool
    ours: bool
    ready: bool
    kubeconfig: Path
    registry: bool
    detail: str


def status(name: str = "snap2prod") -> Status:
    exists = name in clusters()
    record = read_record(name)
    ours = exists and record is not None
    ready, detail = False, "no cluster"
    if exists:
        out = subprocess.run(
            [*kubectl(name), "get", "nodes", "--no-headers"], capture_output=True, text=True, check=False, timeout=30
        )
        detail = (out.stdout or out.stderr).strip()
        ready = out.returncode == 0 and " Ready " in f" {detail} "
    return Status(name, exists, ours, ready, kubeconfig_path(name), registry.running(registry.REGISTRY), detail)
