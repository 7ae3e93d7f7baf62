"""`snap2prod kind up / down / status`: the KIND cluster of stacks/local/kind.yaml, on podman, offline.

With `--gpus N` the cluster gets one more node, a worker shaped like a GPU node (scripts/kind/gpu.py).
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
from scripts.console import say
from scripts.gpu_shape import DEFAULT_PRODUCT, SimSpec
from scripts.kind import gpu, node_files, nodeimage, podman, registry
from scripts.processes import can_listen

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
    nodes: list[str] = field(default_factory=list)
    """Every node container (empty in records made before the GPU worker: the control-plane only)."""
    gpu: dict[str, Any] | None = None
    """The GPU shape (SimSpec fields) the cluster was made with; fixed for its life."""
    gpu_node: str = ""


def node_containers(record: Record) -> list[str]:
    return record.nodes or [record.node_container]


def state_dir(name: str) -> Path:
    return toolchain.cache_dir() / "kind" / name


def kubeconfig_path(name: str) -> Path:
    return state_dir(name) / "kubeconfig"


def kubectl(name: str) -> list[str]:
    """kubectl on this cluster only (its discovery cache goes where ``paths.keep_kube_caches_in_our_cache`` says)."""
    return [str(toolchain.binary("kubectl")), "--kubeconfig", str(kubeconfig_path(name))]


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


def default_name(path: Path = KIND_CONFIG) -> str:
    """The cluster's name when none is given: the one stacks/local/kind.yaml names (up, down and status agree)."""
    return str(load_config(path).get("name") or "snap2prod")


def load_config(path: Path = KIND_CONFIG) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise KindError(f"cannot read the kind config {path}: {err}") from None
    if not isinstance(data, dict) or data.get("kind") != "Cluster":
        raise KindError(f"{path} is not a kind Cluster config")
    return data


def derived_config(base: dict[str, Any], spec: SimSpec | None = None) -> dict[str, Any]:
    """The user's kind config plus what these machines need: IPv4 only, kubelet on cgroup v1, our etcd tag, and
    containerd reading per-registry mirror files (the local registry is one). With a GPU shape: the GPU worker,
    and a control-plane that stays schedulable as in a one-node cluster (the app runs there)."""
    config: dict[str, Any] = json.loads(json.dumps(base))
    config.setdefault("networking", {})["ipFamily"] = "ipv4"
    patches = list(config.get("kubeadmConfigPatches") or [])
    patches.append("kind: KubeletConfiguration\nfailCgroupV1: false\n")
    patches.append(f"kind: ClusterConfiguration\netcd:\n  local:\n    imageTag: {nodeimage.ETCD_TAG}\n")
    if spec is not None:
        patches.append(gpu.CONTROL_PLANE_SCHEDULABLE)
        config["nodes"] = [*config.get("nodes", []), gpu.worker_node(spec)]
    config["kubeadmConfigPatches"] = patches
    containerd = list(config.get("containerdConfigPatches") or [])
    containerd.append(f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{node_files.CERTS_D}"\n')
    config["containerdConfigPatches"] = containerd
    return config


def node_names(config: dict[str, Any], name: str) -> list[str]:
    """The node (and container) names kind gives: <name>-<role>, then <name>-<role>2, ... per role."""
    seen: dict[str, int] = {}
    names = []
    for node in config.get("nodes") or [{"role": "control-plane"}]:
        role = str(node.get("role", "control-plane"))
        seen[role] = seen.get(role, 0) + 1
        names.append(f"{name}-{role}{seen[role] if seen[role] > 1 else ''}")
    return names


def pod_network(nodes: list[dict[str, Any]]) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Per node (from `kubectl get nodes -o json`): its pod subnet, and a route to every other node's pods via
    that node's address, which is what kindnetd does; our node image's static bridge knows one node only."""
    found = {}
    for node in nodes:
        address = next((a["address"] for a in node["status"].get("addresses", []) if a["type"] == "InternalIP"), "")
        subnet = node["spec"].get("podCIDR", "")
        if not address or not subnet:
            raise KindError(f"node {node['metadata']['name']} has no address or pod subnet yet; run `up` again")
        found[node["metadata"]["name"]] = (subnet, address)
    return {
        name: (subnet, [(other, via) for peer, (other, via) in found.items() if peer != name])
        for name, (subnet, _) in found.items()
    }


def host_ports(config: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (m.get("listenAddress", "0.0.0.0"), int(m["hostPort"]))  # noqa: S104 - kind's default
        for n in config.get("nodes", [])
        for m in n.get("extraPortMappings", [])
    ]


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
    gpu: SimSpec | None = None


def up(
    name: str | None = None,
    *,
    config_path: Path = KIND_CONFIG,
    image: str | None = None,
    gpus: int = 0,
    gpu_product: str = DEFAULT_PRODUCT,
    mig: str | None = None,
    gpu_memory_mib: int | None = None,
) -> UpResult:
    """Create the cluster (or reuse the one we made with the same GPU shape), start the local registry, wire the
    nodes to it; with GPUs, make the worker advertise them."""
    start = time.monotonic()
    spec = gpu.shape(gpus, gpu_product, mig, gpu_memory_mib)  # bad flags fail before anything is touched
    podman.podman_path()  # a clear error when there is no container engine
    base = load_config(config_path)
    name = name or default_name(config_path)
    log = _log(name)
    record = read_record(name)
    existing = name in clusters()
    if existing and (record is None or not podman.exists("container", record.node_container)):
        raise KindError(
            f"a kind cluster named {name!r} exists that snap2prod did not make; leave it alone or "
            f"delete it yourself (`kind delete cluster --name {name}`), or use another name"
        )
    if existing and record is not None and (wrong := gpu.mismatch(name, gpu.from_record(record.gpu), spec)):
        raise KindError(wrong)
    created = False
    if not existing:
        config = derived_config(base, spec)
        config["name"] = name
        for address, port in host_ports(config):
            if not can_listen(port, address):
                raise KindError(f"port {address}:{port} is busy ({config_path} maps the cluster to it); free it")
        if not registry.running(registry.REGISTRY) and not can_listen(registry.HOST_PORT):
            raise KindError(f"port 127.0.0.1:{registry.HOST_PORT} is busy (the local registry needs it); free it")
        ref = node_image(image)
        folder = state_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kind.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        made_network = registry.ensure_network(log)
        nodes = node_names(config, name)
        record = Record(name, f"{name}-control-plane", ref, made_network, nodes=nodes, gpu=gpu.as_record(spec))
        record.gpu_node = nodes[-1] if spec else ""
        _create(name, ref, folder / "kind.yaml", log)
        created = True
        record.created_s = round(time.monotonic() - start, 1)
        _record_path(name).write_text(json.dumps(asdict(record), indent=2) + "\n")
    assert record is not None
    registry.up(log)
    for node in node_containers(record):
        _wire_registry(node, log)
    if len(node_containers(record)) > 1:
        _wire_pod_network(name)
    _wait_for_network_policies(name, log)
    _dns_asks_the_kind_network_first(name, log)
    if spec is not None:
        gpu.advertise(kubectl(name), record.gpu_node, spec, log)
    seconds = time.monotonic() - start
    return UpResult(name, kubeconfig_path(name), record.image, created, seconds, registry.PUSH_ADDRESS, spec)


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
    say(f"kind: creating cluster {name} from {image} (~20-60 s; log: {log})")
    try:
        with toolchain.Ticker(f"kind create cluster {name}", 1):
            toolchain.run(
                cmd, log, env=kind_env(), timeout=CREATE_TIMEOUT_S, what="kind create cluster failed", error=KindError
            )
    except KindError as err:
        subprocess.run(
            [*kind_cli(), "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig_path(name))],
            capture_output=True,
            env=kind_env(),
            check=False,
        )
        headline, rest = str(err).split("\n", 1)  # "kind create cluster failed (exit N)", then the tail and the log
        raise KindError(f"{headline}; removed what it made.\n{rest}") from None


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


def _wire_pod_network(name: str) -> None:
    """Each node's bridge on its own pod subnet, routes to the others' (only on our node image, whose CNI is the
    static bridge; kind's own image runs kindnetd, which does this itself)."""
    out = subprocess.run(
        [*kubectl(name), "get", "nodes", "-o", "json"], capture_output=True, text=True, check=False, timeout=60
    )
    if out.returncode != 0:
        raise KindError(f"cannot list the nodes of cluster {name}: {out.stderr.strip()}")
    conflist = f"/etc/cni/net.d/{node_files.CNI_CONFLIST}"
    for node, (subnet, routes) in pod_network(json.loads(out.stdout)["items"]).items():
        ip_routes = "".join(f" && ip route replace {cidr} via {via}" for cidr, via in routes)
        # the bridge's ipMasq hides every pod outside its own subnet behind the node's address; pod to pod keeps
        # its source, or NetworkPolicies (which select pods by address) see the node instead of the app
        keep = [f"-s {subnet} -d {cidr} -j RETURN" for cidr, _ in routes]
        no_masq = "".join(
            f" && {{ iptables -t nat -C POSTROUTING {r} || iptables -t nat -I POSTROUTING 1 {r}; }}" for r in keep
        )
        script = (
            f"[ ! -f {conflist} ] || {{ cat > {conflist}.new && mv {conflist}.new {conflist}{ip_routes}{no_masq}; }}"
        )
        proc = subprocess.run(
            [podman.podman_path(), "exec", "-i", node, "sh", "-c", script],
            input=node_files.cni_conflist(subnet),
            text=True,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise KindError(f"cannot wire the pod network of node {node}: {proc.stderr.strip()}")


def _wait_for_network_policies(name: str, log: Path) -> None:
    """Until kube-router runs on every node, NetworkPolicies are rendered but not enforced (our node image only;
    kind's own runs kindnetd)."""
    base = [*kubectl(name), "-n", "kube-system"]
    daemonset = f"daemonset/{node_files.NETWORK_POLICY_DAEMONSET}"
    if subprocess.run([*base, "get", daemonset], capture_output=True, check=False, timeout=60).returncode != 0:
        return
    with log.open("a") as out:
        proc = subprocess.run(
            [*base, "rollout", "status", daemonset, "--timeout=180s"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=200,
        )
    if proc.returncode != 0:
        raise KindError(
            f"kube-router, which enforces NetworkPolicies, is not running on every node of cluster {name} after "
            f"180 s; see `kubectl --kubeconfig {kubeconfig_path(name)} -n kube-system logs {daemonset}` and {log}"
        )


FORWARD = "forward . /etc/resolv.conf {"


def _dns_asks_the_kind_network_first(name: str, log: Path) -> None:
    """CoreDNS forwards what is not the cluster's to the node's resolv.conf: podman's DNS on the kind network
    (which knows the registry's containers, and asks this machine's resolvers for the rest), then this machine's
    resolver. kubeadm's Corefile picks one of them at random, and this machine's resolver answers "no such host"
    for a container's name, an answer CoreDNS caches: the Ollama pod's init container then cannot find the blob
    server for minutes. `policy sequential` asks the kind network's DNS first, the other only if it fails."""
    base = [*kubectl(name), "-n", "kube-system"]
    got = subprocess.run(
        [*base, "get", "configmap", "coredns", "-o", "json"], capture_output=True, text=True, timeout=60
    )
    if got.returncode != 0:
        return  # no CoreDNS of kubeadm's: nothing to change
    corefile = str(json.loads(got.stdout)["data"].get("Corefile", ""))
    if "policy sequential" in corefile or FORWARD not in corefile:
        return
    patched = corefile.replace(FORWARD, f"{FORWARD}\n       policy sequential", 1)
    patch = json.dumps({"data": {"Corefile": patched}})
    with log.open("a") as out:
        for args in (
            ["patch", "configmap", "coredns", "--type", "merge", "-p", patch],
            ["rollout", "restart", "deployment/coredns"],
            ["rollout", "status", "deployment/coredns", "--timeout=120s"],
        ):
            proc = subprocess.run([*base, *args], stdout=out, stderr=subprocess.STDOUT, check=False, timeout=150)
            if proc.returncode != 0:
                raise KindError(f"cannot make CoreDNS of cluster {name} ask the kind network first; see {log}")


def down(name: str | None = None) -> list[str]:
    """Remove the cluster, then the registry containers and volume and the kind network (when we made it) unless
    another cluster we made still uses them."""
    name = name or default_name()
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
    if others := [c for c in clusters() if c != name and read_record(c) is not None]:
        with log.open("a") as out:
            out.write(f"the registry and the {registry.NETWORK} network stay: {', '.join(others)} use them\n")
    else:
        removed += registry.down(log)
    if (
        not others
        and ((record is not None and record.made_network) or registry.network_is_ours())
        and podman.exists("network", registry.NETWORK)
        and not podman.run(["ps", "-aq", "--filter", f"network={registry.NETWORK}"], check=False).strip()
    ):
        podman.run(["network", "rm", registry.NETWORK], log=log)
        removed.append(f"network {registry.NETWORK}")
    for leftover in node_containers(record) if record else [f"{name}-control-plane"]:
        if podman.exists("volume", leftover):
            podman.run(["volume", "rm", "-f", leftover], log=log)
            removed.append(f"volume {leftover}")
    for path in (_record_path(name), kubeconfig_path(name), state_dir(name) / "kind.yaml"):
        path.unlink(missing_ok=True)
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
    gpu: str = "no GPUs"


def status(name: str | None = None) -> Status:
    name = name or default_name()
    exists = name in clusters()
    record = read_record(name)
    ours = exists and record is not None
    ready, detail = False, "no cluster"
    if exists:
        out = subprocess.run(
            [*kubectl(name), "get", "nodes", "--no-headers"], capture_output=True, text=True, check=False, timeout=30
        )
        detail = (out.stdout or out.stderr).strip()
        rows = [line.split() for line in detail.splitlines()]
        ready = out.returncode == 0 and bool(rows) and all(len(row) > 1 and row[1] == "Ready" for row in rows)
    shape = gpu.describe(gpu.from_record(record.gpu)) if record else "no GPUs"
    return Status(name, exists, ours, ready, kubeconfig_path(name), registry.running(registry.REGISTRY), detail, shape)
