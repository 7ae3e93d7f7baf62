"""An offline KIND node image, built once per content key (`kind build node-image` needs registries).

Follows kind's own images/base/Dockerfile and pkg/build/nodeimage: a Debian rootfs (mmdebstrap) with systemd,
containerd and runc; kind's base files; kubelet, kubeadm, kubectl from the toolchain's Kubernetes build; and the
images kubeadm needs, named exactly as `kubeadm config images list` prints them, built from source (FROM
scratch + the static binary), imported into the node's containerd at build time and pinned.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scripts import toolchain
from scripts.console import say
from scripts.kind import bases, node_files, podman
from scripts.kind.images import build_image, image_id, tree_hash

NODE_REPO = "localhost/snap2prod/kind-node"
ETCD_TAG = f"{toolchain.ETCD_VERSION}-0"
"""kubeadm 1.36 names etcd 3.6.8-0; we run the toolchain's newer 3.6.14 and tell kubeadm (ClusterConfiguration)."""
NODE = bases.Base(
    "kind-node",
    (
        "systemd",
        "systemd-sysv",
        "dbus",
        "conntrack",
        "iptables",
        "nftables",
        "iproute2",
        "ethtool",
        "util-linux",
        "mount",
        "kmod",
        "libseccomp2",
        "pigz",
        "fuse-overlayfs",
        "bash",
        "ca-certificates",
        "curl",
        "jq",
        "procps",
        "e2fsprogs",
        "containerd",
        "runc",
        "containernetworking-plugins",
        "socat",
        "ebtables",
    ),
)
NET = bases.Base("netbase", ("iptables", "nftables", "conntrack", "ipset", "kmod", "ca-certificates"))
"""kube-proxy's and kube-router's base (they program iptables/nftables and ipsets), also local-path-provisioner's
helper image (sh, mkdir)."""


class NodeImageError(podman.EngineError):
    """One step of the node-image build failed; the message names the step and its log."""


@dataclass(frozen=True)
class NodeImage:
    ref: str
    seconds: float
    cached: bool


def kind_source() -> Path:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kind@v{toolchain.KIND_VERSION}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **toolchain.go_base()},
    )
    for line in out.stdout.splitlines():
        if '"Dir":' in line:
            return Path(line.split('"')[3])
    raise NodeImageError(f"cannot find kind v{toolchain.KIND_VERSION}'s source in the module cache: {out.stderr}")


def kubeadm_images(kubeadm: Path) -> list[str]:
    """What kubeadm says it needs, with our etcd tag (the same ClusterConfiguration the cluster gets)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cfg:
        cfg.write(cluster_configuration())
        cfg.flush()
        out = subprocess.run(
            [str(kubeadm), "config", "images", "list", "--config", cfg.name],
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        raise NodeImageError(f"kubeadm config images list failed: {out.stderr.strip()}")
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def cluster_configuration() -> str:
    return (
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
        f"kubernetesVersion: v{toolchain.KUBERNETES_VERSION}\n"
        f"etcd:\n  local:\n    imageTag: {ETCD_TAG}\n"
    )


def _step(name: str, log: Path, fn: Callable[[], str]) -> str:
    """Run one named step; a failure names the step and the log."""
    start = time.monotonic()
    try:
        result = fn()
    except (podman.EngineError, toolchain.ToolchainError, OSError) as err:
        raise NodeImageError(f"node image step {name!r} failed: {err} (log: {log})") from None
    say(f"  node image: {name} ({time.monotonic() - start:.0f} s)")
    return result


def _scratch_image(ref: str, binary: Path, log: Path, *, base: str = "scratch", entry: str = "") -> str:
    """An image of one static binary in /usr/local/bin (like the official distroless ones)."""
    with tempfile.TemporaryDirectory(prefix="snap2prod-img-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(binary, ctx / binary.name)
        lines = [
            f"FROM {base}",
            f"COPY {binary.name} /usr/local/bin/{binary.name}",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        if entry:
            lines.append(f'ENTRYPOINT ["{entry}"]')
        (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
        return build_image(ref.rsplit("/", 1)[-1], ctx, ref, base, {}, log).ref


def _pause(source: Path, log: Path) -> Path:
    out = toolchain.cache_dir() / "kind" / "pause" / "pause"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["gcc", "-Os", "-static", "-DVERSION=v3.10.2", "-o", str(out), str(source / "build/pause/linux/pause.c")]
        toolchain.run(cmd, log, error=NodeImageError)
        toolchain.run(["strip", str(out)], log, error=NodeImageError)
    return out


def component_images(log: Path) -> tuple[list[str], dict[str, str]]:
    """Build every image the node needs; returns the refs and the add-ons' images (storage, network policy)."""
    kube = toolchain.ensure("kubernetes") / "bin"
    node = toolchain.ensure("kube-node") / "bin"
    net = bases.ensure(NET, log)
    k8s_src = Path(toolchain.module_dir(f"k8s.io/kubernetes@v{toolchain.KUBERNETES_VERSION}", kube.parent, log))
    refs: list[str] = []
    for ref in kubeadm_images(node / "kubeadm"):
        name = ref.rsplit("/", 1)[-1].split(":")[0]
        if name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            refs.append(_scratch_image(ref, kube / name, log))
        elif name == "kube-proxy":
            refs.append(_scratch_image(ref, node / "kube-proxy", log, base=net))
        elif name == "etcd":
            refs.append(_scratch_image(ref, toolchain.binary("etcd"), log))
        elif name == "coredns":
            refs.append(_scratch_image(ref, toolchain.binary("coredns"), log, entry="/usr/local/bin/coredns"))
        elif name == "pause":
            refs.append(_scratch_image(ref, _pause(k8s_src, log), log, entry="/usr/local/bin/pause"))
        else:
            raise NodeImageError(f"kubeadm lists an image this build does not know how to make: {ref}")
    provisioner = f"localhost/snap2prod/local-path-provisioner:v{toolchain.LOCAL_PATH_PROVISIONER_VERSION}"
    refs.append(_scratch_image(provisioner, toolchain.binary("local-path-provisioner"), log))
    helper = f"localhost/snap2prod/local-path-helper:{NET.key}"
    podman.run(["tag", net, helper], log=log)
    refs.append(helper)
    kube_router = f"localhost/snap2prod/kube-router:v{toolchain.KUBE_ROUTER_VERSION}"
    refs.append(_scratch_image(kube_router, toolchain.binary("kube-router"), log, base=net))
    return refs, {"provisioner": provisioner, "helper": helper, "kube-router": kube_router}


DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY files/ /
COPY bin/ /usr/bin/
COPY manifests/ /kind/manifests/
COPY cni/ /etc/cni/net.d/
COPY containerd-config.toml /etc/containerd/config.toml
ARG KUBE_VERSION
RUN set -eu; \\
  chmod 755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl \\
    /usr/bin/crictl; \\
  echo "v${KUBE_VERSION}" >/kind/version; \\
  for b in containerd ctr containerd-shim-runc-v2; do ln -sf /usr/bin/$b /usr/local/bin/$b; done; \\
  mkdir -p /opt/cni /etc/kubernetes/manifests; ln -sfn /usr/lib/cni /opt/cni/bin; \\
  find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete; \\
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*; \\
  echo "ReadKMsg=no" >>/etc/systemd/journald.conf; ln -sf /usr/lib/systemd/systemd /sbin/init; \\
  systemctl enable kubelet.service containerd.service undo-mount-hacks.service; \\
  systemctl mask systemd-binfmt.service; \\
  ctr oci spec \\
    | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \\
    | jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json; \\
  mkdir -p /run/containerd; (containerd >/tmp/containerd.log 2>&1 &); \\
  for i in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done; \\
  ctr -n k8s.io images import --no-unpack --all-platforms --digests /images/images.tar; \\
  for image in $(ctr -n k8s.io images ls -q); do \\
    ctr -n k8s.io images label "$image" io.cri-containerd.pinned=pinned; done; \\
  ctr -n k8s.io images ls -q | grep -c . ; \\
  pkill containerd; for i in $(seq 50); do pgrep containerd >/dev/null || break; sleep 0.2; done; \\
  rm -rf /tmp/containerd.log /run/containerd
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
STOPSIGNAL SIGRTMIN+3
"""


def node_key(kind_files: Path, image_ids: list[str], base_ref: str) -> str:
    """The node image's content key. The images it carries count by their IDs (sha256 of each image's config,
    which names every layer's digest): `podman save` of them all, then a hash of the archive, took about 5 s of
    every cold `kind up`; now the archive is made only when the node image is built."""
    parts = [DOCKERFILE, tree_hash(kind_files), *image_ids, base_ref]
    for tool in ("kube-node", "kubectl", "crictl"):
        parts.append(toolchain.TOOLS[tool].done_marker.read_text())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def ensure(log: Path | None = None) -> NodeImage:
    """The node image for the toolchain's Kubernetes; built when no image of its content key exists."""
    log = log or toolchain.cache_dir() / "logs" / "kind-node-image.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    start = time.monotonic()
    say(f"kind node image: v{toolchain.KUBERNETES_VERSION} (log: {log})")
    kind = kind_source()
    base = _step("Debian rootfs (mmdebstrap, ~2-3 min cold)", log, lambda: bases.ensure(NODE, log))
    tools = Path(_step("Kubernetes binaries (toolchain, ~10 min cold)", log, lambda: _tools(log)))
    refs, storage = _components(log)
    with tempfile.TemporaryDirectory(prefix="snap2prod-node-") as tmp:
        ctx, images = Path(tmp) / "ctx", Path(tmp) / "images"
        images.mkdir()
        shutil.copytree(kind / "images" / "base" / "files", ctx / "files")
        (ctx / "bin").mkdir()
        for binary in (tools / "kubelet", tools / "kubeadm", toolchain.binary("kubectl"), toolchain.binary("crictl")):
            shutil.copy2(binary, ctx / "bin" / binary.name)
        (ctx / "manifests").mkdir()
        (ctx / "manifests" / "default-cni.yaml").write_text(node_files.cni_manifest(storage["kube-router"]))
        storage_yaml = node_files.storage_manifest(
            kind / "pkg/build/nodeimage/const_storage.go", storage["provisioner"], storage["helper"]
        )
        (ctx / "manifests" / "default-storage.yaml").write_text(storage_yaml)
        (ctx / "cni").mkdir()
        (ctx / "cni" / node_files.CNI_CONFLIST).write_text(node_files.cni_conflist())
        pause = next(r for r in refs if "/pause:" in r)
        kind_containerd = (kind / "images/base/files/etc/containerd/config.toml").read_text()
        (ctx / "containerd-config.toml").write_text(node_files.containerd_config(kind_containerd, pause))
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        key = node_key(ctx / "files", [f"{r}@{_local_id(r)}" for r in refs], base)
        ref = f"{NODE_REPO}:v{toolchain.KUBERNETES_VERSION}-{key}"
        if podman.inspect_image(ref) is not None:
            say(f"  node image: {ref} (cached)")
            return NodeImage(ref, time.monotonic() - start, cached=True)
        _step(
            "save the images for the node",
            log,
            lambda: podman.run(
                ["save", "--quiet", "-m", "--format", "docker-archive", "-o", str(images / "images.tar"), *refs],
                log=log,
            ),
        )
        _step(
            "assemble the node image and import the images into its containerd",
            log,
            lambda: podman.run(
                [
                    "build",
                    "--network",
                    "none",
                    "--format",
                    "docker",
                    "--build-arg",
                    f"BASE={base}",
                    "--build-arg",
                    f"KUBE_VERSION={toolchain.KUBERNETES_VERSION}",
                    "--volume",
                    f"{images}:/images:ro",
                    "-t",
                    ref,
                    str(ctx),
                ],
                log=log,
            ),
        )
    seconds = time.monotonic() - start
    toolchain.note_build("kind node image", seconds)
    say(f"kind node image: {ref} built in {seconds:.0f} s")
    return NodeImage(ref, seconds, cached=False)


def _local_id(ref: str) -> str:
    found = podman.inspect_image(ref)
    if found is None:
        raise NodeImageError(f"image {ref} is not in the local store although it was just made")
    return image_id(found)


def _tools(log: Path) -> str:
    for tool in (
        "kubernetes",
        "kube-node",
        "kubectl",
        "etcd",
        "coredns",
        "crictl",
        "local-path-provisioner",
        "kube-router",
    ):
        toolchain.ensure(tool)
    return str(toolchain.TOOLS["kube-node"].home / "bin")


def _components(log: Path) -> tuple[list[str], dict[str, str]]:
    result: list[tuple[list[str], dict[str, str]]] = []

    def build() -> str:
        result.append(component_images(log))
        return ""

    _step("component images (kubeadm config images list)", log, build)
    return result[0]
