"""A real KIND cluster on podman, offline: node image built from source, node Ready, up idempotent, down clean.

The module's last test takes the cluster down; tests/integration/test_promote_kind.py brings its own up.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import cli, toolchain
from scripts.kind import cluster, nodeimage, podman
from scripts.kind import registry as local

NAME = "snap2prod"
HOME_KUBE_BEFORE = (Path.home() / ".kube").exists()


def _kubectl(*args: str) -> str:
    cmd = [*cluster.kubectl(NAME), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def _node_images() -> list[str]:
    out = podman.run(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={nodeimage.NODE_REPO}"])
    return [line for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def up() -> Iterator[cluster.UpResult]:
    """`kind up` from an empty node-image cache (the image is removed first when no cluster runs)."""
    if NAME not in cluster.clusters():
        for ref in _node_images():
            podman.run(["rmi", "-f", ref], check=False)
    yield cluster.up(NAME)


def test_kind_up_builds_the_node_image_and_the_node_becomes_ready(up: cluster.UpResult) -> None:
    assert up.image.startswith(nodeimage.NODE_REPO)
    nodes = json.loads(_kubectl("get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == 1
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == f"v{toolchain.KUBERNETES_VERSION}"


def test_the_kubeconfig_is_explicit_and_home_is_untouched(up: cluster.UpResult) -> None:
    assert up.kubeconfig == cluster.kubeconfig_path(NAME) and up.kubeconfig.exists()
    assert str(toolchain.cache_dir()) in str(up.kubeconfig)
    assert not (Path.home() / ".kube").exists() or HOME_KUBE_BEFORE


def test_the_control_plane_runs_the_images_kubeadm_names(up: cluster.UpResult) -> None:
    pods = json.loads(_kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd"):
        assert any(f"/{component}:" in i for i in images), (component, images)
    assert any("coredns/coredns:v" in i for i in images)


def test_a_second_kind_up_changes_nothing(up: cluster.UpResult) -> None:
    node_id = podman.run(["container", "inspect", "--format", "{{.Id}}", f"{NAME}-control-plane"]).strip()
    again = cluster.up(NAME)
    assert not again.created
    assert podman.run(["container", "inspect", "--format", "{{.Id}}", f"{NAME}-control-plane"]).strip() == node_id


def test_status_reports_a_ready_node_and_the_registry(up: cluster.UpResult) -> None:
    assert cli.main(["kind", "status"]) == 0
    status = cluster.status(NAME)
    assert status.ready and status.ours and status.registry


def test_kind_down_leaves_no_container_volume_or_network(up: cluster.UpResult) -> None:
    assert cli.main(["kind", "down"]) == 0
    containers = podman.run(["ps", "-a", "--format", "{{.Names}}"]).split()
    assert not [c for c in containers if c.startswith(NAME) or c in local.CONTAINERS]
    volumes = podman.run(["volume", "ls", "--format", "{{.Name}}"]).split()
    assert local.VOLUME not in volumes and f"{NAME}-control-plane" not in volumes
    assert not podman.exists("network", local.NETWORK)
    assert not cluster.kubeconfig_path(NAME).exists()
    assert NAME not in cluster.clusters()
