"""A real KIND cluster on podman, offline, and `promote --to kind` onto it, in the order an operator goes.

`kind up` builds the node image from an empty node-image cache (removed first when no cluster runs) and the node
becomes Ready; a second `up` changes nothing. Then `promote --to kind` for real: images by digest from the local
registry, models pulled from its mirror by the init container, probes by a real kubelet, verify through the API
server's service proxy, helm test inference — from nothing, again (a no-op), an upgrade adding a model, and a
digest the mirror does not serve, rolled back. Last, `kind down` leaves no container, volume or network.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.gateway import OllamaGateway
from app.lock import Lock, pin, read_lock, write_lock
from scripts import cli, toolchain
from scripts.kind import cluster, nodeimage, podman
from scripts.kind import registry as local
from scripts.kube import new_client
from scripts.promote import verify
from tests.kube import wait_for

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
    def running_images() -> set[str]:
        pods = json.loads(_kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
        return {c["image"] for p in pods if p["status"].get("phase") == "Running" for c in p["spec"]["containers"]}

    wanted = (
        "/kube-apiserver:",
        "/kube-controller-manager:",
        "/kube-scheduler:",
        "/kube-proxy:",
        "/etcd:",
        "/coredns/coredns:",
    )

    def all_running() -> set[str] | None:
        images = running_images()
        return images if all(any(w in i for i in images) for w in wanted) else None

    images = wait_for("every image kubeadm names, running", all_running, timeout_s=120)
    assert any(f"/etcd:{nodeimage.ETCD_TAG}" in i for i in images)


def test_a_second_kind_up_changes_nothing(up: cluster.UpResult) -> None:
    node_id = podman.run(["container", "inspect", "--format", "{{.Id}}", f"{NAME}-control-plane"]).strip()
    again = cluster.up(NAME)
    assert not again.created
    assert podman.run(["container", "inspect", "--format", "{{.Id}}", f"{NAME}-control-plane"]).strip() == node_id


def test_status_reports_a_ready_node_and_the_registry(up: cluster.UpResult) -> None:
    assert cli.main(["kind", "status"]) == 0
    status = cluster.status(NAME)
    assert status.ready and status.ours and status.registry


NAMESPACE = "snap2prod-kind-test"
TIMEOUT = "900"


@pytest.fixture(scope="module")
def lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kind-lock")


def _promote(kind: cluster.UpResult, lock: Path, host: str, tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    report = tmp / f"report-{uuid.uuid4().hex[:6]}.json"
    argv = [
        "promote",
        "--to",
        "kind",
        "-n",
        NAMESPACE,
        "--lock",
        str(lock),
        "--host",
        host,
        "--timeout",
        TIMEOUT,
        "--report",
        str(report),
        *args,
    ]
    code = cli.main(argv)
    return code, json.loads(report.read_text())


def _pods(kind: cluster.UpResult) -> list[Any]:
    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    try:
        from kubernetes import client

        return list(client.CoreV1Api(api).list_namespaced_pod(NAMESPACE).items)
    finally:
        api.close()


def _cluster_models(kind: cluster.UpResult) -> set[str]:
    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    try:
        gateway = verify.cluster_ollama(api, NAMESPACE, "snap2prod-ollama")
        try:
            return {m.name for m in gateway.list_models()}
        finally:
            gateway.close()
    finally:
        api.close()


def test_promote_from_nothing_runs_the_stack_with_real_probes_and_real_inference(
    up: cluster.UpResult,
    gateway: OllamaGateway,
    ollama_host: str,
    vision_model: str,
    lock_dir: Path,
    tmp_path: Path,
) -> None:
    lock = write_lock(
        Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [vision_model]))), lock_dir / "models.lock"
    )
    code, report = _promote(up, lock, ollama_host, tmp_path)
    assert code == 0, report["error"]
    assert report["outcome"] == "promoted"
    assert report["app_image"].startswith("localhost:5001/snap2prod/app@sha256:")
    assert "localhost:5001/snap2prod/ollama:" in report["ollama_image"]
    assert report["verify"]["models"] == "1 locked model(s) served with their digests"
    assert report["verify"]["helm_test"] == "passed (real inference on the fixture picture)"
    pods = [p for p in _pods(up) if p.metadata.labels.get("app.kubernetes.io/component") in ("app", "ollama")]
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running"
        assert all(c.ready for c in pod.status.container_statuses)
    assert _cluster_models(up) == {m.ref for m in read_lock(lock).models}


def test_promote_again_changes_nothing(up: cluster.UpResult, ollama_host: str, lock_dir: Path, tmp_path: Path) -> None:
    code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path)
    assert code == 0, report["error"]
    assert report["outcome"] == "unchanged"
    assert report["revision"] == report["previous_revision"]
    assert report["verify"]["models"].endswith("locked model(s) served with their digests")  # still checked live
    assert report["verify"]["helm_test"].startswith(f"passed for revision {report['revision']} when it was rolled")


def test_an_upgrade_that_adds_a_model_pulls_it_from_the_mirror(
    up: cluster.UpResult,
    gateway: OllamaGateway,
    ollama_host: str,
    text_model: str,
    lock_dir: Path,
    tmp_path: Path,
) -> None:
    lock_path = lock_dir / "models.lock"
    lock = read_lock(lock_path)
    write_lock(lock.merged(pin(gateway, [text_model]), gateway.version()), lock_path)
    code, report = _promote(up, lock_path, ollama_host, tmp_path)
    assert code == 0, report["error"]
    assert report["outcome"] == "promoted" and report["revision"] == report["previous_revision"] + 1
    assert report["verify"]["models"] == "2 locked model(s) served with their digests"
    assert _cluster_models(up) == {m.ref for m in read_lock(lock_path).models}


def test_a_digest_the_mirror_does_not_serve_fails_the_init_container_and_is_rolled_back(
    up: cluster.UpResult, ollama_host: str, text_model: str, lock_dir: Path, tmp_path: Path
) -> None:
    lock = read_lock(lock_dir / "models.lock")
    bogus = "sha256:" + "5" * 64
    models = tuple(
        m.model_copy(update={"digest": bogus, "mirror_digest": None}) if m.ref == text_model else m for m in lock.models
    )
    bad = write_lock(lock.model_copy(update={"models": models}), tmp_path / "bad.lock")
    before = _cluster_models(up)
    code, report = _promote(up, bad, ollama_host, tmp_path, "--from-lock", "--timeout", "150")
    assert code == 6, report
    assert report["outcome"] == "RolloutFailed"
    assert "rolled back" in report["error"]
    assert _cluster_models(up) == before  # the previous revision answers a real request again


def test_kind_down_leaves_no_container_volume_or_network(up: cluster.UpResult) -> None:
    assert cli.main(["kind", "down"]) == 0
    containers = podman.run(["ps", "-a", "--format", "{{.Names}}"]).split()
    assert not [c for c in containers if c.startswith(NAME) or c in local.CONTAINERS]
    volumes = podman.run(["volume", "ls", "--format", "{{.Name}}"]).split()
    assert local.VOLUME not in volumes and f"{NAME}-control-plane" not in volumes
    assert not podman.exists("network", local.NETWORK)
    assert not cluster.kubeconfig_path(NAME).exists()
    assert NAME not in cluster.clusters()
