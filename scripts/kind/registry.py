"""The local registry: containers on the KIND network, on one volume, published on loopback for pushes.

- ``snap2prod-registry`` (CNCF distribution, plain): podman pushes images to it at ``localhost:5001``, the node's
  containerd pulls them by the same name (a hosts.toml maps ``localhost:5001`` to it inside the node).
- ``snap2prod-models`` (the same registry on the same storage, with the ``redirect`` middleware): the Ollama
  pod's init container pulls the locked models from it; Ollama only downloads a blob through a redirect to
  another host name, so blob GETs go to
- ``snap2prod-blobs``: a Range-capable static file server over the storage (scripts/kind/blobs.py).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scripts import toolchain
from scripts.kind import bases, podman
from scripts.kind.images import build_image
from scripts.processes import can_listen

NETWORK = "kind"
VOLUME = "snap2prod-registry"
REGISTRY = "snap2prod-registry"
MODELS = "snap2prod-models"
BLOBS = "snap2prod-blobs"
CONTAINERS = (REGISTRY, MODELS, BLOBS)
BLOBS_PORT = 8080
HOST_PORT = 5001
PUSH_ADDRESS = f"localhost:{HOST_PORT}"
"""The name images are pushed to and pulled by, on the host and (mapped by containerd) inside the node."""
NODE_ENDPOINT = f"http://{REGISTRY}:5000"
MODELS_ADDRESS = f"{MODELS}:5000"
"""Where pods pull the locked models from (plain HTTP inside the KIND network)."""
STORAGE = "/var/lib/registry"
LABEL = "io.snap2prod.owner=kind"


@dataclass(frozen=True)
class Endpoints:
    push: str
    node: str
    models: str


def state() -> Path:
    path = toolchain.cache_dir() / "kind" / "registry"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config(port: int, redirect_to: str | None) -> str:
    middleware = (
        f"middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {redirect_to}\n"
        if redirect_to
        else ""
    )
    return (
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {STORAGE}\n  delete:\n    enabled: true\n"
        f"{middleware}http:\n  addr: 0.0.0.0:{port}\n"
    )


def registry_image(log: Path) -> str:
    """FROM scratch + the toolchain's static distribution binary (built with CGO off)."""
    binary = toolchain.binary("distribution", "registry")
    with tempfile.TemporaryDirectory(prefix="snap2prod-registry-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(binary, ctx / "registry")
        (ctx / "Dockerfile").write_text(
            'FROM scratch\nCOPY registry /registry\nUSER 10001:10001\nENTRYPOINT ["/registry", "serve"]\n'
        )
        ref = f"localhost/snap2prod/registry:{toolchain.DISTRIBUTION_VERSION}"
        return build_image("registry", ctx, ref, "scratch", {}, log).ref


def running(name: str) -> bool:
    out = podman.run(["container", "inspect", "--format", "{{.State.Running}}", name], check=False)
    return out.strip() == "true"


def up(log: Path) -> Endpoints:
    """Start (or keep) the three containers on the KIND network; wait until the registry answers."""
    ensure_network(log)
    if not running(REGISTRY) and not can_listen(HOST_PORT):
        raise podman.EngineError(f"port {HOST_PORT} on 127.0.0.1 is busy: the local registry needs it; free it")
    image = registry_image(log)
    python = bases.ensure(bases.PYTHON, log)
    folder = state()
    (folder / "plain.yml").write_text(config(5000, None))
    (folder / "models.yml").write_text(config(5000, f"http://{BLOBS}:{BLOBS_PORT}"))
    shutil.copy2(Path(__file__).with_name("blobs.py"), folder / "blobs.py")
    if not podman.exists("volume", VOLUME):
        podman.run(["volume", "create", "--label", LABEL, VOLUME], log=log)
        # the registry runs as 10001: hand it the fresh volume
        podman.run(
            ["run", "--rm", "--network", "none", "-v", f"{VOLUME}:{STORAGE}", python, "chown", "10001:10001", STORAGE],
            log=log,
        )
    common = ["--detach", "--label", LABEL, "--network", NETWORK, "--restart", "unless-stopped"]
    specs = {
        REGISTRY: [
            *common,
            "-p",
            f"127.0.0.1:{HOST_PORT}:5000",
            "-v",
            f"{VOLUME}:{STORAGE}",
            "-v",
            f"{folder / 'plain.yml'}:/config.yml:ro",
            image,
            "/config.yml",
        ],
        MODELS: [
            *common,
            "-v",
            f"{VOLUME}:{STORAGE}:ro",
            "-v",
            f"{folder / 'models.yml'}:/config.yml:ro",
            image,
            "/config.yml",
        ],
        BLOBS: [
            *common,
            "--user",
            "10001:10001",
            "-v",
            f"{VOLUME}:{STORAGE}:ro",
            "-v",
            f"{folder / 'blobs.py'}:/blobs.py:ro",
            python,
            "python3",
            "/blobs.py",
            STORAGE,
            str(BLOBS_PORT),
        ],
    }
    for name, args in specs.items():
        if running(name):
            continue
        podman.run(["rm", "-f", name], log=log, check=False)
        podman.run(["run", "--name", name, *args], log=log)
    wait(f"http://127.0.0.1:{HOST_PORT}/v2/", 30)
    return Endpoints(PUSH_ADDRESS, NODE_ENDPOINT, MODELS_ADDRESS)


def wait(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError as err:
            last = str(err)
        time.sleep(0.3)
    raise podman.EngineError(f"the local registry did not answer at {url} within {timeout_s:g} s ({last})")


def down(log: Path) -> list[str]:
    """Remove the containers and the volume; returns what was removed."""
    removed = []
    for name in CONTAINERS:
        if podman.exists("container", name):
            podman.run(["rm", "-f", "-t", "2", name], log=log)
            removed.append(f"container {name}")
    if podman.exists("volume", VOLUME):
        podman.run(["volume", "rm", "-f", VOLUME], log=log)
        removed.append(f"volume {VOLUME}")
    return removed


def ensure_network(log: Path) -> bool:
    """The `kind` network, IPv4 only (kind uses an existing network of this name). Left to kind, it gets an IPv6
    subnet too, and pods (IPv4 only) then fail to reach the registry's containers by name. True when made here."""
    if podman.exists("network", NETWORK):
        return False
    podman.run(["network", "create", "--label", LABEL, NETWORK], log=log)
    return True


def gateway_address() -> str:
    """This machine's IPv4 address on the kind network: where pods reach a server running on the host."""
    out = podman.run(["network", "inspect", "--format", "{{range .Subnets}}{{.Gateway}} {{end}}", NETWORK])
    for address in out.split():
        if ":" not in address:
            return address
    raise podman.EngineError(f"the {NETWORK} network has no IPv4 gateway ({out.strip() or 'no subnets'})")


def container_address(name: str) -> str:
    """A container's IPv4 address on the kind network."""
    fmt = f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
    address = podman.run(["container", "inspect", "--format", fmt, name], check=False).strip()
    if not address or "<no value>" in address:
        raise podman.EngineError(f"the {name} container has no address on the {NETWORK} network: is it running?")
    return address


def mirror_egress() -> dict[str, Any]:
    """The Ollama pod's egress to the model mirror (the chart's ``networkPolicy.mirror``): the redirecting
    registry and the blob server it redirects to, each by its address on the kind network, on its port. Nothing
    else on that network (the node, the plain registry, any other container) is in it."""
    peers = [{"ipBlock": {"cidr": f"{container_address(name)}/32"}} for name in (MODELS, BLOBS)]
    return {"to": peers, "ports": [{"port": 5000, "protocol": "TCP"}, {"port": BLOBS_PORT, "protocol": "TCP"}]}


def network_is_ours() -> bool:
    out = podman.run(["network", "inspect", "--format", "{{.Labels}}", NETWORK], check=False)
    return "io.snap2prod.owner:kind" in out


def hosts_toml() -> str:
    """containerd's mirror config inside the node: ``localhost:5001`` is the registry container."""
    return f'server = "{NODE_ENDPOINT}"\n\n[host."{NODE_ENDPOINT}"]\n  capabilities = ["pull", "resolve"]\n'
