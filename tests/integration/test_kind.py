"""A real KIND cluster on podman, offline, and `promote --to kind` onto it, in the order an operator goes.

The cluster is the run's one KIND cluster (tests/integration/conftest.py `kind_cluster`): `kind up` used the node
image of the toolchain's current content key, built when it was missing, and the nodes became Ready; a second `up`
changes nothing. Then `promote --to kind` for real on the control plane: images by digest from the local registry,
models pulled from its mirror by the init container, probes by a real kubelet, verify through a port-forward, helm
test inference — from nothing, again (a no-op), an upgrade adding a model, a digest the mirror does not serve
(stopped at the init container's second failure and rolled back), and a failed first install (removed). The
module's release is uninstalled at its end (the production rehearsal of test_kind_gpu needs the node port), and
test_kind_gpu's last test checks that `kind down` leaves no container, volume or network.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, expect, sync_playwright

from app.gateway import OllamaGateway
from app.lock import Lock, pin, read_lock, write_lock
from bench import kind as kind_bench
from scripts import cli, toolchain
from scripts.demo import ollama_server
from scripts.kind import cluster, nodeimage, podman
from scripts.kind import registry as local
from scripts.kube import new_client
from scripts.paths import STACKS
from scripts.processes import free_port
from scripts.promote import verify
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.e2e.test_page_browser import VIDEO_PLAYING, write_y4m
from tests.kind_cluster import KIND_GPUS, KIND_NAME, KindRun, node_images
from tests.kube import wait_for

NAME = KIND_NAME


def _kubectl(*args: str) -> str:
    cmd = [*cluster.kubectl(NAME), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def up(kind_cluster: KindRun) -> Iterator[cluster.UpResult]:
    """The shared cluster; this module's release goes at its end, so the node port is free for the next module."""
    yield kind_cluster.up
    helm = [str(toolchain.binary("helm")), "--kubeconfig", str(kind_cluster.up.kubeconfig)]
    subprocess.run([*helm, "uninstall", "snap2prod", "-n", NAMESPACE, "--wait"], capture_output=True, check=False)
    subprocess.run([*cluster.kubectl(NAME), "delete", "namespace", NAMESPACE, "--wait=false"], capture_output=True)


def test_kind_up_uses_the_node_image_of_the_current_key_built_when_missing_and_the_nodes_become_ready(
    kind_cluster: KindRun, up: cluster.UpResult
) -> None:
    assert up.image.startswith(f"{nodeimage.NODE_REPO}:v{toolchain.KUBERNETES_VERSION}-")
    if up.image not in kind_cluster.node_images_before:  # missing before `kind up`: it was built, and is here now
        assert up.image in node_images()
    again = nodeimage.ensure()  # the inputs' content key names the image the cluster runs, and it is cached
    assert (again.ref, again.cached) == (up.image, True)
    nodes = json.loads(_kubectl("get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [f"{NAME}-control-plane", f"{NAME}-worker"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{toolchain.KUBERNETES_VERSION}"


def test_the_kubeconfig_is_explicit(up: cluster.UpResult) -> None:
    """`~/.kube` itself is guarded for the whole run by tests/conftest.py and proven by test_sim's
    `test_kubectl_and_helm_keep_their_caches_out_of_home`."""
    assert up.kubeconfig == cluster.kubeconfig_path(NAME) and up.kubeconfig.exists()
    assert up.kubeconfig.is_relative_to(toolchain.cache_dir())


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
    again = cluster.up(NAME, gpus=KIND_GPUS)
    assert not again.created
    assert podman.run(["container", "inspect", "--format", "{{.Id}}", f"{NAME}-control-plane"]).strip() == node_id


def test_status_reports_a_ready_node_and_the_registry(up: cluster.UpResult) -> None:
    assert cli.main(["kind", "status"]) == 0
    status = cluster.status(NAME)
    assert status.ready and status.ours and status.registry


NAMESPACE = "snap2prod-kind-test"
TIMEOUT = "900"
KEYNOTE = STACKS / "local" / "values-keynote.yaml"
PAGE_TIMEOUT_MS = 180_000


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


def _pods(kind: cluster.UpResult, namespace: str = NAMESPACE) -> list[Any]:
    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    try:
        from kubernetes import client

        return list(client.CoreV1Api(api).list_namespaced_pod(namespace).items)
    finally:
        api.close()


def _cluster_models(kind: cluster.UpResult) -> set[str]:
    with verify.cluster_ollama(kind.kubeconfig, f"kind-{kind.name}", NAMESPACE, "snap2prod-ollama", 11434) as gateway:
        return {m.name for m in gateway.list_models()}


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


@contextlib.contextmanager
def _photo_on_the_kind_page(tmp_path: Path, ollama_url: str) -> Iterator[Page]:
    """Real Chromium with a fake camera on the page the app pod serves, once it names ``ollama_url``: Take Photo."""
    # its own Playwright, closed before the next test: its event loop would break pyhelm3's asyncio.run
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(toolchain.binary("chromium")),
            headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={write_y4m(tmp_path / 'camera.y4m')}"],
        )
        try:
            page = browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(kind_bench.page_url())
            expect(page.get_by_text(f"reachable at {ollama_url}")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
            page.wait_for_function(VIDEO_PLAYING, timeout=PAGE_TIMEOUT_MS)
            page.get_by_role("button", name="Take Photo").click(timeout=PAGE_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _take_photo_on_the_kind_page(tmp_path: Path, ollama_url: str) -> tuple[str, float]:
    """The photo described: its caption and the TTFT the page shows."""
    with _photo_on_the_kind_page(tmp_path, ollama_url) as page:
        description = page.locator(".st-key-description")
        expect(description).to_contain_text("capture #1 · ", timeout=PAGE_TIMEOUT_MS)
        expect(description.locator("[data-testid=stAlert]")).to_have_count(0)
        caption = description.locator("[data-testid=stCaptionContainer]").inner_text()
        metrics = page.locator(".st-key-metrics")
        expect(metrics).to_contain_text("TTFT", timeout=PAGE_TIMEOUT_MS)
        ttft = re.search(r"TTFT\s*([\d,.]+)\s*ms", metrics.inner_text())
        assert ttft is not None, metrics.inner_text()
        return caption, float(ttft.group(1).replace(",", ""))


STREAMING = "() => document.querySelector('.st-key-description')?.innerText.includes('▌')"


def test_the_ollama_pod_deleted_mid_answer_shows_the_error_in_place_and_the_next_try_works(
    up: cluster.UpResult, vision_model: str, tmp_path: Path
) -> None:
    """Real Chromium takes a photo on the app pod's page and the in-cluster Ollama (not this machine's) starts to
    describe it. Nothing is lost: the words that arrived, the error under them, the model and the prompt; once the
    new Ollama pod is Ready (its models on the volume), "Describe again" describes the picture in full."""
    host = "http://snap2prod-ollama:11434"
    with _photo_on_the_kind_page(tmp_path, host) as page:
        page.wait_for_function(STREAMING, timeout=PAGE_TIMEOUT_MS, polling=20)
        (old,) = [p.metadata.name for p in _pods(up) if _component(p) == "ollama"]
        _kubectl("-n", NAMESPACE, "delete", "pod", old, "--wait=false")

        description = page.locator(".st-key-description")
        expect(description).to_contain_text("capture #1 · ", timeout=PAGE_TIMEOUT_MS)
        alerts = description.locator("[data-testid=stAlert]")
        expect(alerts).to_have_count(1)
        error = alerts.inner_text()
        assert error.startswith(f"The answer from Ollama at {host} broke off mid-way ("), error
        assert error.endswith("). Try again."), error
        words = description.locator("[data-testid=stMarkdown]").first.inner_text()
        assert words and "▌" not in words and words != "(the model returned no text)"  # what arrived stays
        expect(page.get_by_role("combobox", name="Vision model")).to_have_value(vision_model)

        wait_for("a new Ollama pod Ready", lambda: _ready_ollama(up, other_than=old), timeout_s=300)
        page.get_by_role("button", name="Describe again").click()
        expect(description).to_contain_text("capture #2 · ", timeout=PAGE_TIMEOUT_MS)
        expect(alerts).to_have_count(0)
        caption = description.locator("[data-testid=stCaptionContainer]").inner_text()
        assert caption == f"capture #2 · {vision_model} · browser camera"
        expect(page.locator(".st-key-metrics")).to_contain_text("TTFT", timeout=PAGE_TIMEOUT_MS)
        expect(page.get_by_role("combobox", name="Vision model")).to_have_value(vision_model)


def _component(pod: Any) -> str:
    return str((pod.metadata.labels or {}).get("app.kubernetes.io/component", ""))


def _ready_ollama(up: cluster.UpResult, other_than: str) -> bool:
    return any(
        _component(p) == "ollama"
        and p.metadata.name != other_than
        and p.metadata.deletion_timestamp is None
        and bool(p.status.container_statuses)
        and all(c.ready for c in p.status.container_statuses)
        for p in _pods(up)
    )


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


def _bogus_lock(lock_dir: Path, tmp_path: Path, model: str) -> Path:
    """The kind lock with ``model`` pinned to a digest no registry holds."""
    lock = read_lock(lock_dir / "models.lock")
    bogus = "sha256:" + "5" * 64
    models = tuple(
        m.model_copy(update={"digest": bogus, "mirror_digest": None}) if m.ref == model else m for m in lock.models
    )
    return write_lock(lock.model_copy(update={"models": models}), tmp_path / "bad.lock")


def _says_the_init_container_failed_for_good(error: str, model: str) -> None:
    """Promote stopped on the init container's second failure (not Helm's timeout) and quotes its log."""
    assert "init container pull-models of pod " in error, error
    assert " 2 times in a row; stopped waiting for it. Its log:" in error, error
    assert f"error: {model}: could not pull " in error, error


def test_a_digest_the_mirror_does_not_serve_fails_the_init_container_and_is_rolled_back(
    up: cluster.UpResult, ollama_host: str, text_model: str, lock_dir: Path, tmp_path: Path
) -> None:
    bad = _bogus_lock(lock_dir, tmp_path, text_model)
    before = _cluster_models(up)
    code, report = _promote(up, bad, ollama_host, tmp_path, "--from-lock", "--timeout", "600")
    assert code == 6, report
    assert report["outcome"] == "RolloutFailed"
    _says_the_init_container_failed_for_good(report["error"], text_model)
    assert report["error"].endswith(f"rolled back to revision {report['previous_revision']}."), report["error"]
    assert _cluster_models(up) == before  # the previous revision answers a real request again


def test_a_failed_first_install_is_removed(
    up: cluster.UpResult, ollama_host: str, text_model: str, lock_dir: Path, tmp_path: Path
) -> None:
    namespace = f"snap2prod-first-{uuid.uuid4().hex[:6]}"
    bad = _bogus_lock(lock_dir, tmp_path, text_model)
    # beside the module's release: no second node port, and an Ollama small enough for the node's CPU left
    beside = tmp_path / "beside.yaml"
    small = {"app": {"service": {"type": "ClusterIP"}}, "ollama": {"resources": {"requests": {"cpu": "50m"}}}}
    beside.write_text(yaml.safe_dump(small))
    code, report = _promote(up, bad, ollama_host, tmp_path, "--from-lock", "-n", namespace, "-f", str(beside))
    try:
        assert code == 6, report
        assert report["outcome"] == "RolloutFailed" and report["previous_revision"] is None
        _says_the_init_container_failed_for_good(report["error"], text_model)
        assert report["error"].endswith("it was a first install, so the release was removed."), report["error"]
        releases = subprocess.run(
            [str(toolchain.binary("helm")), "--kubeconfig", str(up.kubeconfig), "list", "-a", "-q", "-n", namespace],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert releases.strip() == ""
        assert [p.metadata.name for p in _pods(up, namespace) if p.metadata.deletion_timestamp is None] == []
    finally:
        _kubectl("delete", "namespace", namespace, "--wait=false")


def test_keynote_mode_runs_the_app_in_kind_against_this_machines_ollama(
    up: cluster.UpResult, vision_model: str, lock_dir: Path, tmp_path: Path
) -> None:
    """The keynote's setup: Ollama on the host (bound to the kind network's gateway), only the app in KIND."""
    loopback_only = ollama_server.start(tmp_path / "loopback", port=free_port(), tie_to_parent=True)
    try:  # an Ollama the node cannot reach: refused before anything changes, with the command that fixes it
        code, report = _promote(up, lock_dir / "models.lock", loopback_only, tmp_path, "-f", str(KEYNOTE))
    finally:
        ollama_server.stop(tmp_path / "loopback")
    address = local.gateway_address()
    assert code == 5, report
    assert report["error"].startswith(f"keynote mode: the KIND node reaches this machine at {address}, but no ")
    assert f"`OLLAMA_HOST={address}:" in report["error"]
    assert "ollama" in {p.metadata.labels.get("app.kubernetes.io/component") for p in _pods(up)}  # unchanged

    state = tmp_path / "keynote"
    host = ollama_server.start(state, port=free_port(), address=address, tie_to_parent=True)
    try:
        code, report = _promote(up, lock_dir / "models.lock", host, tmp_path, "-f", str(KEYNOTE))
        assert code == 0, report["error"]
        assert report["outcome"] == "promoted"
        assert report["verify"]["helm_test"] == "passed (real inference on the fixture picture)"
        assert report["verify"]["models"].startswith("keynote mode: no Ollama in the cluster")
        components = {p.metadata.labels.get("app.kubernetes.io/component") for p in _pods(up)}
        assert "ollama" not in components and "app" in components
        port = host.rsplit(":", 1)[1]
        caption, _ = _take_photo_on_the_kind_page(tmp_path, f"http://host.docker.internal:{port}")
        assert caption.startswith("capture #1 · ") and caption.endswith(" · browser camera")
        host_gateway = OllamaGateway(host)
        try:  # the description came from this machine's Ollama: it holds the model the page used
            loaded = {m.name for m in host_gateway.ps()}
        finally:
            host_gateway.close()
        assert caption.split(" · ")[1] in loaded, (caption, loaded)
    finally:
        ollama_server.stop(state)
