"""A real KIND cluster on podman, offline, and `promote --to kind` onto it, in the order an operator goes.

`kind up` builds the node image when podman lacks the current inputs' image (the cold run's proof; a warm run uses
the cached one as it is) and the node becomes Ready; a second `up` changes nothing. Then `promote --to kind` for
real: images by digest from the local registry, models pulled from its mirror by the init container, probes by a
real kubelet, verify through a port-forward, helm test inference — from nothing, again (a no-op), an upgrade adding
a model, and a digest the mirror does not serve, rolled back. Last, `kind down` leaves no container, volume or
network.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import json
import math
import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from app import describe, imaging
from app.gateway import OllamaGateway
from app.lock import Lock, pin, read_lock, write_lock
from bench import kind as kind_bench
from scripts import cli, signing, toolchain
from scripts.demo import ollama_server
from scripts.kind import bases, cluster, nodeimage, podman
from scripts.kind import registry as local
from scripts.kube import new_client
from scripts.paths import STACKS
from scripts.processes import free_port
from scripts.promote import policies, verify
from tests import colour_pictures as pictures
from tests.conftest import CONTAINERS_GROUP
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.e2e.test_page_browser import CAMERA_COLOUR, VIDEO_SHOWS_SCENE, description_text, write_y4m
from tests.kube import wait_for

pytestmark = pytest.mark.xdist_group(CONTAINERS_GROUP)  # one worker drives podman and KIND

NAME = "snap2prod"
HOME_KUBE_BEFORE = (Path.home() / ".kube").exists()


def _kubectl(*args: str) -> str:
    cmd = [*cluster.kubectl(NAME), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def _node_images() -> list[str]:
    out = podman.run(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={nodeimage.NODE_REPO}"])
    return [line for line in out.splitlines() if line.strip()]


@dataclasses.dataclass(frozen=True)
class NodeImagesBefore:
    """The node images podman held, and the time, just before this module's `kind up`."""

    refs: list[str]
    at: datetime.datetime


@pytest.fixture(scope="module")
def node_images_before() -> NodeImagesBefore:
    return NodeImagesBefore(_node_images(), datetime.datetime.now(datetime.UTC))


@pytest.fixture(scope="module")
def up(node_images_before: NodeImagesBefore) -> Iterator[cluster.UpResult]:
    """`kind up`: the node image of the current inputs (its tag is their content key) is built when podman lacks it.
    It is not removed to be rebuilt every run (about 90 s): the cold run, on an empty container storage, is the
    build's proof, and a warm run proves that a cached image of the same key is used as it is."""
    yield cluster.up(NAME)


def test_kind_up_builds_the_node_image_when_missing_and_the_node_becomes_ready(
    up: cluster.UpResult, node_images_before: NodeImagesBefore
) -> None:
    assert up.image.startswith(nodeimage.NODE_REPO)
    inspected = podman.inspect_image(up.image)
    assert inspected is not None, up.image
    created = datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", inspected["Created"]))
    if up.image in node_images_before.refs:  # cached: made by an earlier run, used as it is
        assert created < node_images_before.at, (up.image, inspected["Created"])
    else:  # missing: this `kind up` built it
        assert created >= node_images_before.at, (up.image, inspected["Created"])
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


def test_coredns_asks_the_kind_networks_dns_before_this_machines(up: cluster.UpResult) -> None:
    """The node's resolv.conf names podman's DNS (it knows the registry's containers) and this machine's resolver
    (it does not): picked at random, a container's name was "no such host" for minutes, and the Ollama pod's init
    container could not find the blob server."""
    corefile = json.loads(_kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "json"))["data"]
    assert "forward . /etc/resolv.conf {\n       policy sequential" in corefile["Corefile"]


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
KEYNOTE = STACKS / "local" / "values-keynote.yaml"
APP_NODE_PORT = 30851  # stacks/local/values.yaml: app.service.nodePort
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


def _pods(kind: cluster.UpResult) -> list[Any]:
    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    try:
        from kubernetes import client

        return list(client.CoreV1Api(api).list_namespaced_pod(NAMESPACE).items)
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
    assert report["verify"]["policies"].startswith("enforced: a pod without the app's labels was refused at ")
    pods = _served(up)
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
    assert report["verify"]["policies"] == (
        f"enforced at revision {report['revision']} (checked when it was rolled out; not re-run, nothing changed)"
    )


def _live(kind: cluster.UpResult) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """A client, the app Deployment's pod template and the Ollama pods' selector labels, as the cluster has them."""
    from kubernetes import client

    api = new_client(kind.kubeconfig, f"kind-{kind.name}")
    apps = client.AppsV1Api(api)
    app = api.sanitize_for_serialization(apps.read_namespaced_deployment("snap2prod-app", NAMESPACE))
    ollama = apps.read_namespaced_deployment("snap2prod-ollama", NAMESPACE)
    return api, app["spec"]["template"], dict(ollama.spec.selector.match_labels)


def _push_as_app(tag: str) -> str:
    """Another image (the API gate's) pushed into the local registry under the app's repository: the app's
    repository@digest of bytes we never signed as the app."""
    from scripts.kind.images import read_images

    data = read_images()
    repository = str(data["pushed"]["app"]["repository"])
    source = str(data["built"]["apiGate"]["ref"])
    with tempfile.NamedTemporaryFile(prefix="snap2prod-digest-") as digestfile:
        podman.run(
            ["push", "--quiet", "--tls-verify=false", "--digestfile", digestfile.name, source, f"{repository}:{tag}"]
        )
        digest = Path(digestfile.name).read_text().strip()
    return f"{repository}@{digest}"


def _revision(kind: cluster.UpResult) -> int:
    out = _kubectl("-n", NAMESPACE, "get", "secret", "-l", "owner=helm,name=snap2prod", "-o", "json")
    return max(int(item["metadata"]["labels"]["version"]) for item in json.loads(out)["items"])


def test_an_image_retagged_to_other_bytes_or_signed_by_another_key_is_refused_before_anything_changes(
    up: cluster.UpResult, ollama_host: str, lock_dir: Path, tmp_path: Path
) -> None:
    before = _revision(up)
    tampered = _push_as_app("tampered")
    repository, _, digest = tampered.partition("@")
    values = tmp_path / "tampered.yaml"
    values.write_text(json.dumps({"app": {"image": {"repository": repository, "tag": "tampered", "digest": digest}}}))
    code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path, "-f", str(values))
    assert (code, report["outcome"]) == (3, "ParityFailed"), report
    assert f"image app is refused, nothing was changed: {tampered}: no signatures found" in report["error"]

    theirs = signing.keygen(tmp_path / "theirs")
    signing.sign(tampered, theirs.key)
    code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path, "-f", str(values))
    assert (code, report["outcome"]) == (3, "ParityFailed"), report
    assert f"image app is refused, nothing was changed: {tampered}:" in report["error"]
    assert "signature" in report["error"].split(tampered, 1)[1]
    assert _revision(up) == before

    code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path)  # our own images: verified
    assert code == 0, report["error"]
    assert set(report["images"]) == {"app", "ollama", "apiGate"}
    assert all(how.startswith("signed by ") for how in report["images"].values()), report["images"]


def test_the_ollama_pod_reaches_the_mirror_and_no_other_server_on_the_kind_network(
    up: cluster.UpResult, tmp_path: Path
) -> None:
    """A pod with Ollama's labels (its NetworkPolicy applies) reaches the model mirror's registry and blob server,
    and is refused by a second server this test starts on the kind network; a pod no policy selects reaches that
    server, so the refusal is the policy's."""
    other = f"snap2prod-test-other-{uuid.uuid4().hex[:6]}"
    python = bases.ensure(bases.PYTHON, tmp_path / "bases.log")
    server = ["python3", "-m", "http.server", "8080"]
    podman.run(["run", "-d", "--name", other, "--network", local.NETWORK, python, *server])
    api, app, ollama_labels = _live(up)
    try:
        mirror = [
            f"{local.container_address(local.MODELS)}:5000",
            f"{local.container_address(local.BLOBS)}:{local.BLOBS_PORT}",
        ]
        elsewhere = f"{local.container_address(other)}:8080"
        stranger = {"app.kubernetes.io/name": "egress-test"}
        # a new pod's egress rules are programmed by kube-router a moment after it starts: the pods wait first
        settle = policies.SETTLE_FOR_EGRESS_S
        as_ollama, as_nobody = policies.attempt(
            api,
            NAMESPACE,
            [
                policies.probe_pod(policies.unique("egress-ollama"), ollama_labels, app, [*mirror, elsewhere], settle),
                policies.probe_pod(policies.unique("egress-nobody"), stranger, app, [elsewhere], settle),
            ],
        )
        assert [as_ollama.results[t] for t in mirror] == ["connected", "connected"], as_ollama
        assert not as_ollama.connected(elsewhere), as_ollama
        assert as_nobody.connected(elsewhere), as_nobody
    finally:
        api.close()
        podman.run(["rm", "-f", "-t", "0", other], check=False)


def test_with_ollamas_network_policy_deleted_verify_says_not_enforced(
    up: cluster.UpResult, ollama_host: str, lock_dir: Path, tmp_path: Path
) -> None:
    from kubernetes import client

    api, _, _ = _live(up)
    net = client.NetworkingV1Api(api)
    saved = api.sanitize_for_serialization(net.read_namespaced_network_policy("snap2prod-ollama", NAMESPACE))
    net.delete_namespaced_network_policy("snap2prod-ollama", NAMESPACE)
    try:
        code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path, "--retest")
        assert (code, report["outcome"]) == (7, "VerifyFailed"), report
        assert "NetworkPolicies not enforced: Ollama's NetworkPolicy snap2prod-ollama is missing" in report["error"]
    finally:
        meta = saved["metadata"]
        saved["metadata"] = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
        net.create_namespaced_network_policy(NAMESPACE, saved)
        api.close()


EXTRA = "by-hand/extra:1"


def _ollama_cli(*args: str) -> str:
    """`ollama ARGS` inside the Ollama container (it talks to Ollama on loopback, behind the gate)."""
    return _kubectl("-n", NAMESPACE, "exec", "deploy/snap2prod-ollama", "-c", "ollama", "--", "ollama", *args)


def _from_the_app_pod(method: str, path: str, body: str) -> tuple[int, str]:
    """``method path`` to the Ollama Service from inside the app pod: the status and the body."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        f"req = urllib.request.Request('http://snap2prod-ollama:11434{path}', data={body.encode()!r} or None, "
        f"method={method!r}, headers={{'Content-Type': 'application/json'}})\n"
        "try:\n    r = urllib.request.urlopen(req, timeout=150); print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode()[:300])\n"
    )
    cmd = [*cluster.kubectl(NAME), "-n", NAMESPACE, "exec", "deploy/snap2prod-app", "--", "python", "-c", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=180).stdout
    status, _, text = out.partition("\n")
    return int(status), text


def test_the_api_gate_refuses_model_changes_from_the_app_pod_while_a_describe_works(
    up: cluster.UpResult, vision_model: str
) -> None:
    """Ollama's API from the app's own pod, through the Service: what changes the models is refused by the gate
    container, a chat with a picture is answered, and the model is still there."""
    model = json.dumps({"model": vision_model})
    for method, path, body in (
        ("POST", "/api/pull", model),
        ("DELETE", "/api/delete", model),
        ("POST", "/api/create", json.dumps({"model": "made:1", "from": vision_model})),
    ):
        status, text = _from_the_app_pod(method, path, body)
        assert status == 403 and "closed by the snap2prod API gate" in text, (path, status, text)
    # the picture and prompt as the page sends them: prepared to the model's size, the page's default prompt
    prepared = imaging.prepare(pictures.jpeg(pictures.plain("green")), describe.native_size(vision_model, None))
    message = {
        "role": "user",
        "content": describe.prompt_text("Describe this picture", ""),
        "images": [base64.b64encode(prepared.jpeg).decode()],
    }
    options = describe.options(48, 0.0)
    chat = json.dumps({"model": vision_model, "messages": [message], "stream": False, "options": options})
    status, text = _from_the_app_pod("POST", "/api/chat", chat)
    assert status == 200, text
    assert pictures.names_only(json.loads(text)["message"]["content"], "green"), text
    assert vision_model in _ollama_cli("list")


def test_a_model_the_lock_does_not_name_fails_verify_with_its_name(
    up: cluster.UpResult, ollama_host: str, vision_model: str, lock_dir: Path, tmp_path: Path
) -> None:
    """A model put into the cluster's Ollama by hand (a copy of the locked one, with `ollama cp` in the Ollama
    container, as a person with kubectl could; the API gate refuses /api/copy from the Service): the next promote's
    verify names it and fails; models.allowExtras accepts it and says so."""
    _ollama_cli("cp", vision_model, EXTRA)
    try:
        code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path)
        assert (code, report["outcome"]) == (7, "VerifyFailed")
        assert f"holds model(s) the lock does not name: {EXTRA}." in report["error"]
        allow = tmp_path / "allow-extras.yaml"
        allow.write_text("models:\n  allowExtras: true\n")
        code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path, "-f", str(allow))
        assert code == 0, report["error"]
        assert report["verify"]["models"].endswith(f"not locked, allowed by models.allowExtras: {EXTRA}")
    finally:
        _ollama_cli("rm", EXTRA)
    code, report = _promote(up, lock_dir / "models.lock", ollama_host, tmp_path)
    assert code == 0, report["error"]
    # the report names the digest the cluster serves: KIND pulls from the mirror, so the lock's mirror_digest
    (served,) = report["models"]
    (locked,) = read_lock(lock_dir / "models.lock").models
    assert (served["digest"], served["matched"]) == (locked.mirror_digest, "mirror_digest")


def _page_url() -> str:
    """Where stacks/local/kind.yaml maps the app Service's NodePort on this machine."""
    for node in cluster.load_config()["nodes"]:
        for m in node.get("extraPortMappings", []):
            if m["containerPort"] == APP_NODE_PORT:
                return f"http://{m.get('listenAddress', '127.0.0.1')}:{m['hostPort']}"
    raise AssertionError(f"stacks/local/kind.yaml maps no port to the app's NodePort {APP_NODE_PORT}")


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
            page.goto(_page_url())
            expect(page.get_by_text(f"reachable at {ollama_url}")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
            page.wait_for_function(VIDEO_SHOWS_SCENE, timeout=PAGE_TIMEOUT_MS)
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
        # the right picture: the camera films a scene of CAMERA_COLOUR, and the synthetic model names colours
        assert pictures.names_only(description_text(page), CAMERA_COLOUR), description_text(page)
        return caption, float(ttft.group(1).replace(",", ""))


def test_chromium_takes_a_photo_on_the_app_pods_page_and_the_in_cluster_ollama_describes_it(
    up: cluster.UpResult, vision_model: str, tmp_path: Path
) -> None:
    # the app pod talks to the cluster's Ollama Service, not to this machine's; its sidebar offers no Pull
    with _photo_on_the_kind_page(tmp_path, "http://snap2prod-ollama:11434") as page:
        expect(page.get_by_text("Pulling is off here")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        expect(page.get_by_role("button", name="Pull")).to_have_count(0)
    caption, ttft_ms = _take_photo_on_the_kind_page(tmp_path, "http://snap2prod-ollama:11434")
    assert caption == f"capture #1 · {vision_model} · browser camera"
    assert ttft_ms > 0


STREAMING = "() => document.querySelector('.st-key-description')?.innerText.includes('▌')"


def test_the_ollama_pod_deleted_mid_answer_shows_the_error_in_place_and_the_next_try_works(
    up: cluster.UpResult, vision_model: str, tmp_path: Path
) -> None:
    """Nothing is lost: the words that arrived, the error under them, the model and the prompt; once the new
    Ollama pod is Ready (its models on the volume), "Describe again" describes the picture."""
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
        # Ready is not yet routed: the Service's rules follow the endpoint a moment later, on their own schedule
        wait_for("the app pod reaching the new Ollama through its Service", lambda: _app_reaches(host), timeout_s=60)
        page.get_by_role("button", name="Describe again").click()
        expect(description).to_contain_text("capture #2 · ", timeout=PAGE_TIMEOUT_MS)
        assert alerts.all_inner_texts() == []
        expect(page.get_by_role("combobox", name="Vision model")).to_have_value(vision_model)


def _component(pod: Any) -> str:
    return str((pod.metadata.labels or {}).get("app.kubernetes.io/component", ""))


def _app_reaches(url: str) -> bool:
    """Whether the app pod gets Ollama's version from ``url``: what the page's next request goes through."""
    fetch = f"import urllib.request; urllib.request.urlopen('{url}/api/version', timeout=2).read()"
    cmd = [*cluster.kubectl(NAME), "-n", NAMESPACE, "exec", "deploy/snap2prod-app", "--", "python", "-c", fetch]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


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
    code, report = _promote(up, bad, ollama_host, tmp_path, "--from-lock", "--timeout", "300")
    assert code == 6, report
    assert report["outcome"] == "RolloutFailed"
    assert "rolled back" in report["error"]
    # promote stops at the init container's second failure, long before Helm's 300 s, with the container's words
    assert "init container pull-models of pod snap2prod-ollama-" in report["error"], report["error"]
    assert "times in a row; promote stopped waiting for it" in report["error"]
    assert f"error: {text_model} arrived with digest " in report["error"]
    assert report["timings_s"]["rollout"] < 200, report["timings_s"]
    assert _cluster_models(up) == before  # the previous revision answers a real request again


def test_p6_measures_promotion_and_the_page_on_this_cluster(
    up: cluster.UpResult, ollama_host: str, text_model: str, lock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make bench`'s P6 cannot rot: its promotions and page TTFT run once, here, on this module's cluster (the
    cluster pairs it adds are `make bench`'s alone: `kind up` is proven above). The release promoted above stands
    in for P6's first promotion (promotion from nothing is proven above too) and is uninstalled by it."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_host)  # the suite's own Ollama, with the models already there
    result = kind_bench.run_on(up, serving=(NAMESPACE, lock_dir / "models.lock"))
    assert result.id == "P6" and result.figures["runs"] == 1 and not result.met
    for name in (
        "promote cold s",
        "raw helm --wait s",
        "promote no-op s",
        "page TTFT ms",
        "promote cold without checks s",
        "cold signatures s",
    ):
        value = result.figures[name]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (name, value)
    assert "kind up cold s" not in result.figures and result.summary.startswith("kind up not measured")
    assert "first promote s" not in result.figures and "a release that served already stood in" in result.notes
    assert not _served(up)


def _served(kind: cluster.UpResult) -> list[Any]:
    """The release's app and Ollama pods in the test namespace."""
    return [p for p in _pods(kind) if p.metadata.labels.get("app.kubernetes.io/component") in ("app", "ollama")]


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
    assert not _served(up)  # nothing was installed (P6 above left the namespace without a release)

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


def test_kind_down_leaves_no_container_volume_or_network(up: cluster.UpResult) -> None:
    assert cli.main(["kind", "down"]) == 0
    containers = podman.run(["ps", "-a", "--format", "{{.Names}}"]).split()
    assert not [c for c in containers if c.startswith(NAME) or c in local.CONTAINERS]
    volumes = podman.run(["volume", "ls", "--format", "{{.Name}}"]).split()
    assert local.VOLUME not in volumes and f"{NAME}-control-plane" not in volumes
    assert not podman.exists("network", local.NETWORK)
    assert not cluster.kubeconfig_path(NAME).exists()
    assert NAME not in cluster.clusters()
